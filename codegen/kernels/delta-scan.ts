// Stage 2 of the delta rule, the only sequential kernel: per (b*h, V-tile) walk the chunks in
// order. The state tile S [K x BV] lives in registers (each thread an RM x RN tile: keys
// ty + TY*a, columns tx + TX*b) with a copy in workgroup memory for the matmul that needs all
// of it. Per chunk: store S_n (for the output stage), V_new = U - W S_n (stored for the output
// stage), then S_{n+1} = 2^{G_last} * S_n + (K * 2^{G_last - G})^T V_new, every exponent <= 0.
import { KernelSource } from './common.js';
import { TILE_GRID, emitTileMac } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { rawWgsl, times, wgsl, type Wgsl } from '../wgsl.js';

export function emitDeltaScan(ks: KernelSource): Wgsl {
  const { tiles } = ks;
  const hs = ks.use('hs', 'read_write');
  const h0 = ks.use('h0', 'read');
  const ht = ks.use('ht', 'read_write');
  const u = ks.use('u', 'read');
  const w = ks.use('w', 'read');
  const vn = ks.use('vnew', 'read_write');
  const k = ks.roleFn('k');
  const gcs = ks.decayed ? ks.gcsFn() : null;
  const gl = (d: string): Wgsl => (ks.diag ? wgsl`sGl[${d}]` : rawWgsl('sGl[0]'));
  // The opening takes the V-tile before the sequence's span, so it is no sequenceStage.
  return wgsl`
${TILE_GRID}
const BV: u32 = ${tiles.scanBV}u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const VM: u32 = C / TY;
const SK: u32 = ${tiles.scanSlab}u;
const RB: u32 = ${tiles.scanRows}u;
var<workgroup> sS: array<f32, KP * BV>;
var<workgroup> sVn: array<f32, C * BV>;
var<workgroup> sW: array<f32, SK * C>;
var<workgroup> sKb: array<f32, RB * KP>;
${ks.decayed ? 'var<workgroup> sGl: array<f32, DG>;' : ''}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  ${ks.sequenceSpan()}
  let tx = lid % TX;
  let ty = lid / TX;
  var st: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cl = tx + TX * c;
      let cg = vt * BV + cl;
      var s = 0.0;
      if (P.has_h0 != 0u && d < KD && cg < VD) { s = ${h0}[${ks.stateIndex('sq', 'h', 'd', 'cg')}]; }
      st[a][c] = s;
      sS[d * BV + cl] = s;
    }
  }
  for (var n = nBegin; n < nEnd; n++) {
    ${ks.chunkSpan()}
    for (var a = 0u; a < RM; a++) {
      let d = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cg = vt * BV + tx + TX * c;
        if (d < KD && cg < VD) { ${hs}[((bh * P.NT + n) * KD + d) * VD + cg] = st[a][c]; }
      }
    }
    ${gcs ? wgsl`for (var d = lid; d < DG; d += WG) { sGl[d] = ${gcs('b', 'h', 't0 + rows - 1u', 'd')}; }` : ''}
    workgroupBarrier();
    // V_new = U - W S_n: rows ty + TY*a, columns tx + TX*c; W streamed in K-slabs.
    var wsn: array<array<f32, RN>, VM>;
    for (var a = 0u; a < VM; a++) { for (var c = 0u; c < RN; c++) { wsn[a][c] = 0.0; } }
    for (var d0 = 0u; d0 < KD; d0 += SK) {
      ${emitStagedLoad({
    count: 'C * SK',
    index: 'let t = min(t0 + e / SK, P.T - 1u); let d = min(d0 + e % SK, KD - 1u);',
    loads: [{ name: 'w', expr: wgsl`${w}[(bh * P.T + t) * KD + d]` }],
    storeIndex: 'let i = e / SK;',
    valid: 'i < rows && d0 + e % SK < KD',
    store: (v) => wgsl`sW[(e % SK) * C + i] = ${v('w')};`,
  })}
      workgroupBarrier();
      ${emitTileMac({
    acc: 'wsn', step: 'dd', steps: 'SK', rows: 'VM', cols: 'RN', stepSetup: 'let srow = min(d0 + dd, KP - 1u) * BV;',
    left: 'sW[dd * C + ty + TY * a]', right: 'sS[srow + tx + TX * c]',
  })}
      workgroupBarrier();
    }
    for (var a = 0u; a < VM; a++) {
      let i = ty + TY * a;
      for (var c = 0u; c < RN; c++) {
        let cl = tx + TX * c;
        let cg = vt * BV + cl;
        var x = 0.0;
        if (i < rows && cg < VD) {
          let t = t0 + i;
          x = ${u}[(bh * P.T + t) * VD + cg] - wsn[a][c];
          ${vn}[(bh * P.T + t) * VD + cg] = x;
        }
        sVn[i * BV + cl] = x;
      }
    }
    for (var a = 0u; a < RM; a++) {
      let d = min(ty + TY * a, KD - 1u);
      ${ks.decayed ? wgsl`let decay = exp2(${gl('d')});
      for (var c = 0u; c < RN; c++) { st[a][c] *= decay; }` : ''}
    }
    workgroupBarrier();
    for (var i0 = 0u; i0 < rows; i0 += RB) {
      ${emitStagedLoad({
    count: 'RB * KP',
    index: 'let t = min(t0 + i0 + e / KP, P.T - 1u); let d = min(e % KP, KD - 1u);',
    loads: [{ name: 'k', expr: times(k('b', 't', 'h', 'd'), gcs ? wgsl`exp2(${gl('d')} - ${gcs('b', 'h', 't', 'd')})` : null) }],
    storeIndex: '',
    valid: 'i0 + e / KP < rows && e % KP < KD',
    store: (v) => wgsl`sKb[e] = ${v('k')};`,
  })}
      workgroupBarrier();
      ${emitTileMac({
    acc: 'st', step: 'ii', steps: 'RB', rows: 'RM', cols: 'RN',
    left: 'sKb[ii * KP + ty + TY * a]', right: 'sVn[(i0 + ii) * BV + tx + TX * c]',
  })}
      workgroupBarrier();
    }
    for (var a = 0u; a < RM; a++) {
      for (var c = 0u; c < RN; c++) { sS[(ty + TY * a) * BV + tx + TX * c] = st[a][c]; }
    }
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let d = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = vt * BV + tx + TX * c;
      if (d < KD && cg < VD) { ${ht}[${ks.stateIndex('sq', 'h', 'd', 'cg')}] = st[a][c]; }
    }
  }
}`;
}
