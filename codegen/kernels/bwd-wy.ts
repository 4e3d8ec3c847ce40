// The WY backward of the delta rule, per chunk. The forward built
//   A[i,j] = beta_i sum_d k_i[d] k_j[d] 2^(G_i - G_j)  (j < i),   T = (I + A)^-1,
//   W = T X with X_j = beta_j k_j 2^G_j,   U = T Y with Y_j = beta_j v_j.
// Given dW (from bwdInter, bwd-dqk-inter.ts) and dU (the scan's du):
//   wyDT:    dT = dU Y^T + dW X^T, kept for i > j only (T is unit lower triangular, so the
//            other entries carry no gradient)
//   wyM:     M = dT T^T
//   wyDA:    dA = -T^T M, for j < i
//   wyDv:    X1 = T^T dU;   dv_j = beta_j X1_j
//   wyX2:    X2 = T^T dW
//   wyDk:    dk_i += beta_i 2^G_i X2_i + beta_i sum_{j<i} dA[i,j] k_j 2^(G_i-G_j)
//                                  + sum_{l>i} dA[l,i] beta_l k_l 2^(G_l-G_i)
//            with the matching gate terms (+ for G_i, - for G_j factors) added to dbk
//   wyDbeta: dbeta_j = v_j . X1_j + (k_j 2^G_j) . X2_j + sum_{l<j} dA[j,l] A[j,l] / beta_j,
//            the last two summed over d from what wyDk leaves in x2
// T itself comes from the forward's prep (tmat holds its strictly lower part).
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';
import { emitContraction } from './bwd-contraction.js';
import { emitChunkMatmul } from './chunk-matmul.js';
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
  const dU = ks.use('dU', 'read');
  return emitGram(ks, {
    parts: [
      { len: 'VD', left: `${dU}[${tok()}(bh, t, x, VD)]`, right: `${v}(b, t, h, x)` },
      { len: 'KD', left: hp.inter('dW', 'read', `${tok()}(bh, t, x, KD)`), right: `${k}(b, t, h, x) * exp2(${g}(b, h, t, x))` },
    ],
    mask: 'j < i', post: `v * ${ks.role('beta')}(b, t0 + j, h, 0u)`, out: ks.use('dTA', 'read_write'),
  });
}

export function emitWyM(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const tf = tFull(ks);
  const dT = ks.use('dTA', 'read');
  // M[i,j] = sum_r dT[i,r] T[j,r], dT strictly lower, T lower: r < i and r <= j < rows.
  return emitChunkMatmul(ks, {
    square: `select(0.0, ${dT}[${cc()}(bh, n, i, r)], r < i)`,
    keep: 'r < i',
    right: `select(0.0, ${tf}(bh, n, x, r), r <= x && x < rows)`,
    keepColumn: 'r <= x',
    width: 'C',
    store: `${ks.use('M', 'read_write')}[${cc()}(bh, n, i, x)] = value;`,
  }, ks.cfg.chunk);
}

export function emitWyDA(ks: KernelSource): string {
  const { cc } = bwdHelpers(ks);
  const tf = tFull(ks);
  const M = ks.use('M', 'read');
  // dA[i,j] = -sum_{r>=i} T[r,i] M[r,j], kept for j < i.
  return emitChunkMatmul(ks, {
    square: `select(0.0, ${tf}(bh, n, r, i), r >= i)`,
    keep: 'r >= i',
    right: `${M}[${cc()}(bh, n, r, x)]`,
    width: 'C',
    store: `${ks.use('dTA', 'read_write')}[${cc()}(bh, n, i, x)] = select(0.0, -value, x < i);`,
  }, ks.cfg.chunk);
}

