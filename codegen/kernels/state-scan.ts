// The scan over chunks for variants without a delta correction: elementwise over the K x V
// state, one thread per element, S_{n+1} = 2^{G_last,n} * S_n + dS_n. hs[n] holds dS_n on
// entry (chunk-state.ts) and S_n on exit, which is what the output stage reads.
// The backward runs the same scan in reverse over the state gradients (bwdStateScan, bwd-dh.ts),
// so the walk takes its buffers and direction as arguments.
import { KernelSource } from './common.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';

export interface Scan {
  /** Per-chunk buffer: contributions in, carried values out. */
  readonly chunks: string;
  /** The first carried value (and the Params flag saying it was given), and where the last goes. */
  readonly init: string;
  readonly initGiven: string;
  readonly final: string;
  readonly reverse: boolean;
}

export function emitStateScan(ks: KernelSource): Wgsl {
  return emitScan(ks, {
    chunks: ks.use('hs', 'read_write'), init: ks.use('h0', 'read'), initGiven: 'P.has_h0', final: ks.use('ht', 'read_write'), reverse: false,
  });
}

export function emitScan(ks: KernelSource, sc: Scan): Wgsl {
  const gcs = ks.decayed ? ks.gcsFn() : null;
  // The chunk's decay, null without one (times() then leaves the factor out).
  const decayOf = (n: string): Wgsl | null => (gcs ? wgsl`exp2(${gcs('b', 'h', ks.chunkLastToken(n), 'd')})` : null);
  // Step m of the walk visits chunk `at(m)`: forward n = m, reverse from the sequence's last chunk.
  const at = (m: string): Wgsl => (sc.reverse ? wgsl`(nBegin + nEnd - 1u - (${m}))` : wgsl`(${m})`);
  // The span comes after the thread's bounds check, so this is no sequenceStage opening.
  return wgsl`
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (e >= KD * VD) { return; }
  ${ks.sequenceSpan()}
  let d = e / VD;
  let c = e % VD;
  var s = 0.0;
  if (${sc.initGiven} != 0u) { s = ${sc.init}[${ks.stateIndex('sq', 'h', 'd', 'c')}]; }
  // Four chunks per step, loads first, so four memory latencies overlap instead of adding up.
  var m = nBegin;
  for (; m + 4u <= nEnd; m += 4u) {
    var ds: array<f32, 4>;
    ${gcs ? 'var ad: array<f32, 4>;' : ''}
    for (var r = 0u; r < 4u; r++) {
      let n = ${at('m + r')};
      ds[r] = ${sc.chunks}[((bh * P.NT + n) * KD + d) * VD + c];
      ${gcs ? wgsl`ad[r] = ${decayOf('n')!};` : ''}
    }
    for (var r = 0u; r < 4u; r++) {
      ${sc.chunks}[((bh * P.NT + ${at('m + r')}) * KD + d) * VD + c] = s;
      s = ${gcs ? 'ad[r] * s' : 's'} + ds[r];
    }
  }
  for (; m < nEnd; m++) {
    let n = ${at('m')};
    let idx = ((bh * P.NT + n) * KD + d) * VD + c;
    let ds = ${sc.chunks}[idx];
    ${sc.chunks}[idx] = s;
    s = ${times(decayOf('n'), 's')} + ds;
  }
  ${sc.final}[${ks.stateIndex('sq', 'h', 'd', 'c')}] = s;
}`;
}
