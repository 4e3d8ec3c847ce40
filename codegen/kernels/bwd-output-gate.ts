// The output gate's backward, first in the backward plan: with o = pre * gate,
//   d gate = do * pre      (pre: the forward's output before the gate, kept as opre)
//   d pre  = do * gate     (dog: what every later backward stage reads as its do)
import type { KernelSource } from './common.js';
import type { StageShapeRule } from '../plan.js';
import { wgsl, type Wgsl } from '../wgsl.js';

/** One thread per column of a token's row. */
export const outputGateBwdShape: StageShapeRule = (_d, cfg) => ({ wg: 64, grid: [[Math.ceil(cfg.V / 64)], ['T'], ['BH']] });

export function emitGateBwd(ks: KernelSource): Wgsl {
  const gate = ks.roleFn('outputGate');
  const dO = ks.use('do', 'read');
  const opre = ks.use('opre', 'read');
  const dog = ks.use('dog', 'read_write');
  const grad = ks.use('grad_outputGate', 'read_write');
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * WG + lid;
  if (c >= VD) { return; }
  let t = wid.y;
  let b = wid.z / P.H;
  let h = wid.z % P.H;
  let at = ((b * P.T + t) * P.H + h) * VD + c;
  let d = ${dO}[at];
  ${grad}[at] = d * ${opre}[at];
  ${dog}[at] = d * ${gate('b', 't', 'h', 'c')};
}`;
}