export function emitWyDv(ks: KernelSource): string {
  const { tok, bth } = bwdHelpers(ks);
  const tf = tFull(ks);
  const dU = ks.use('dU', 'read');
  // X1_i = sum_{r>=i} T[r,i] dU_r;  dv_i = beta_i X1_i.
  return emitChunkMatmul(ks, {
    square: `select(0.0, ${tf}(bh, n, r, i), r >= i)`,
    keep: 'r >= i',
    right: `${dU}[${tok()}(bh, t, x, VD)]`,
    width: 'VD',
    store: `${ks.use('X1', 'read_write')}[${tok()}(bh, t, x, VD)] = value;
        ${ks.use('grad_v', 'read_write')}[${bth()}(b, t, h, x, VD)] = ${ks.role('beta')}(b, t, h, 0u) * value;`,
  }, ks.cfg.V);
}

/** X2 = T^T dW, per element, into x2 (wyDk then reads it): a stage of its own so that wyDk binds
 * at most 8 storage buffers. */
export function emitWyX2(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok } = hp;
  const tf = tFull(ks);
  return emitContraction(ks, {
    cols: 'KD', accs: ['x2'],
    loops: [{ from: 'i', to: 'rows', body: `x2 += ${tf}(bh, n, r, i) * ${hp.inter('dW', 'read', `${tok()}(bh, t0 + r, x, KD)`)};` }],
    finish: `${ks.use('X2', 'read_write')}[${tok()}(bh, t, x, KD)] = x2;`,
  });
}

export function emitWyDk(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { cc, tok, bth } = hp;
  const g = hp.g();
  const beta = ks.role('beta'); const k = ks.role('k');
  const dA = ks.use('dTA', 'read');
  const gradK = ks.use('grad_k', 'read_write');
  const x2buf = ks.use('X2', 'read_write');
  return emitContraction(ks, {
    cols: 'KD', accs: ['arow', 'acol'],
    setup: `let gi = ${g}(b, h, t, x);
  let x2 = ${x2buf}[${tok()}(bh, t, x, KD)];`,
    loops: [
      { to: 'i', body: `arow += ${dA}[${cc()}(bh, n, i, r)] * ${k}(b, t0 + r, h, x) * exp2(gi - ${g}(b, h, t0 + r, x));` },
      { from: 'i + 1u', to: 'rows', body: `acol += ${dA}[${cc()}(bh, n, r, i)] * ${beta}(b, t0 + r, h, 0u) * ${k}(b, t0 + r, h, x) * exp2(${g}(b, h, t0 + r, x) - gi);` },
    ],
    finish: `let bi = ${beta}(b, t, h, 0u);
  let wterm = bi * exp2(gi) * x2;
  let at = ${bth()}(b, t, h, x, KD);
  ${gradK}[at] = ${gradK}[at] + wterm + bi * arow + acol;
  // dbeta_i's key-side terms: (k_i 2^G_i) . X2_i + sum_{j<i} dA[i,j] A[i,j] / beta_i = k_i . (2^G_i X2_i + arow_i).
  ${x2buf}[${tok()}(bh, t, x, KD)] = ${k}(b, t, h, x) * (exp2(gi) * x2 + arow);${ks.decayed ? `
  let ki = ${k}(b, t, h, x);
  let gb = ${tok()}(bh, t, x, KD);
  ${ks.use('dbk', 'read_write')}[gb] = ${ks.use('dbk', 'read_write')}[gb] + ki * (wterm + bi * arow - acol);` : ''}`,
  });
}

export function emitWyDbeta(ks: KernelSource): string {
  const { tok, bth } = bwdHelpers(ks);
  const v = ks.role('v');
  const x1 = ks.use('X1', 'read'); const x2 = ks.use('X2', 'read');
  return emitContraction(ks, {
    cols: '1u', accs: ['acc'],
    loops: [
      { to: 'VD', body: `acc += ${v}(b, t, h, r) * ${x1}[${tok()}(bh, t, r, VD)];` },
      { to: 'KD', body: `acc += ${x2}[${tok()}(bh, t, r, KD)];` },
    ],
    finish: `${ks.use('grad_beta', 'read_write')}[${bth()}(b, t, h, 0u, 1u)] = acc;`,
  });
}
