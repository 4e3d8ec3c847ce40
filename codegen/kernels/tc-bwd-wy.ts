// The key gradient of the delta rule's WY backward on the fragment layer (tensor-core tier), per
// (K-tile, chunk, b*h), for scalar or no decay: the f32 tier's wyX2 and wyDk (bwd-wy.ts) in one
// kernel. With G the chunk's gate cumsum (log2; 0 without decay), T = I + tmat, dA from wyDA
// (zero on and above the diagonal) and dW from bwdInter, per row i of the chunk:
//   P_i = 2^G_i (T^T dW)_i + sum_{r<i} dA[i,r] 2^(G_i-G_r) k_r      (2^G_i X2_i + arow_i)
//   Q_i = sum_{r>i} dA[r,i] beta_r 2^(G_r-G_i) k_r                  (acol_i)
// as two products with C x C left operands whose decay factors are applied in f32 before the
// rounding to f16 (every exponent is <= 0, G falling along the chunk):
//   P = LT dW + LA K,  LT[i,r] = T[r,i] 2^G_i (r >= i),  LA[i,r] = dA[i,r] 2^(G_i-G_r) (r < i)
//   Q = LQ K,          LQ[i,r] = dA[r,i] beta_r 2^(G_r-G_i) (r > i)
// and one epilogue writes what wyDk writes:
//   dk_i += beta_i P_i + Q_i,  x2_i = k_i P_i (for wyDbeta),  dbk_i += k_i (beta_i P_i - Q_i).
// Two layouts (tcWyDkLayout). 'paired' stages LA and LQ side by side and accumulates P and Q
// together (two C x C left slots, 8 accumulator fragments per subgroup at 64 columns): 35 KiB at
// chunk 64, one workgroup per multiprocessor on the H200. 'serial', the 24 KiB budget's (22 KiB
// at chunk 64): one left slot taken by LQ, LA and LT in turn, Q first, parked in X2 by its own
// epilogue (X2's element is later read back by the same invocation, then overwritten with k P),
// then P; 4 accumulator fragments live at a time, one epilogue fragment of scratch per subgroup.
// Non-finite values: a fragment product cannot skip a masked (zero) term of its left operand, and
// 0 * NaN would carry a NaN of dW or k at one row into rows whose sums do not contain it. So
// each thread notes whether a right operand it stages is not finite in f16; where any is, the
// tile is computed instead per element in f32 over the unmasked terms only (the f32 tier's
// sums), which gives the reference's pattern of non-finite gradients. The exact path runs only
// where the inputs or gradients hold such values.
// A per-key decay makes the factors of LA and LQ depend on the key column; that case runs only
// X2 = T^T dW here (emitTcWyX2, the f32 tier's wyX2), and its wyDk by 16-row sub-blocks as dq and
// dk do (tc-bwd-wy-diag.ts).
// Below, two more of the WY backward's products, transposed products of tc-transposed.ts:
// wyDv (X1 = T^T dU, dv = beta X1) and wyDA (dA = -T^T M, kept for j < i).
import type { KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { emitEpilogue, firstFit, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block, nonFiniteGather } from './staged.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';
import { emitTransposedProduct, tcDuTileV, type TransposedScope } from './tc-transposed.js';
import { valueRowsBlock } from './tc-bwd-dh.js';

/** Key columns per workgroup. */
export const tcWyDkTileK = (K: number) => Math.min(64, fragCeil(K));

/** 'paired' (the layout before the 24 KiB budget): two C x C left slots, so that phase 2 stages
 * LA and LQ together, and an epilogue scratch of two fragments per subgroup (P and Q side by
 * side). 'serial': one C x C left slot that LQ, LA and LT take in turn, and a scratch of one
 * fragment per subgroup: Q is computed first and its epilogue leaves it in X2 (which the last
 * epilogue overwrites with k P), so that only one accumulator block is live at a time. */
export type WyDkKind = 'paired' | 'serial';

export interface WyDkLayout { kind: WyDkKind; BK: number; CS: number; sL1: number; sL2: number; sR: number; f16: number; f32: number; sRow: number }

/** Workgroup bytes of a layout, the non-finite flags (nonFinite.decl) included. */
export const tcWyDkBytes = (lay: WyDkLayout) => 2 * lay.f16 + 4 * lay.f32 + nonFinite.bytes(FRAG_WG);

/** f16: the C x C lefts, row-major at the padded stride CS, then the C x BK right; f32: the
 * epilogue's scratch, then the chunk's gate cumsum and beta per row. Under each budget in turn
 * (firstFit), the paired layout at the widest column tile that fits, else the serial one:
 * at chunk 64 the paired layout needs 29.0-35.0 KiB at any tile, the serial one 22.0 KiB at 64
 * columns, so the 24 KiB budget (two workgroups per multiprocessor on the H200) takes the serial
 * layout, and a single budget of the tier (tuning.fragmentMemory: 49152) today's paired one. */
export function tcWyDkLayout(ks: KernelSource): WyDkLayout {
  const C = ks.cfg.chunk;
  // Some lefts are written transposed (see square()): a stride of C + 8 f16 spreads a column's
  // writes over 8 banks instead of one, and keeps every row 16-byte aligned.
  const CS = C + 8;
  const layout = (kind: WyDkKind, BK: number): WyDkLayout => {
    const lefts = kind === 'paired' ? 2 : 1;
    const sL1 = 0;
    const sL2 = kind === 'paired' ? C * CS : sL1;
    const sR = lefts * C * CS;
    const f16 = sR + C * BK;
    const sRow = scratchWords(lefts);
    const f32 = sRow + 2 * C;
    return { kind, BK, CS, sL1, sL2, sR, f16, f32, sRow };
  };
  const layouts: WyDkLayout[] = [];
  for (const kind of ['paired', 'serial'] as const) {
    for (let BK = tcWyDkTileK(ks.cfg.K); BK >= 16; BK -= 16) layouts.push(layout(kind, BK)); // whole fragments only
  }
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the delta rule's key gradient (wyDk) fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`), tcWyDkBytes);
}

/** What both kernels share: the layout, the fragment grid, T's element, the staging of the
 * operands and their product steps, the kernel's opening, and the exact path's X2 sum. */
function wyTile(ks: KernelSource, fr: Fragments) {
  const C = ks.cfg.chunk;
  const lay = tcWyDkLayout(ks);
  const { BK } = lay;
  const p = partition(C / 16, BK / 16);
  const grid = subgroupGrid(p, 'f');
  const map = grid.map;
  const hp = bwdFns(ks);
  const { cc, tok } = hp;
  const tmat = ks.use('tmat', 'read');
  const dW = hp.inter('dW', 'read', tok()('bh', 't', 'x', 'KD'));
  /** T[r, i] of the chunk (unit diagonal, the strictly lower part in tmat). */
  const tFull = (r: string, i: string) => wgsl`(${tmat}[${cc()('bh', 'n', r, i)}] + select(0.0, 1.0, ${r} == ${i}))`;
  // A C x C left operand L[i, r] at `at`, from a value over i, r; `keep(i, r)` masks it. Read
  // in the order of the matrix it comes from ('ir': L[i, r] itself, consecutive threads along r;
  // 'ri': a matrix holding L transposed, T[r, i] or dA[r, i], consecutive threads along i), so
  // that global reads are coalesced, and always stored row-major at stride CS: the product loads
  // it row-major. (Loading the transposed ones column-major at stride C is as right and as fast
  // on the H200; this kernel's wrong values there came from a misaligned tile, see nonFinite.)
  const square = (at: number, value: string, keep: (i: string, r: string) => string, order: 'ir' | 'ri') => {
    const [ie, re] = order === 'ir' ? ['e / C', 'e % C'] : ['e % C', 'e / C'];
    return emitF16Block({
      count: wgsl`${C * C}u`,
      unroll: ks.stagingUnroll,
      index: () => wgsl`let i = min(${ie}, rows - 1u); let r = min(${re}, rows - 1u);`,
      value, wide: null,
      valid: wgsl`${ie} < rows && ${re} < rows && ${keep(ie, re)}`,
      arr: 'wh', at: (e) => {
        const [ri, rr] = order === 'ir' ? [wgsl`(${e}) / C`, wgsl`(${e}) % C`] : [wgsl`(${e}) % C`, wgsl`(${e}) / C`];
        return wgsl`${at}u + ${ri} * ${lay.CS}u + ${rr}`;
      },
    });
  };
  // A C x BK right operand from token row rr and key column x.
  const right = (value: string, wide: string | null) => emitF16Block({
    count: wgsl`${C * BK}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let rr = min(e / ${BK}u, rows - 1u); let t = t0 + rr; let x = min(k0 + e % ${BK}u, KD - ${four ? 4 : 1}u);`,
    value, wide,
    valid: wgsl`e / ${BK}u < rows && k0 + e % ${BK}u < KD`,
    arr: 'wh', at: (e) => wgsl`${lay.sR}u + ${e}`,
    nonFiniteFlag: { flag: nonFinite.flag, staged: 'as-is' },
  });
  const product = (acc: string, left: number, keep: (i: number) => string) => fr.mma(acc, p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${left}u + ${map.row(i)} * ${lay.CS}u + kk`, stride: lay.CS }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sR}u + kk * ${BK}u + ${map.col(j)}`, stride: BK }),
    (i) => keep(i));
  // The opening is made here, before the kernels bind what they read: the bindings' order.
  const opening = wgsl`${ks.chunkStage(fr.builtins()).open}
  let kt = wid.x;
  ${fr.opening()}
  let k0 = kt * ${BK}u;
  ${grid.decl}`;
  /** The exact path's X2 of row r at key x, summed into x2s over the unmasked terms only. */
  const x2Sum = wgsl`var x2s = 0.0;
      for (var j = r; j < rows; j++) {
        let t = t0 + j;
        x2s += ${tFull('j', 'r')} * ${dW};
      }`;
  return { C, lay, BK, p, map, hp, dW, tFull, square, right, product, opening, x2Sum };
}

