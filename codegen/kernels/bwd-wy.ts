// The WY backward of the delta rule, per chunk. The forward built
//   A[i,j] = beta_i sum_d k_i[d] k_j[d] 2^(G_i - G_j)  (j < i),   T = (I + A)^-1,
//   W = T X with X_j = beta_j k_j 2^G_j,   U = T Y with Y_j = beta_j v_j.
// Given dW (from bwdDqk) and dU (the scan's du):
//   wyDT:    dT = dU Y^T + dW X^T, kept for i > j only (T is unit lower triangular, so the
//            other entries carry no gradient)
//   wyM:     M = dT T^T
//   wyDA:    dA = -T^T M, for j < i
//   wyDv:    X1 = T^T dU;   dv_j = beta_j X1_j
//   wyDk:    X2 = T^T dW;   dk_i += beta_i 2^G_i X2_i + beta_i sum_{j<i} dA[i,j] k_j 2^(G_i-G_j)
//                                  + sum_{l>i} dA[l,i] beta_l k_l 2^(G_l-G_i)
//            with the matching gate terms (+ for G_i, - for G_j factors) added to dbk
//   wyDbeta: dbeta_j = v_j . X1_j + (k_j 2^G_j) . X2_j + sum_{l<j} dA[j,l] A[j,l] / beta_j,
//            the last two summed over d from what wyDk leaves in x2
// T itself comes from the forward's prep (tmat holds its strictly lower part).
import type { KernelSource } from './common.js';
import { bwdHelpers, chunkTileK, emitContraction } from './bwd-common.js';
import { TILE_GRID } from './tiles.js';
import { emitGram } from './bwd-gram.js';

/** Element (i, j) of T = I + tmat in chunk n. */
function tFull(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const tmat = ks.use('tmat', 'read');
  return ks.helper('tfull', `fn tfull(bh: u32, n: u32, i: u32, j: u32) -> f32 { return ${tmat}[${cc()}(bh, n, i, j)] + select(0.0, 1.0, i == j); }`);
}

export function emitWyDT(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok } = hp;
  const g = hp.g();
  const k = ks.role('k'); const v = ks.role('v');
  const dvv = ks.use('dvv', 'read'); const dwm = ks.use('dwm', 'read');
  return emitGram(ks, {
    parts: [
      { len: 'VD', left: `${dvv}[${tok()}(bh, t, x, VD)]`, right: `${v}(b, t, h, x)` },
      { len: 'KD', left: `${dwm}[${tok()}(bh, t, x, KD)]`, right: `${k}(b, t, h, x) * exp2(${g}(b, h, t, x))` },
    ],
    mask: 'j < i', post: `v * ${ks.role('beta')}(b, t0 + j, h, 0u)`, out: ks.use('dtm', 'read_write'),
  });
}

export function emitWyM(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const tf = tFull(ks);
  const dtm = ks.use('dtm', 'read');
  return emitContraction(ks, {
    cols: 'C', accs: ['acc'],
    setup: 'let j = x;',
    loops: [{ to: 'select(0u, min(j + 1u, i), j < rows)', body: `acc += ${dtm}[${cc()}(bh, n, i, r)] * ${tf}(bh, n, j, r);` }],
    finish: `${ks.use('mtm', 'read_write')}[${cc()}(bh, n, i, j)] = acc;`,
  });
}

export function emitWyDA(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const tf = tFull(ks);
  const mtm = ks.use('mtm', 'read');
  return emitContraction(ks, {
    cols: 'C', accs: ['acc'],
    setup: 'let j = x; let live = j < i;',
    loops: [{ from: 'i', to: 'select(i, rows, live)', body: `acc += ${tf}(bh, n, r, i) * ${mtm}[${cc()}(bh, n, r, j)];` }],
    finish: `${ks.use('dtm', 'read_write')}[${cc()}(bh, n, i, j)] = select(0.0, -acc, live);`,
  });
}

export function emitWyDv(ks: KernelSource): string {
  const { tok, bth } = bwdHelpers(ks);
  const tf = tFull(ks);
  const dvv = ks.use('dvv', 'read');
  return emitContraction(ks, {
    cols: 'VD', accs: ['acc'],
    loops: [{ from: 'i', to: 'rows', body: `acc += ${tf}(bh, n, r, i) * ${dvv}[${tok()}(bh, t0 + r, x, VD)];` }],
    finish: `${ks.use('x1', 'read_write')}[${tok()}(bh, t, x, VD)] = acc;
  ${ks.use('grad_v', 'read_write')}[${bth()}(b, t, h, x, VD)] = ${ks.role('beta')}(b, t, h, 0u) * acc;`,
  });
}

/** Register-tiled like bwdDqk: per (K-tile, chunk, b*h) T, then dA, share one C x C array of
 * workgroup memory (x2 needs T, arow and acol dA), beside the K-tile's k, dW and gates. */
