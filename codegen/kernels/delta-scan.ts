// Stage 2 of the delta rule, the only sequential kernel: per (b*h, V-tile) walk the chunks in order with the state
// tile S [K x BV] in workgroup memory. Store S_n for the output stage, form the chunk's values
// (V, or V_new = U - W S_n for the delta rule), then
//   S_{n+1} = 2^{G_last} * S_n + (K * 2^{G_last - G})^T V
// with every exponent <= 0.
import { KernelSource } from './common.js';

export const SCAN_ROW_BLOCK = 8;

export function emitDeltaScan(ks: KernelSource): string {
  const { tiles } = ks;
  const hs = ks.use('hs', 'read_write');
  const h0 = ks.use('h0', 'read');
  const ht = ks.use('ht', 'read_write');
  const kRole = ks.role('k');
  const values = ks.delta
    ? (() => {
      const u = ks.use('u', 'read'); const w = ks.use('w', 'read'); const vn = ks.use('vnew', 'read_write');
      return `var a = ${u}[(bh * P.T + t) * VD + cg];
        for (var d = 0u; d < KD; d++) { a -= ${w}[(bh * P.T + t) * KD + d] * sS[d * BV + c]; }
        ${vn}[(bh * P.T + t) * VD + cg] = a;
        x = a;`;
    })()
    : `x = ${ks.role('v')}(b, t, h, cg);`;
  const gl = ks.diag ? 'sGl[d]' : 'sGl[0]';
  const gcs = ks.decayed ? ks.gcs() : '';
  return `
const BV: u32 = ${tiles.scanBV}u;
const NS: u32 = KP * BV / WG;
const RB: u32 = ${SCAN_ROW_BLOCK}u;
var<workgroup> sS: array<f32, KP * BV>;
var<workgroup> sVn: array<f32, C * BV>;
var<workgroup> sKb: array<f32, RB * KP>;
${ks.decayed ? 'var<workgroup> sGl: array<f32, DG>;' : ''}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  for (var r = 0u; r < NS; r++) {
    let e = lid + r * WG;
    let d = e / BV;
    let cg = vt * BV + e % BV;
    var s = 0.0;
    if (P.has_h0 != 0u && d < KD && cg < VD) { s = ${h0}[${ks.stateIndex('b', 'h', 'd', 'cg')}]; }
    sS[e] = s;
  }
  workgroupBarrier();
  for (var n = 0u; n < P.NT; n++) {
    let t0 = n * C;
    let rows = min(C, P.T - t0);
    for (var r = 0u; r < NS; r++) {
      let e = lid + r * WG;
      let d = e / BV;
      let cg = vt * BV + e % BV;
      if (d < KD && cg < VD) { ${hs}[((bh * P.NT + n) * KD + d) * VD + cg] = sS[e]; }
    }
    for (var e = lid; e < C * BV; e += WG) {
      let i = e / BV;
      let c = e % BV;
      let cg = vt * BV + c;
      var x = 0.0;
      if (i < rows && cg < VD) {
        let t = t0 + i;
        ${values}
      }
      sVn[e] = x;
    }
    ${ks.decayed ? `for (var d = lid; d < DG; d += WG) { sGl[d] = ${gcs}(b, h, t0 + rows - 1u, d); }` : ''}
    workgroupBarrier();
    var acc: array<f32, NS>;
    for (var r = 0u; r < NS; r++) {
      let e = lid + r * WG;
      let d = min(e / BV, KD - 1u);
      acc[r] = sS[e]${ks.decayed ? ` * exp2(${gl})` : ''};
    }
    for (var i0 = 0u; i0 < rows; i0 += RB) {
      for (var e = lid; e < RB * KP; e += WG) {
        let i = i0 + e / KP;
        let d = e % KP;
        var x = 0.0;
        if (i < rows && d < KD) {
          let t = t0 + i;
          x = ${kRole}(b, t, h, d)${ks.decayed ? ` * exp2(${gl} - ${gcs}(b, h, t, d))` : ''};
        }
        sKb[e] = x;
      }
      workgroupBarrier();
      for (var r = 0u; r < NS; r++) {
        let e = lid + r * WG;
        let d = e / BV;
        let c = e % BV;
        for (var ii = 0u; ii < RB; ii++) { acc[r] += sKb[ii * KP + d] * sVn[(i0 + ii) * BV + c]; }
      }
      workgroupBarrier();
    }
    for (var r = 0u; r < NS; r++) { sS[lid + r * WG] = acc[r]; }
    workgroupBarrier();
  }
  for (var r = 0u; r < NS; r++) {
    let e = lid + r * WG;
    let d = e / BV;
    let cg = vt * BV + e % BV;
    if (d < KD && cg < VD) { ${ht}[${ks.stateIndex('b', 'h', 'd', 'cg')}] = sS[e]; }
  }
}`;
}
