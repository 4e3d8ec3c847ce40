// The scan over chunks for variants without a delta correction: elementwise over the K x V
// state, one thread per element, S_{n+1} = 2^{G_last,n} * S_n + dS_n. hs[n] holds dS_n on
// entry (chunk-state.ts) and S_n on exit, which is what the output stage reads.
import { KernelSource } from './common.js';

export function emitStateScan(ks: KernelSource): string {
  const hs = ks.use('hs', 'read_write');
  const h0 = ks.use('h0', 'read');
  const ht = ks.use('ht', 'read_write');
  const gcs = ks.decayed ? ks.gcs() : '';
  const decayOf = (n: string) => (ks.decayed ? `exp2(${gcs}(b, h, ${ks.chunkLastToken(n)}, d))` : '1.0');
  return `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (e >= KD * VD) { return; }
  ${ks.sequenceSpan()}
  let d = e / VD;
  let c = e % VD;
  var s = 0.0;
  if (P.has_h0 != 0u) { s = ${h0}[${ks.stateIndex('sq', 'h', 'd', 'c')}]; }
  // Four chunks per step, loads first, so four memory latencies overlap instead of adding up.
  var n = nBegin;
  for (; n + 4u <= nEnd; n += 4u) {
    var ds: array<f32, 4>;
    var ad: array<f32, 4>;
    for (var r = 0u; r < 4u; r++) {
      ds[r] = ${hs}[((bh * P.NT + n + r) * KD + d) * VD + c];
      ad[r] = ${decayOf('n + r')};
    }
    for (var r = 0u; r < 4u; r++) {
      ${hs}[((bh * P.NT + n + r) * KD + d) * VD + c] = s;
      s = ad[r] * s + ds[r];
    }
  }
  for (; n < nEnd; n++) {
    let idx = ((bh * P.NT + n) * KD + d) * VD + c;
    let ds = ${hs}[idx];
    ${hs}[idx] = s;
    s = ${decayOf('n')} * s + ds;
  }
  ${ht}[${ks.stateIndex('sq', 'h', 'd', 'c')}] = s;
}`;
}
