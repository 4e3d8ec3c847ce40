// The backward's only sequential stage: per (b*h, V-tile), walk the chunks in reverse carrying
// dS, the gradient of the state at the end of the current chunk (seeded by dht):
//   store dS as dS'_n                                   (for bwdDqk)
//   du_j = dvl_j + (k_j * 2^(G_last - G_j)) . dS          (stored: dv, or the delta rule's dU)
//   dS  <- 2^G_last * dS + scale sum_i (q_i * 2^Gq_i) do_i^T  [ - W^T du  for the delta rule ]
// and after chunk 0, dh0 = dS. The tile of dS lives in workgroup memory; each thread owns the
// elements lid, lid + WG, ... of it.
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';

export function emitBwdScan(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok, bth, st } = hp;
  const g = hp.g(); const gq = hp.gq();
  const q = ks.role('q'); const k = ks.role('k');
  const dO = ks.use('do', 'read');
  const dvl = ks.use('dvl', 'read');
  const dhs = ks.use('dhs', 'read_write');
  // The delta rule keeps du as dU for the WY backward; otherwise du is the v role's gradient.
  const duStore = ks.delta
    ? (t: string, c: string) => `${ks.use('dvv', 'read_write')}[${tok()}(bh, ${t}, ${c}, VD)]`
    : (t: string, c: string) => `${ks.use('grad_v', 'read_write')}[${bth()}(b, ${t}, h, ${c}, VD)]`;
  const dht = ks.use('dht', 'read');
  const dh0 = ks.use('dh0', 'read_write');
  const w = ks.delta ? ks.use('w', 'read') : '';
  return `
const BV: u32 = ${ks.tiles.scanBV}u;
const PER: u32 = (KP * BV + WG - 1u) / WG;
var<workgroup> sD: array<f32, KP * BV>;
var<workgroup> sDu: array<f32, C * BV>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let vt = wid.x;
  let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  var ds: array<f32, PER>;
  for (var p = 0u; p < PER; p++) {
    let e = lid + p * WG;
    let d = e / BV;
    let cg = vt * BV + e % BV;
    var x = 0.0;
    if (P.has_dht != 0u && d < KD && cg < VD) { x = ${dht}[${ks.stateIndex('b', 'h', 'd', 'cg')}]; }
    ds[p] = x;
  }
  for (var nn = 0u; nn < P.NT; nn++) {
    let n = P.NT - 1u - nn;
    let t0 = n * C;
    let rows = min(C, P.T - t0);
    let tl = t0 + rows - 1u;
    for (var p = 0u; p < PER; p++) {
      let e = lid + p * WG;
      let d = e / BV;
      let cg = vt * BV + e % BV;
      if (e < KP * BV) { sD[e] = ds[p]; }
      if (d < KD && cg < VD) { ${dhs}[${st()}(bh, n, d, cg)] = ds[p]; }
    }
    workgroupBarrier();
    for (var e = lid; e < C * BV; e += WG) {
      let j = e / BV;
      let cg = vt * BV + e % BV;
      var du = 0.0;
      if (j < rows && cg < VD) {
        let t = t0 + j;
        du = ${dvl}[${tok()}(bh, t, cg, VD)];
        for (var d = 0u; d < KD; d++) {
          du += ${k}(b, t, h, d) * exp2(${g}(b, h, tl, d) - ${g}(b, h, t, d)) * sD[d * BV + e % BV];
        }
        ${duStore('t', 'cg')} = du;
      }
      sDu[e] = du;
    }
    workgroupBarrier();
    for (var p = 0u; p < PER; p++) {
      let e = lid + p * WG;
      let d = e / BV;
      let cl = e % BV;
      let cg = vt * BV + cl;
      if (d < KD && cg < VD) {
        var acc = exp2(${g}(b, h, tl, d)) * ds[p];
        for (var i = 0u; i < rows; i++) {
          let t = t0 + i;
          acc += P.scale * ${q}(b, t, h, d) * exp2(${gq}(b, h, t, t0, d)) * ${dO}[${bth()}(b, t, h, cg, VD)];${ks.delta ? `
          acc -= ${w}[${tok()}(bh, t, d, KD)] * sDu[i * BV + cl];` : ''}
        }
        ds[p] = acc;
      }
    }
    workgroupBarrier();
  }
  for (var p = 0u; p < PER; p++) {
    let e = lid + p * WG;
    let d = e / BV;
    let cg = vt * BV + e % BV;
    if (d < KD && cg < VD) { ${dh0}[${ks.stateIndex('b', 'h', 'd', 'cg')}] = ds[p]; }
  }
}`;
}