/** Whether any thread staged a non-finite right operand (staged as it is): the exact path
 * instead of the fragments' (see the header). */
const nonFinite = nonFiniteGather('wy');

/** Per (K-tile of the layout's BK columns, chunk, b*h); wyDk and wyX2 alike. */
export const tcWyKeysGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.K / tcWyDkLayout(ks).BK)], ['NT'], ['BH']];

export function emitTcWyDk(ks: KernelSource, fr: Fragments): Wgsl {
  const { C, lay, BK, p, map, hp, dW, tFull, square, right, product, opening, x2Sum } = wyTile(ks, fr);
  const { cc, tok, bth } = hp;
  const g = hp.g();
  const k = ks.roleFn('k');
  const k4 = ks.role4Fn('k');
  const beta = ks.roleFn('beta');
  const dA = ks.use('dTA', 'read');
  const gradK = ks.use('grad_k', 'read_write');
  const x2 = ks.use('X2', 'read_write');
  const dbk = ks.decayed ? ks.use('dbk', 'read_write') : '';
  // The chunk's gate cumsum and beta per row, read once into wf past the scratch.
  const G = (r: string) => wgsl`wf[${lay.sRow}u + ${r}]`;
  const B = (r: string) => wgsl`wf[${lay.sRow}u + C + ${r}]`;
  // 2^e for e over the rows' gate cumsums, as a factor for times(): null without decay (the
  // factor is exactly 1 there).
  const pow2 = (e: (G: (r: string) => Wgsl) => Wgsl) => (ks.decayed ? wgsl`exp2(${e(G)})` : null);
  const rowValues = wgsl`for (var r = lid; r < C; r += WG) {
    let t = t0 + min(r, rows - 1u);
    ${ks.decayed ? wgsl`${G('r')} = ${g('b', 'h', 't', '0u')};` : ''}
    ${B('r')} = ${beta('b', 't', 'h', '0u')};
  }
  workgroupBarrier();`;
  // Product steps over the chunk's rows r, skipping the fragments where the operand is zero.
  const upper = (i: number) => wgsl`kk + 16u > ${map.row(i)}`;
  const lower = (i: number) => wgsl`kk < ${map.row(i)} + 16u`;
  // What both paths write for element (r, c) of the tile from P and Q.
  // `pre`: statements before the writes, with t and x in scope (the serial layout's read of Q).
  const write = (P: string, Q: string, pre = '') => wgsl`if (r < rows && k0 + c < KD) {
        let t = t0 + r;
        let x = k0 + c;${pre}
        let bi = ${B('r')};
        let kv = ${k('b', 't', 'h', 'x')};
        let at = ${bth()('b', 't', 'h', 'x', 'KD')};
        ${gradK}[at] = ${gradK}[at] + bi * ${P} + ${Q};
        ${x2}[${tok()('bh', 't', 'x', 'KD')}] = kv * ${P};${ks.decayed ? wgsl`
        let gb = ${tok()('bh', 't', 'x', 'KD')};
        ${dbk}[gb] = ${dbk}[gb] + kv * (bi * ${P} - ${Q});` : ''}
      }`;
  // The exact path: P and Q of each element as the f32 tier's sums over the unmasked terms.
  const exact = wgsl`for (var el = lid; el < C * ${BK}u; el += WG) {
      let r = el / ${BK}u;
      let c = el % ${BK}u;
      let x = min(k0 + c, KD - 1u);
      ${x2Sum}
      var arow = 0.0;
      var acol = 0.0;
      for (var j = 0u; j < min(r, rows); j++) {
        arow += ${times(wgsl`${dA}[${cc()('bh', 'n', 'r', 'j')}]`, k('b', 't0 + j', 'h', 'x'), pow2((G) => wgsl`${G('r')} - ${G('j')}`))};
      }
      for (var j = r + 1u; j < rows; j++) {
        acol += ${times(wgsl`${dA}[${cc()('bh', 'n', 'j', 'r')}]`, B('j'), k('b', 't0 + j', 'h', 'x'), pow2((G) => wgsl`${G('j')} - ${G('r')}`))};
      }
      let pv = ${times(pow2((G) => G('min(r, C - 1u)')), 'x2s')} + arow;
      ${write('pv', 'acol')}
    }`;
  const lQ = times(wgsl`${dA}[${cc()('bh', 'n', 'r', 'i')}]`, B('r'), pow2((G) => wgsl`${G('r')} - ${G('i')}`));
  const lA = times(wgsl`${dA}[${cc()('bh', 'n', 'i', 'r')}]`, pow2((G) => wgsl`${G('i')} - ${G('r')}`));
  const lT = times(tFull('r', 'i'), pow2((G) => G('i')));
  if (lay.kind === 'serial') {
    // One left slot, one accumulator block at a time. Q's epilogue parks Q in X2 at the
    // element's own place: the last epilogue's lane for that element (the same subgroup, lane
    // and slot: both walk the same partition) reads it back before writing k P there, and the
    // exact path overwrites it. P sums LA K first, then LT dW (K is staged once, for Q and P).
    const xAt = tok()('bh', 't', 'x', 'KD');
    return wgsl`
${fr.workspace(lay.f16, lay.f32)}
${nonFinite.decl}

${opening}
  ${nonFinite.init}
  ${rowValues}
  {
    ${fr.declare('qk', p.fm, p.fn)}
    // Phase 1: Q = LQ K, parked in X2.
    ${square(lay.sL1, lQ, (i, r) => wgsl`${r} > ${i}`, 'ri')}
    ${right(k('b', 't', 'h', 'x'), k4 && k4('b', 't', 'h', 'x'))}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        ${product('qk', lay.sL1, upper)}
      }
    }
    ${emitEpilogue(fr, 'qk', p.fm, p.fn, {
      scratch: 'wf', scratchBase: 0, active: 'factive', ...map,
      body: wgsl`if (r < rows && k0 + c < KD) { ${x2}[${tok()('bh', 't0 + r', 'k0 + c', 'KD')}] = value; }`,
    })}
  }
  ${fr.declare('pk', p.fm, p.fn)}
  // Phase 2: P = LA K (K still staged).
  ${square(lay.sL1, lA, (i, r) => wgsl`${r} < ${i}`, 'ir')}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${product('pk', lay.sL1, lower)}
    }
  }
  workgroupBarrier();
  // Phase 3: P += LT dW.
  ${square(lay.sL1, lT, (i, r) => wgsl`${r} >= ${i}`, 'ri')}
  ${right(dW, null)}
  ${nonFinite.publish}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${product('pk', lay.sL1, upper)}
    }
  }
  workgroupBarrier();
  ${nonFinite.branch(exact, emitEpilogue(fr, 'pk', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...map,
    body: write('value', 'qv', wgsl`
        let qv = ${x2}[${xAt}];`),
  }))}
}`;
  }
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}
${nonFinite.decl}

