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
import { bwdFns } from './bwd-common.js';
import { emitContraction } from './bwd-contraction.js';
import { emitChunkMatmul } from './chunk-matmul.js';
import { emitGram, type Gram, type GramScope } from './bwd-gram.js';
import { times, wgsl, type Wgsl, type WgslFn } from '../wgsl.js';

/** Element (i, j) of T = I + tmat in chunk n: tfull(bh, n, i, j). */
function tFull(ks: KernelSource): WgslFn<4> {
  const { cc } = bwdFns(ks);
  const tmat = ks.use('tmat', 'read');
  return ks.helperFn('tfull', 4, wgsl`fn tfull(bh: u32, n: u32, i: u32, j: u32) -> f32 { return ${tmat}[${cc()('bh', 'n', 'i', 'j')}] + select(0.0, 1.0, i == j); }`);
}

/** dT = dU Y^T + dW X^T as a Gram product (bwd-gram.ts; tc-bwd-gram.ts on the tensor-core
 * tier); dU and v four wide where that kernel loads so. */
export const wyDTGram = (ks: KernelSource) => ({ b, h, bh, t, x, j, t0, v: dot }: GramScope): Gram => {
  const hp = bwdFns(ks);
  const { tok } = hp;
  const g = hp.g();
  const k = ks.roleFn('k'); const v = ks.roleFn('v'); const v4 = ks.role4Fn('v');
  const dU = ks.f32Reader('dU', ks.cfg.V % 4 === 0);
  const du = tok()(bh, t, x, 'VD');
  return {
    parts: [
      { len: 'VD', left: dU.at(du), left4: dU.at4?.(du) ?? null, right: v(b, t, h, x), right4: v4 && v4(b, t, h, x) },
      { len: 'KD', left: hp.inter('dW', 'read', tok()(bh, t, x, 'KD')), right: times(k(b, t, h, x), hp.pow2(() => g(b, h, t, x))) },
    ],
    keep: 'strict', post: wgsl`${dot} * ${ks.roleFn('beta')(b, wgsl`${t0} + ${j}`, h, '0u')}`, out: ks.use('dTA', 'read_write'),
  };
};

export function emitWyDT(ks: KernelSource): Wgsl {
  return emitGram(ks, wyDTGram(ks));
}

export function emitWyM(ks: KernelSource): Wgsl {
  const { cc } = bwdFns(ks);
  const tf = tFull(ks);
  const dT = ks.use('dTA', 'read');
  // M[i,j] = sum_r dT[i,r] T[j,r], dT strictly lower, T lower: r < i and r <= j < rows.
  return emitChunkMatmul(ks, ({ bh, n, rows, i, r, x, value }) => ({
    square: wgsl`select(0.0, ${dT}[${cc()(bh, n, i, r)}], ${r} < ${i})`,
    keep: wgsl`${r} < ${i}`,
    right: wgsl`select(0.0, ${tf(bh, n, x, r)}, ${r} <= ${x} && ${x} < ${rows})`,
    keepColumn: wgsl`${r} <= ${x}`,
    width: 'C',
    store: wgsl`${ks.use('M', 'read_write')}[${cc()(bh, n, i, x)}] = ${value};`,
  }), ks.cfg.chunk);
}

export function emitWyDA(ks: KernelSource): Wgsl {
  const { cc } = bwdFns(ks);
  const tf = tFull(ks);
  const M = ks.use('M', 'read');
  // dA[i,j] = -sum_{r>=i} T[r,i] M[r,j], kept for j < i.
  return emitChunkMatmul(ks, ({ bh, n, i, r, x, value }) => ({
    square: wgsl`select(0.0, ${tf(bh, n, r, i)}, ${r} >= ${i})`,
    keep: wgsl`${r} >= ${i}`,
    right: wgsl`${M}[${cc()(bh, n, r, x)}]`,
    width: 'C',
    store: wgsl`${ks.use('dTA', 'read_write')}[${cc()(bh, n, i, x)}] = select(0.0, -${value}, ${x} < ${i});`,
  }), ks.cfg.chunk);
}

