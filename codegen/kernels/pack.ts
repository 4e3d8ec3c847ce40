// Packs the f32 output o into 16-bit storage (bf16 or f16), two values per u32 word, row by row:
// each (b, t, h) row of V values becomes ceil(V/2) words. Rounding is to nearest even.
import type { KernelSource } from './common.js';
import { rawWgsl, wgsl, type Wgsl } from '../wgsl.js';

export function emitPackOut(ks: KernelSource): Wgsl {
  const dtype = ks.cfg.outputDtype;
  if (!dtype) throw new Error('internal: packOut without an output dtype');
  const o = ks.use('o', 'read');
  const packed = ks.use('o_packed', 'read_write', false, 'u32');
  const half = rawWgsl(dtype === 'bf16'
    ? `fn to_half(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0u) { return 0x7fc0u; }
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}`
    : 'fn to_half(x: f32) -> u32 { return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu; }');
  return wgsl`
const VW: u32 = (VD + 1u) / 2u;
${half}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x * WG + lid;
  if (w >= VW) { return; }
  // wid.z runs over b * H + h; rows of o are (b, t, h).
  let b = wid.z / P.H;
  let h = wid.z % P.H;
  let r = (b * P.T + wid.y) * P.H + h;
  let c0 = 2u * w;
  let lo = to_half(${o}[r * VD + c0]);
  var hi = 0u;
  if (c0 + 1u < VD) { hi = to_half(${o}[r * VD + c0 + 1u]); }
  ${packed}[r * VW + w] = lo | (hi << 16u);
}`;
}