${opening}
  ${nonFinite.init}
  ${fr.declare('pk', p.fm, p.fn)}
  ${fr.declare('qk', p.fm, p.fn)}
  ${rowValues}
  // Phase 1: P = LT dW.
  ${square(lay.sL1, lT, (i, r) => wgsl`${r} >= ${i}`, 'ri')}
  ${right(dW, null)}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${product('pk', lay.sL1, upper)}
    }
  }
  workgroupBarrier();
  // Phase 2: P += LA K, Q = LQ K.
  ${square(lay.sL1, lA, (i, r) => wgsl`${r} < ${i}`, 'ir')}
  ${square(lay.sL2, lQ, (i, r) => wgsl`${r} > ${i}`, 'ri')}
  ${right(k('b', 't', 'h', 'x'), k4 && k4('b', 't', 'h', 'x'))}
  ${nonFinite.publish}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${product('pk', lay.sL1, lower)}
      ${product('qk', lay.sL2, upper)}
    }
  }
  workgroupBarrier();
  ${nonFinite.branch(exact, emitEpilogue(fr, 'pk', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...map, alongside: ['qk'],
    body: write('value', 'value_qk'),
  }))}
}`;
}

/** X2 = T^T dW alone, into x2 (the f32 tier's wyX2), for the per-key decay, whose wyDk is
 * tc-bwd-wy-diag.ts's (or the f32 one where no layout fits, or awaiting the GPU check). */
export function emitTcWyX2(ks: KernelSource, fr: Fragments): Wgsl {
  const { C, lay, BK, p, map, hp, dW, tFull, square, right, product, opening, x2Sum } = wyTile(ks, fr);
  const { tok } = hp;
  const x2 = ks.use('X2', 'read_write');
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}
${nonFinite.decl}

${opening}
  ${nonFinite.init}
  ${fr.declare('xk', p.fm, p.fn)}
  ${square(lay.sL1, tFull('r', 'i'), (i, r) => wgsl`${r} >= ${i}`, 'ri')}
  ${right(dW, null)}
  ${nonFinite.publish}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${product('xk', lay.sL1, (i) => wgsl`kk + 16u > ${map.row(i)}`)}
    }
  }
  workgroupBarrier();
  ${nonFinite.branch(wgsl`// The exact path (see the header): X2 over the unmasked terms only.
    for (var el = lid; el < C * ${BK}u; el += WG) {
      let r = el / ${BK}u;
      let x = k0 + el % ${BK}u;
      if (r < rows && x < KD) {
        ${x2Sum}
        ${x2}[${tok()('bh', 't0 + r', 'x', 'KD')}] = x2s;
      }
    }`, emitEpilogue(fr, 'xk', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...map,
    body: wgsl`if (r < rows && k0 + c < KD) { ${x2}[${tok()('bh', 't0 + r', 'k0 + c', 'KD')}] = value; }`,
  }))}
}`;
}

