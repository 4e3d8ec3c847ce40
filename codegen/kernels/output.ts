// Stage 3, parallel over (V-tile, chunk, b*h):
//   O = scale * (Q * 2^{Gq}) S_n + A_qk V   (+ the spec's outputAdd)
// with A_qk from emitScores (the mask and scale folded in) and V the chunk's values
// (V_new from the scan for the delta rule).
import { KernelSource } from './common.js';
import { emitScores } from './scores.js';

export function emitOutput(ks: KernelSource): string {
  const { tiles } = ks;
  const scores = emitScores(ks, { left: 'q', strict: false, post: 'P.scale' });
  const qRole = ks.role('q');
  const hs = ks.use('hs', 'read');
  const o = ks.use('o', 'read_write');
  const value = ks.delta ? `${ks.use('vnew', 'read')}[(bh * P.T + t0 + j) * VD + cg]` : `${ks.role('v')}(b, t0 + j, h, cg)`;
  const qDecay = ks.decayed ? ` * exp2(${ks.gq()}(b, h, t, t0, d))` : '';
  const add = ks.def.roles.outputAdd ? ` + ${ks.role('outputAdd')}(b, t, h, cg)` : '';
  return `
${scores}
const BV: u32 = ${tiles.outBV}u;
const NO: u32 = C * BV / WG;
const RSTEP: u32 = WG / BV;
const SJ: u32 = ${Math.min(16, ks.cfg.chunk)}u;
var<workgroup> sS: array<f32, SK * BV>;
var<workgroup> sV: array<f32, SJ * BV>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  let t0 = n * C;
  let rows = min(C, P.T - t0);
  scores(b, h, t0, rows, lid);
  let c = lid % BV;
  let i0 = lid / BV;
  var acc: array<f32, NO>;
  for (var r = 0u; r < NO; r++) { acc[r] = 0.0; }
  for (var d0 = 0u; d0 < KD; d0 += SK) {
    for (var e = lid; e < C * SK; e += WG) {
      let i = e / SK;
      let d = d0 + e % SK;
      var x = 0.0;
      if (i < rows && d < KD) { let t = t0 + i; x = ${qRole}(b, t, h, d)${qDecay}; }
      sL[e] = x;
    }
    for (var e = lid; e < SK * BV; e += WG) {
      let d = d0 + e / BV;
      let cg = vt * BV + e % BV;
      var x = 0.0;
      if (d < KD && cg < VD) { x = ${hs}[((bh * P.NT + n) * KD + d) * VD + cg]; }
      sS[e] = x;
    }
    workgroupBarrier();
    for (var r = 0u; r < NO; r++) {
      let i = i0 + r * RSTEP;
      for (var dd = 0u; dd < SK; dd++) { acc[r] += sL[i * SK + dd] * sS[dd * BV + c]; }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < NO; r++) { acc[r] *= P.scale; }
  for (var j0 = 0u; j0 < rows; j0 += SJ) {
    for (var e = lid; e < SJ * BV; e += WG) {
      let j = j0 + e / BV;
      let cg = vt * BV + e % BV;
      var x = 0.0;
      if (j < rows && cg < VD) { x = ${value}; }
      sV[e] = x;
    }
    workgroupBarrier();
    for (var r = 0u; r < NO; r++) {
      let i = i0 + r * RSTEP;
      for (var jj = 0u; jj < SJ; jj++) { acc[r] += sA[i * C + j0 + jj] * sV[jj * BV + c]; }
    }
    workgroupBarrier();
  }
  let cg = vt * BV + c;
  for (var r = 0u; r < NO; r++) {
    let i = i0 + r * RSTEP;
    if (i < rows && cg < VD) {
      let t = t0 + i;
      ${o}[((b * P.T + t) * P.H + h) * VD + cg] = acc[r]${add};
    }
  }
}`;
}