export function emitWyDk(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { cc, tok, bth } = hp;
  const g = hp.g();
  const tf = tFull(ks);
  const beta = ks.role('beta'); const k = ks.role('k');
  const dwm = ks.use('dwm', 'read'); const dam = ks.use('dtm', 'read');
  const gradK = ks.use('grad_k', 'read_write');
  const gcol = ks.diag ? 'xl' : '0u';
  const gAt = (r: string) => (ks.decayed ? `sG[${r} * GB + ${gcol}]` : '0.0');
  const stageSquare = (value: string) => `for (var e = lid; e < C * C; e += WG) {
    let i = e / C;
    let j = e % C;
    sM[i * CS + j] = select(0.0, ${value}, i < rows && j < rows);
  }`;
  return `
${TILE_GRID}
const BK: u32 = ${chunkTileK(ks.tiles.KP, ks.cfg.wgMemory)}u;
const RM: u32 = C / TY;
const RN: u32 = BK / TX;
const GB: u32 = ${ks.diag ? 'BK' : '1u'};
const CS: u32 = C + 1u;
var<workgroup> sM: array<f32, C * CS>;
var<workgroup> sK: array<f32, C * BK>;
var<workgroup> sW: array<f32, C * BK>;
var<workgroup> sB: array<f32, C>;
${ks.decayed ? 'var<workgroup> sG: array<f32, C * GB>;' : ''}

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
  ${stageSquare(`${tf}(bh, n, i, j)`)}
  for (var e = lid; e < C * BK; e += WG) {
    let t = t0 + min(e / BK, rows - 1u);
    let x = min(kt * BK + e % BK, KD - 1u);
    sK[e] = ${k}(b, t, h, x);
    sW[e] = ${dwm}[${tok()}(bh, t, x, KD)];
  }
  for (var i = lid; i < C; i += WG) { sB[i] = ${beta}(b, t0 + min(i, rows - 1u), h, 0u); }
  ${ks.decayed ? `for (var e = lid; e < C * GB; e += WG) {
    sG[e] = ${g}(b, h, t0 + min(e / GB, rows - 1u), min(kt * BK + e % GB, KD - 1u));
  }` : ''}
  workgroupBarrier();
  // X2 = T^T dW (r >= i, the unit diagonal included).
  var x2: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let xl = tx + TX * c;
      var acc = 0.0;
      for (var r = i; r < rows; r++) { acc += sM[r * CS + i] * sW[r * BK + xl]; }
      x2[a][c] = acc;
    }
  }
  workgroupBarrier();
  ${stageSquare(`${dam}[${cc()}(bh, n, i, j)]`)}
  workgroupBarrier();
  for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    if (i >= rows) { continue; }
    let t = t0 + i;
    let bi = sB[i];
    for (var c = 0u; c < RN; c++) {
      let xl = tx + TX * c;
      let x = kt * BK + xl;
      let gi = ${gAt('i')};
      var arow = 0.0;
      for (var r = 0u; r < i; r++) { arow += sM[i * CS + r] * sK[r * BK + xl] * exp2(gi - ${gAt('r')}); }
      var acol = 0.0;
      for (var r = i + 1u; r < rows; r++) { acol += sM[r * CS + i] * sB[r] * sK[r * BK + xl] * exp2(${gAt('r')} - gi); }
      if (x >= KD) { continue; }
      let ki = sK[i * BK + xl];
      let wterm = bi * exp2(gi) * x2[a][c];
      let at = ${bth()}(b, t, h, x, KD);
      ${gradK}[at] = ${gradK}[at] + wterm + bi * arow + acol;
      // dbeta_i's key-side terms: (k_i 2^G_i) . X2_i + sum_{j<i} dA[i,j] A[i,j] / beta_i = k_i . (2^G_i X2_i + arow_i).
      ${ks.use('x2', 'read_write')}[${tok()}(bh, t, x, KD)] = ki * (exp2(gi) * x2[a][c] + arow);${ks.decayed ? `
      let gb = ${tok()}(bh, t, x, KD);
      ${ks.use('dbk', 'read_write')}[gb] = ${ks.use('dbk', 'read_write')}[gb] + ki * (wterm + bi * arow - acol);` : ''}
    }
  }
}`;
}

export function emitWyDbeta(ks: KernelSource): string {
  const { tok, bth } = bwdHelpers(ks);
  const v = ks.role('v');
  const x1 = ks.use('x1', 'read'); const x2 = ks.use('x2', 'read');
  return emitContraction(ks, {
    cols: '1u', accs: ['acc'],
    loops: [
      { to: 'VD', body: `acc += ${v}(b, t, h, r) * ${x1}[${tok()}(bh, t, r, VD)];` },
      { to: 'KD', body: `acc += ${x2}[${tok()}(bh, t, r, KD)];` },
    ],
    finish: `${ks.use('grad_beta', 'read_write')}[${bth()}(b, t, h, 0u, 1u)] = acc;`,
  });
}