/** The WY backward's X1 = T^T dU and dv = beta X1 (wyDv), T = I + tmat from the forward's t16. */
export function emitTcWyDv(ks: KernelSource, fr: Fragments): Wgsl {
  const BV = tcDuTileV(ks.cfg.V);
  const dU = ks.f32Reader('dU', ks.cfg.V % 4 === 0);
  const x1 = ks.use('X1', 'read_write');
  const gradV = ks.use('grad_v', 'read_write');
  const beta = ks.roleFn('beta');
  // Element (r, c) of the tile in X1 ([BH, T, V]) and in grad_v ([B, T, H, V]).
  const x1At = (s: TransposedScope, r: string, c: string) => wgsl`(${s.bh} * P.T + ${s.t0} + ${r}) * VD + v0 + ${c}`;
  const gvAt = (s: TransposedScope, r: string, c: string) => wgsl`((${s.b} * P.T + ${s.t0} + ${r}) * P.H + ${s.h}) * VD + v0 + ${c}`;
  return emitTransposedProduct(ks, fr, {
    lower: { f16: 't16' },
    rows: (s, at) => valueRowsBlock(ks, s, BV, at, dU, wgsl`bh * P.T * VD + t * VD + cg`),
    store: (s) => wgsl`${x1}[${x1At(s, 'r', 'c')}] = value;
        ${gradV}[${gvAt(s, 'r', 'c')}] = ${beta(s.b, wgsl`${s.t0} + r`, s.h, '0u')} * value;`,
    nan: (s, r, c) => wgsl`${x1}[${x1At(s, r, c)}] = lae_nan();
        ${gradV}[${gvAt(s, r, c)}] = lae_nan();`,
  });
}