export function emitWyDv(ks: KernelSource): Wgsl {
  const { tok, bth } = bwdFns(ks);
  const tf = tFull(ks);
  const dU = ks.use('dU', 'read');
  // X1_i = sum_{r>=i} T[r,i] dU_r;  dv_i = beta_i X1_i.
  return emitChunkMatmul(ks, ({ b, h, bh, n, i, r, t, x, value }) => ({
    square: wgsl`select(0.0, ${tf(bh, n, r, i)}, ${r} >= ${i})`,
    keep: wgsl`${r} >= ${i}`,
    right: wgsl`${dU}[${tok()(bh, t, x, 'VD')}]`,
    width: 'VD',
    store: wgsl`${ks.use('X1', 'read_write')}[${tok()(bh, t, x, 'VD')}] = ${value};
        ${ks.use('grad_v', 'read_write')}[${bth()(b, t, h, x, 'VD')}] = ${ks.roleFn('beta')(b, t, h, '0u')} * ${value};`,
  }), ks.cfg.V);
}

/** X2 = T^T dW, per element, into x2 (wyDk then reads it): a stage of its own so that wyDk binds
 * at most 8 storage buffers. */
export function emitWyX2(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { tok } = hp;
  const tf = tFull(ks);
  return emitContraction(ks, ({ bh, n, t0, i, r, t, x }) => ({
    cols: 'KD', accs: ['x2'],
    loops: [{ from: i, to: 'rows', body: wgsl`x2 += ${tf(bh, n, r, i)} * ${hp.inter('dW', 'read', tok()(bh, wgsl`${t0} + ${r}`, x, 'KD'))};` }],
    finish: wgsl`${ks.use('X2', 'read_write')}[${tok()(bh, t, x, 'KD')}] = x2;`,
  }));
}

export function emitWyDk(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const { cc, tok, bth } = hp;
  const g = hp.g();
  const beta = ks.roleFn('beta'); const k = ks.roleFn('k');
  const dA = ks.use('dTA', 'read');
  const gradK = ks.use('grad_k', 'read_write');
  const x2buf = ks.use('X2', 'read_write');
  return emitContraction(ks, ({ b, h, bh, n, t0, i, r, t, x }) => {
    const tr = wgsl`${t0} + ${r}`;
    return {
      cols: 'KD', accs: ['arow', 'acol'],
      // (Without decay every 2^(...) factor is exactly 1 and is left out: pow2 gives null.)
      setup: wgsl`${ks.decayed ? wgsl`let gi = ${g(b, h, t, x)};
  ` : ''}let tk = ${tok()(bh, t, x, 'KD')};
  let x2 = ${x2buf}[tk];`,
      loops: [
        { to: i, body: wgsl`arow += ${times(wgsl`${dA}[${cc()(bh, n, i, r)}]`, k(b, tr, h, x), hp.pow2(() => wgsl`gi - ${g(b, h, tr, x)}`))};` },
        { from: wgsl`${i} + 1u`, to: 'rows', body: wgsl`acol += ${times(wgsl`${dA}[${cc()(bh, n, r, i)}]`, beta(b, tr, h, '0u'), k(b, tr, h, x), hp.pow2(() => wgsl`${g(b, h, tr, x)} - gi`))};` },
      ],
      finish: wgsl`let bi = ${beta(b, t, h, '0u')};
  let ki = ${k(b, t, h, x)};
  let wterm = ${times('bi', hp.pow2(() => 'gi'), 'x2')};
  let at = ${bth()(b, t, h, x, 'KD')};
  ${gradK}[at] = ${gradK}[at] + wterm + bi * arow + acol;
  // dbeta_i's key-side terms: (k_i 2^G_i) . X2_i + sum_{j<i} dA[i,j] A[i,j] / beta_i = k_i . (2^G_i X2_i + arow_i).
  ${x2buf}[tk] = ki * (${times(hp.pow2(() => 'gi'), 'x2')} + arow);${ks.decayed ? wgsl`
  ${ks.use('dbk', 'read_write')}[tk] = ${ks.use('dbk', 'read_write')}[tk] + ki * (wterm + bi * arow - acol);` : ''}`,
    };
  });
}

export function emitWyDbeta(ks: KernelSource): Wgsl {
  const { tok, bth } = bwdFns(ks);
  const v = ks.roleFn('v');
  const x1 = ks.use('X1', 'read'); const x2 = ks.use('X2', 'read');
  return emitContraction(ks, ({ b, h, bh, r, t }) => ({
    cols: '1u', accs: ['acc'],
    loops: [
      { to: 'VD', body: wgsl`acc += ${v(b, t, h, r)} * ${x1}[${tok()(bh, t, r, 'VD')}];` },
      { to: 'KD', body: wgsl`acc += ${x2}[${tok()(bh, t, r, 'KD')}];` },
    ],
    finish: wgsl`${ks.use('grad_beta', 'read_write')}[${bth()(b, t, h, '0u', '1u')}] = acc;`,
  }));
}
