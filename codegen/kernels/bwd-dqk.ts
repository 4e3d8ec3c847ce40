// bwdDqk, register-tiled: per (K-tile, chunk, b*h) the chunk's dA (C x C), and q, k and the
// gate cumsum of the K-tile's columns are staged in workgroup memory once; each thread then owns
// RM rows x RN columns of dq and dk:
//   dq_i = scale (sum_{r<=i} dA[i,r] k_r F(i,r) + 2^Gq_i (S_n do_i))
//   dk_i = scale  sum_{r>=i} dA[r,i] q_r F(r,i) + 2^(G_last - G_i) (dS'_n u_i)
// with F(a,b) = 2^(Gq_a - G_b) per key column (every exponent <= 0 for b <= a, so it is taken
// per term, never factored), 1 on the diagonal (u for the bonus form). The state terms (dqi,
// dki) come from bwdInter; the per-token gate terms and rowsum(dS'_n * S_{n+1}) at the chunk's
// last token are left for bwdGate, and the bonus form's du here. One thread per output reading
// every operand from global memory took 1.5-2.1 ms at (1,32,4096,128) on the H100.
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';
import { TILE_GRID } from './tiles.js';

/** K columns per workgroup: 32 where the 48 KiB tier fits the staged q, k and gates, else 16. */
export function dqkTileK(KP: number, wgMemory: number | undefined): number {
  return Math.min(KP, (wgMemory ?? 32768) >= 49152 ? 32 : 16);
}