/** The WY backward's dA = -T^T M, kept for j < i (wyDA, bwd-wy.ts), T from the forward's t16 and
 * M (C x C, f32) staged as f16: one tile of C columns per chunk. */
export function emitTcWyDA(ks: KernelSource, fr: Fragments): Wgsl {
  const { cc } = bwdFns(ks);
  const M = ks.f32Reader('M', true);
  const dTA = ks.use('dTA', 'read_write');
  const m = wgsl`${cc()('bh', 'n', 'r', 'x')}`;
  return emitTransposedProduct(ks, fr, {
    lower: { f16: 't16' },
    cols: 'C',
    rows: (s, base) => ({
      count: wgsl`C * C`,
      unroll: ks.stagingUnroll,
      index: (four) => wgsl`let r = min(e / C, ${s.rows} - 1u); let x = min(e % C, C - ${four ? 4 : 1}u);`,
      value: M.at(m), wide: M.at4?.(m) ?? null,
      valid: wgsl`e / C < ${s.rows}`,
      arr: 'wh', at: (e) => wgsl`${base}u + ${e}`,
    }),
    store: () => wgsl`${dTA}[${cc()('bh', 'n', 'r', 'c')}] = select(0.0, -value, c < r);`,
    // Only the kept entries take a NaN, as the f32 kernel stores them.
    nan: (_s, r, c) => wgsl`${dTA}[${cc()('bh', 'n', r, c)}] = select(0.0, lae_nan(), ${c} < ${r});`,
  });
}

/** wyDA's grid: one workgroup per (chunk, b*h). */
export const tcWyDAGrid = (): StageShape['grid'] => [[1], ['NT'], ['BH']];