export function emitBwdDqkTiled(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { cc, tok, bth, st } = hp;
  const g = hp.g(); const gq = hp.gq();
  const q = ks.role('q'); const k = ks.role('k');
  const daqk = ks.use('daqk', 'read');
  const gradQ = ks.use('grad_q', 'read_write');
  const gradK = ks.use('grad_k', 'read_write');
  const BK = dqkTileK(ks.tiles.KP, ks.cfg.wgMemory);
  // Gate columns staged: one per key column for per-key gates, one for a scalar gate.
  const gcol = ks.diag ? 'xl' : '0u';
  // The query-side gate of chunk row r from the staged inclusive one (exclusive for the bonus form).
  const gqRow = (r: string) => (ks.bonus ? `select(sG[(max(${r}, 1u) - 1u) * GB + ${gcol}], 0.0, ${r} == 0u)` : `sG[${r} * GB + ${gcol}]`);
  const factor = (a: string, b: string) => (ks.decayed ? ` * exp2(${gqRow(a)} - sG[${b} * GB + ${gcol}])` : '');
  const diagF = ks.bonus ? 'uu[c]' : '1.0';
  const rowsum = ks.decayed ? `
  // rowsum(dS'_n * S_{n+1}) of this tile's key rows of the state, spread over the workgroup.
  {
    let xl = lid % BK;
    let x = min(kt * BK + xl, KD - 1u);
    var part = 0.0;
    for (var c = lid / BK; c < VD; c += WG / BK) {
      let nxt = select(${ks.use('ht', 'read')}[${ks.stateIndex(ks.chunkSeq('n'), 'h', 'x', 'c')}], ${ks.use('hs', 'read')}[${st()}(bh, min(n + 1u, P.NT - 1u), x, c)], ${ks.chunkHasNext('n')});
      part += ${ks.use('dhs', 'read')}[${st()}(bh, n, x, c)] * nxt;
    }
    sRs[lid] = part;
  }` : '';
  return `
${TILE_GRID}
const BK: u32 = ${BK}u;
const RM: u32 = C / TY;
const RN: u32 = BK / TX;
const GB: u32 = ${ks.diag ? 'BK' : '1u'};
// dA padded by one column: the two rows a warp reads at once fall in different banks.
const CS: u32 = C + 1u;
var<workgroup> sDA: array<f32, C * CS>;
var<workgroup> sQ: array<f32, C * BK>;
var<workgroup> sK: array<f32, C * BK>;
${ks.decayed ? `var<workgroup> sG: array<f32, C * GB>;
var<workgroup> sRs: array<f32, WG>;` : ''}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wid.x;
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  ${ks.chunkSpan()}
  let tx = lid % TX;
  let ty = lid / TX;
  for (var e = lid; e < C * C; e += WG) {
    let i = e / C;
    let j = e % C;
    sDA[i * CS + j] = select(0.0, ${daqk}[${cc()}(bh, n, i, j)], i < rows && j < rows);
  }
  for (var e = lid; e < C * BK; e += WG) {
    let t = t0 + min(e / BK, rows - 1u);
    let x = min(kt * BK + e % BK, KD - 1u);
    sQ[e] = ${q}(b, t, h, x);
    sK[e] = ${k}(b, t, h, x);
  }
  ${ks.decayed ? `for (var e = lid; e < C * GB; e += WG) {
    sG[e] = ${g}(b, h, t0 + min(e / GB, rows - 1u), min(kt * BK + e % GB, KD - 1u));
  }` : ''}
  ${rowsum}
  workgroupBarrier();
  var dqa: array<array<f32, RN>, RM>;
  var dka: array<array<f32, RN>, RM>;
  var uu: array<f32, RN>;
  for (var c = 0u; c < RN; c++) {
    ${ks.bonus ? `uu[c] = ${ks.role('u')}(0u, 0u, h, min(kt * BK + tx + TX * c, KD - 1u));` : 'uu[c] = 1.0;'}
  }
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    let live = i < rows;
    for (var c = 0u; c < RN; c++) {
      let xl = tx + TX * c;
      // The diagonal term, then the strictly lower (dq) and upper (dk) triangles.
      let dd = sDA[i * CS + i] * ${diagF};
      var sq = dd * sK[i * BK + xl];
      var sk = dd * sQ[i * BK + xl];
      for (var r = 0u; r < select(0u, i, live); r++) {
        sq += sDA[i * CS + r] * sK[r * BK + xl]${factor('i', 'r')};
      }
      for (var r = i + 1u; r < rows; r++) {
        sk += sDA[r * CS + i] * sQ[r * BK + xl]${factor('r', 'i')};
      }
      dqa[a][c] = sq;
      dka[a][c] = sk;
    }
  }
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    if (i >= rows) { continue; }
    let t = t0 + i;
    let last = i + 1u == rows;
    for (var c = 0u; c < RN; c++) {
      let xl = tx + TX * c;
      let x = kt * BK + xl;
      if (x >= KD) { continue; }
      let scale = P.scale;
      let qi = sQ[i * BK + xl];
      let ki = sK[i * BK + xl];
      let at = ${tok()}(bh, t, x, KD);
      let dq = scale * dqa[a][c] + scale * exp2(${gq}(b, h, t, t0, x)) * ${ks.use('dqi', 'read')}[at];
      let dk = scale * dka[a][c] + exp2(${g}(b, h, t0 + rows - 1u, x) - ${g}(b, h, t, x)) * ${ks.use('dki', 'read')}[at];
      ${gradQ}[${bth()}(b, t, h, x, KD)] = dq;
      ${gradK}[${bth()}(b, t, h, x, KD)] = dk;${ks.bonus ? `
      ${ks.use('grad_u', 'read_write')}[${bth()}(b, t, h, x, KD)] = scale * sDA[i * CS + i] * qi * ki;` : ''}${ks.decayed ? `
      // The bonus diagonal carries no decay, so it stays out of the gate gradient.
      let bonusQ = ${ks.bonus ? 'scale * sDA[i * CS + i] * ki * uu[c]' : '0.0'};
      let bonusK = ${ks.bonus ? 'scale * sDA[i * CS + i] * qi * uu[c]' : '0.0'};
      var rs = 0.0;
      if (last) { for (var j = 0u; j < WG / BK; j++) { rs += sRs[j * BK + xl]; } }
      ${ks.use('dbq', 'read_write')}[at] = qi * (dq - bonusQ);
      ${ks.use('dbk', 'read_write')}[at] = rs - ki * (dk - bonusK);` : ''}
    }
  }
}`;
}
