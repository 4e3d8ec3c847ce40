// The intra-chunk score matrix on the fragment layer (tensor-core tier), shared by the output
// stage (A_qk, with the diagonal) and the delta rule's prep (A_kk, strictly lower):
//   A[i,j] = post(i) * sum_d L[i,d] k[j,d] 2^(GL[i,d] - G[j,d])   for j <= i (j < i if strict)
// Without a per-key decay the factor leaves the sum: the product is L K^T on fragments and the
// epilogue applies 2^(GL_i - G_j), whose exponent is <= 0 wherever it is kept, then the mask by
// select. With a per-key decay (or the bonus form) the factor stays inside the sum, so the chunk
// splits into 16-row blocks (FLA's secondary chunking): an off-diagonal block (I, J), I > J, is
// a fragment product of rows anchored at a = 16 I - 1, the last row before block I,
//   (L_i 2^(GL_i - G_a)) (k_j 2^(G_a - G_j))^T,   both exponents <= 0,
// and the diagonal blocks are summed in f32 with the exact factor per term. The bonus form
// (RWKV6) reads the exclusive cumsum on the query side and sum_d L u k on the diagonal.
// The generalized delta rule's prep computes four anchored products in one pass (FLA's
// chunk_dplr_fwd_intra): two left sides (a, exclusive gate; q, inclusive) against two right
// sides (b, k), sharing the right sides' staged rows, anchored rows and gates.
// Operands are rounded to f16 after their factors are applied; sums and the result stay f32.
import type { KernelSource } from './common.js';
import { emitF16Block, emitStagedLoad } from './staged.js';
import { emitEpilogue, partition, SCRATCH_WORDS, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { joinWgsl, wgsl, type Scope, type Wgsl } from '../wgsl.js';
import { mul, renderIndex, add } from '../index-expr.js';

/** The left operand's role: the queries, the keys (the delta rule's K K^T), or the generalized
 * delta rule's removal side a. */
export type ScoresLeft = 'q' | 'k' | 'a';
/** The right operand's role: the keys, or the generalized delta rule's b. */
export type ScoresRight = 'k' | 'b';

export interface TcScoresOptions {
  readonly left: ScoresLeft;
  /** Absent: 'k'. */
  readonly right?: ScoresRight;
  /** The left side's gate is the exclusive cumsum G_{i-1} (the generalized delta rule's a rows
   * read the state before their token's decay); absent, the inclusive one (exclusive for the
   * bonus form's queries). Exclusive scores are strict. */
  readonly exclusive?: boolean;
  readonly strict: boolean;
  /** Per-row factor, WGSL over `r` (the chunk row). */
  readonly post: (r: string) => string;
  /** Statements storing the final entry `v` (already masked: 0 where not kept) at row r,
   * column c of the chunk; every (r, c) in [0, C)^2 is stored exactly once, masked ones as 0. */
  readonly store: (r: string, c: string, v: string) => string;
  /** K-slab width (16 or 32). */
  readonly slab: number;
  /** Workgroup arrays and the first word this stage may use in each. */
  readonly wh: string; readonly whBase: number;
  readonly wf: string; readonly wfBase: number;
  /** Fragments per epilogue pass (tcScoresWords sizes the scratch for it). */
  readonly perPass: number;
  /** A second product with the same left side and another right operand, computed in the same
   * pass (anchored form only): the left rows, the gates and the diagonal blocks' decay factors
   * are staged and computed once for both (the generalized delta rule's A_ab with A_ak, A_qb
   * with A_qk). */
  readonly also?: { readonly right: ScoresRight; readonly store: (r: string, c: string, v: string) => string };
  /** A second left side multiplied by the same right operands (`right`, and also's where given)
   * in the same pass (anchored form only): its own gate (inclusive unless `exclusive`), mask and
   * row factor, and a store per right operand. The right sides' raw and anchored rows and the
   * gates are staged once for all the products, and each slab step loads the anchored
   * fragments once for all of them (the generalized delta rule's prep: A_ab, A_ak with A_qb,
   * A_qk, as FLA's chunk_dplr_fwd_intra). */
  readonly left2?: {
    readonly left: ScoresLeft; readonly exclusive?: boolean; readonly strict: boolean;
    readonly post: (r: string) => string;
    readonly store: (r: string, c: string, v: string) => string;
    readonly alsoStore?: (r: string, c: string, v: string) => string;
  };
}

/** Whether the scores need the anchored sub-block form. */
export const anchoredScores = (ks: KernelSource) => ks.diag || ks.bonus;

/** Whether the factored scores multiply the keys by themselves (K K^T, the delta rule's prep):
 * then one staged slab is both operands (the right one read column-major) and one gate row
 * serves both sides, which keeps the prep within OCCUPANCY_BUDGET. */
const selfProduct = (left: ScoresLeft, right: ScoresRight = 'k') => left === 'k' && right === 'k';

/** Words of f16 and f32 workgroup memory the scores stage uses for a left operand, slab width
 * and epilogue pass. */
export function tcScoresWords(ks: KernelSource, left: ScoresLeft, slab: number, perPass: number, right: ScoresRight = 'k', paired = false, left2 = false): { f16: number; f32: number } {
  const C = ks.cfg.chunk;
  const sides = selfProduct(left, right) ? 1 : 2;
  if (!anchoredScores(ks)) return { f16: sides * C * slab, f32: scratchWords(perPass) + (ks.decayed ? sides * C : 0) };
  const nb = C / 16;
  const anchoredRows = 8 * nb * (nb - 1);
  // The raw left rows and the gates are padded (anchoredPad) for the f32 diagonal blocks' reads;
  // a paired product (TcScoresOptions.also) stages its right side's raw and anchored rows too,
  // a second left side (left2) its anchored rows and its raw rows, padded as the first's.
  return {
    f16: (3 * C + anchoredRows) * slab + 2 * C + (paired ? (C + anchoredRows) * slab : 0) + (left2 ? 2 * C * slab + 2 * C : 0),
    f32: Math.max(SCRATCH_WORDS, C * (slab + 1) + (ks.bonus ? slab : 0)),
  };
}

/** The names the scores read from their stage: the chunk (b, h, t0, rows), the thread `lid`
 * and its subgroup `sg` (and `lane`, which the fragment layer's loops read). */
export type ScoresScope = Scope<'b' | 'h' | 't0' | 'rows' | 'lid' | 'sg' | 'lane'>;

/** Statements computing the scores of chunk (b, h, t0, rows) and storing every entry through
 * `store`. Ends after a barrier. */
export function emitTcScores(ks: KernelSource, fr: Fragments, s: ScoresScope, o: TcScoresOptions): Wgsl {
  if (!anchoredScores(ks) && (o.also || o.left2)) throw new Error('internal: paired scores are written for the anchored form only');
  return anchoredScores(ks) ? emitAnchored(ks, fr, s, o) : emitFactored(ks, fr, s, o);
}

/** The queries as the products with a state read them, scale q 2^Gq (the exclusive cumsum for
 * the bonus form), at (b, t, h, d), and their vec4 form over d .. d+3 where q has one: for the
 * F16Block stagings of the output stage and the backward's state products. */
export function scaledDecayedQuery(ks: KernelSource): { value: Wgsl; wide: Wgsl | null } {
  const q = ks.roleFn('q');
  const q4 = ks.role4Fn('q');
  const decay = ks.decayed ? wgsl` * exp2(${ks.gqFn()('b', 'h', 't', 't0', 'd')})` : '';
  const decay4 = !ks.decayed ? '' : ks.diag
    ? wgsl` * exp2(vec4<f32>(${joinWgsl([0, 1, 2, 3].map((x) => ks.gqFn()('b', 'h', 't', 't0', renderIndex(add('d', x)))), ', ')}))`
    : wgsl` * exp2(${ks.gqFn()('b', 'h', 't', 't0', '0u')})`;
  return { value: wgsl`P.scale * ${q('b', 't', 'h', 'd')}${decay}`, wide: q4 && wgsl`P.scale * ${q4('b', 't', 'h', 'd')}${decay4}` };
}

/** The exponent G[t, d] of the key side, 0 without decay. */
function gateAt(ks: KernelSource, s: ScoresScope, t: string, d: string): Wgsl {
  return ks.decayed ? ks.gcsFn()(s.b, s.h, t, d) : wgsl`0.0`;
}
/** The exponent on the left side: exclusive where asked (and for the bonus form's queries). */
function gateLeftAt(ks: KernelSource, s: ScoresScope, o: { readonly left: ScoresLeft; readonly exclusive?: boolean }, t: string, d: string): Wgsl {
  if (!ks.decayed) return wgsl`0.0`;
  if (o.exclusive) return ks.gexFn()(s.b, s.h, t, s.t0, d);
  return o.left === 'q' ? ks.gqFn()(s.b, s.h, t, s.t0, d) : ks.gcsFn()(s.b, s.h, t, d);
}

function emitFactored(ks: KernelSource, fr: Fragments, s: ScoresScope, o: TcScoresOptions): Wgsl {
  const { b, h, t0, rows, lid } = s;
  const C = ks.cfg.chunk;
  const SK = o.slab;
  const L = ks.roleFn(o.left);
  const R = ks.roleFn(o.right ?? 'k');
  const L4 = ks.role4Fn(o.left);
  const R4 = ks.role4Fn(o.right ?? 'k');
  const p = partition(C / 16, C / 16);
  const grid = subgroupGrid(p, 'f');
  const self = selfProduct(o.left, o.right);
  const sL = o.whBase;
  const sR = self ? sL : o.whBase + C * SK;
  const scratch = o.wfBase;
  const sGL = o.wfBase + scratchWords(o.perPass);
  const sGR = self ? sGL : sGL + C;
  const mask = o.strict ? 'c < r' : 'c <= r';
  const factor = ks.decayed ? wgsl` * exp2(${o.wf}[${sGL}u + r] - ${o.wf}[${sGR}u + c])` : '';
  return wgsl`{
  ${grid.decl}
  ${fr.declare('sc', p.fm, p.fn)}
  ${ks.decayed ? wgsl`for (var i = ${lid}; i < C; i += WG) {
    let t = ${t0} + min(i, ${rows} - 1u);
    ${o.wf}[${sGL}u + i] = ${gateLeftAt(ks, s, o, 't', '0u')};${self ? '' : wgsl`
    ${o.wf}[${sGR}u + i] = ${gateAt(ks, s, 't', '0u')};`}
  }` : ''}
  for (var d0 = 0u; d0 < KD; d0 += ${SK}u) {
    ${joinWgsl(([[L, L4, sL], [R, R4, sR]] as const).slice(0, self ? 1 : 2).map(([fn, fn4, at]) => emitF16Block({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = ${t0} + min(e / ${SK}u, ${rows} - 1u); let d = min(d0 + e % ${SK}u, KD - ${four ? 4 : 1}u);`,
    value: fn(b, 't', h, 'd'),
    wide: fn4 ? fn4(b, 't', h, 'd') : null,
    valid: wgsl`e / ${SK}u < ${rows} && d0 + e % ${SK}u < KD`,
    arr: o.wh, at: (e) => wgsl`${at}u + ${e}`,
  })), '\n    ')}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SK}u; kk += 16u) {
        ${fr.mma('sc', p.fm, p.fn,
    (i) => ({ arr: o.wh, offset: wgsl`${sL}u + ${renderIndex(mul(grid.block.row(i), 16 * SK))} + kk`, stride: SK }),
    (j) => ({ arr: o.wh, offset: wgsl`${sR}u + ${renderIndex(mul(grid.block.col(j), 16 * SK))} + kk`, stride: SK, colMajor: true }),
    (i, j) => wgsl`${renderIndex(grid.block.row(i))} >= ${renderIndex(grid.block.col(j))}`)}
      }
    }
    workgroupBarrier();
  }
  ${emitEpilogue(fr, 'sc', p.fm, p.fn, {
    scratch: o.wf, scratchBase: scratch, perPass: o.perPass, active: 'factive',
    ...grid.map,
    body: wgsl`var a = 0.0;
      if (${mask} && r < ${rows}) { a = value * ${o.post('r')}${factor}; }
      ${o.store('r', 'c', 'a')}`,
  })}
}`;
}

function emitAnchored(ks: KernelSource, fr: Fragments, s: ScoresScope, o: TcScoresOptions): Wgsl {
  const { b, h, t0, rows, lid, sg } = s;
  const C = ks.cfg.chunk;
  const SK = o.slab;
  const nb = C / 16;
  const L = ks.roleFn(o.left);
  const R = ks.roleFn(o.right ?? 'k');
  const also = o.also ?? null;
  const R2 = also && ks.roleFn(also.right);
  const left2 = o.left2 ?? null;
  const L2 = left2 && ks.roleFn(left2.left);
  const bonus = ks.bonus && o.left === 'q';
  if (left2 && (ks.bonus || !also !== !left2.alsoStore)) throw new Error('internal: a second left side takes no bonus, and a store per right operand');
  // The diagonal blocks read the left gate one row up (G_{i-1}).
  const exclusiveLeft = bonus || o.exclusive === true;
  const pairs: [number, number][] = [];
  for (let I = 1; I < nb; I++) for (let J = 0; J < I; J++) pairs.push([I, J]);
  const slots = Math.ceil(pairs.length / 4);
  const anchoredRows = 8 * nb * (nb - 1);
  // f16: anchored left rows [C][SK], anchored key rows (block I's anchor: rows 0..16I-1, from
  // row 8 I (I - 1)), raw left and raw key rows [C][SK]. f32: G per row and key dim [C][SK]
  // (the scratch after the slab loop), and u's slab.
  const sLa = o.whBase;
  const sKa = sLa + C * SK;
  // The f32 diagonal blocks read the raw left rows and the gates down a column (16 rows, one
  // word apart per lane pair): rows of SK words would put them in one or two banks, a 16-way
  // conflict. Rows one word longer (SK + 2 halves, SK + 1 floats) spread them over 16 banks.
  const rowLr = SK + 2;
  const rowG = SK + 1;
  const sLr = sKa + anchoredRows * SK;
  const sKr = sLr + C * rowLr;
  // The paired product's anchored and raw right rows.
  const sKa2 = sKr + C * SK;
  const sKr2 = sKa2 + anchoredRows * SK;
  // The second left side's anchored and raw rows (after the paired right side's, where there is one).
  const sLa2 = also ? sKr2 + C * SK : sKa2;
  const sLr2 = sLa2 + C * SK;
  const sG = o.wfBase;
  const sU = o.wfBase + C * rowG;
  const gL = (t: string, d: string) => gateLeftAt(ks, s, o, t, d);
  const g = (t: string, d: string) => gateAt(ks, s, t, d);
  // The anchor block of an anchored key row `ra`: I with 8 I (I - 1) <= ra < 8 I (I + 1).
  const anchorOf = (ra: string) => {
    let expr = wgsl`${nb - 1}u`;
    for (let I = nb - 2; I >= 1; I--) expr = wgsl`select(${expr}, ${I}u, ${ra} < ${8 * I * (I + 1)}u)`;
    return expr;
  };
  // Pair p = I (I - 1) / 2 + J, decoded with selects (subgroup-uniform, no arrays).
  const pairOf = (p: string) => {
    let I = wgsl`${Math.max(1, nb - 1)}u`;
    for (let k = nb - 2; k >= 1; k--) I = wgsl`select(${I}, ${k}u, ${p} < ${(k * (k + 1)) / 2}u)`;
    return wgsl`let pI = ${I};\n    let pJ = ${p} - pI * (pI - 1u) / 2u;`;
  };
  const diagMask = (row: string, col: string, strict = o.strict) => (strict ? wgsl`${col} < ${row}` : wgsl`${col} <= ${row}`);
  const mmaSlots: string[] = [];
  // With a second left side: one product step over both left sides' and both right sides'
  // anchored fragments, each loaded once; the results are sp (left, right), sq (left, right2),
  // tp (left2, right) and tq (left2, right2).
  for (let s = 0; left2 && s < slots; s++) {
    const fn = also ? 2 : 1;
    mmaSlots.push(wgsl`{
        let pr = ${s * 4}u + ${sg};
        if (pr < ${pairs.length}u) {
          ${pairOf('pr')}
          for (var kk = 0u; kk < ${SK}u; kk += 16u) {
            ${fr.mma('', 2, fn,
    (i) => ({ arr: o.wh, offset: wgsl`${i === 0 ? sLa : sLa2}u + pI * ${16 * SK}u + kk`, stride: SK }),
    (j) => ({ arr: o.wh, offset: wgsl`${j === 0 ? sKa : sKa2}u + 8u * ${SK}u * pI * (pI - 1u) + pJ * ${16 * SK}u + kk`, stride: SK, colMajor: true }),
    undefined, (i, j) => `${i === 0 ? 's' : 't'}${j === 0 ? 'p' : 'q'}${s}_0_0`)}
          }
        }
      }`);
  }
  for (let s = 0; !left2 && s < slots; s++) {
    mmaSlots.push(wgsl`{
        let pr = ${s * 4}u + ${sg};
        if (pr < ${pairs.length}u) {
          ${pairOf('pr')}
          for (var kk = 0u; kk < ${SK}u; kk += 16u) {
            ${fr.mma(`sp${s}`, 1, 1,
    () => ({ arr: o.wh, offset: wgsl`${sLa}u + pI * ${16 * SK}u + kk`, stride: SK }),
    () => ({ arr: o.wh, offset: wgsl`${sKa}u + 8u * ${SK}u * pI * (pI - 1u) + pJ * ${16 * SK}u + kk`, stride: SK, colMajor: true }))}${also ? wgsl`
            {
            ${fr.mma(`sq${s}`, 1, 1,
    () => ({ arr: o.wh, offset: wgsl`${sLa}u + pI * ${16 * SK}u + kk`, stride: SK }),
    () => ({ arr: o.wh, offset: wgsl`${sKa2}u + 8u * ${SK}u * pI * (pI - 1u) + pJ * ${16 * SK}u + kk`, stride: SK, colMajor: true }))}
            }` : ''}
          }
        }
      }`);
  }
  // An anchored pair's fragment to its block (pI, pJ) of the scores, through `store`.
  const pairEpilogue = (acc: string, store: TcScoresOptions['store'], post = o.post) => emitEpilogue(fr, acc, 1, 1, {
    scratch: o.wf, scratchBase: o.wfBase, active: wgsl`pr < ${pairs.length}u`,
    row: () => 'pI * 16u', col: () => 'pJ * 16u',
    body: wgsl`var a = 0.0;
      if (r < ${rows}) { a = value * ${post('r')}; }
      ${store('r', 'c', 'a')}`,
  });
  const epilogues: string[] = [];
  for (let s = 0; s < slots; s++) {
    epilogues.push(wgsl`{
    let pr = ${s * 4}u + ${sg};
    ${pairOf(wgsl`min(pr, ${Math.max(0, pairs.length - 1)}u)`)}
    ${pairEpilogue(`sp${s}`, o.store)}${also ? wgsl`
    {
    ${pairEpilogue(`sq${s}`, also.store)}
    }` : ''}${left2 ? wgsl`
    {
    ${pairEpilogue(`tp${s}`, left2.store, left2.post)}
    }` : ''}${left2?.alsoStore ? wgsl`
    {
    ${pairEpilogue(`tq${s}`, left2.alsoStore, left2.post)}
    }` : ''}
  }`);
  }
  // The left rows (raw and anchored), the right rows and the gates of the slab.
  const rowsLoad = left2 ? emitStagedLoad({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: wgsl`let i = e / ${SK}u; let t = ${t0} + min(i, ${rows} - 1u); let d = min(d0 + e % ${SK}u, KD - 1u);
        let ta = ${t0} + min(max(i / 16u, 1u) * 16u - 1u, ${rows} - 1u);
        let gt = ${g('t', 'd')}; let gta = ${g('ta', 'd')};`,
    loads: [
      { name: 'l', expr: L(b, 't', h, 'd') }, { name: 'k', expr: R(b, 't', h, 'd') }, { name: 'g', expr: 'gt' },
      { name: 'la', expr: wgsl`${L(b, 't', h, 'd')} * exp2(${o.exclusive ? gL('t', 'd') : 'gt'} - gta)` },
      ...(R2 ? [{ name: 'k2', expr: R2(b, 't', h, 'd') }] : []),
      { name: 'l2', expr: L2!(b, 't', h, 'd') },
      { name: 'la2', expr: wgsl`${L2!(b, 't', h, 'd')} * exp2(${left2.exclusive ? gateLeftAt(ks, s, left2, 't', 'd') : 'gt'} - gta)` },
    ],
    storeIndex: wgsl`let i = e / ${SK}u; let dl = e % ${SK}u;`,
    valid: wgsl`i < ${rows} && d0 + dl < KD`,
    store: (v) => wgsl`${o.wh}[${sLr}u + i * ${rowLr}u + dl] = f16(${v('l')}); ${o.wh}[${sKr}u + e] = f16(${v('k')}); ${o.wf}[${sG}u + i * ${rowG}u + dl] = ${v('g')};
          ${o.wh}[${sLa}u + e] = f16(select(0.0, ${v('la')}, i >= 16u));${R2 ? wgsl` ${o.wh}[${sKr2}u + e] = f16(${v('k2')});` : ''}
          ${o.wh}[${sLr2}u + i * ${rowLr}u + dl] = f16(${v('l2')}); ${o.wh}[${sLa2}u + e] = f16(select(0.0, ${v('la2')}, i >= 16u));`,
  }) : emitStagedLoad({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: wgsl`let i = e / ${SK}u; let t = ${t0} + min(i, ${rows} - 1u); let d = min(d0 + e % ${SK}u, KD - 1u);
        let ta = ${t0} + min(max(i / 16u, 1u) * 16u - 1u, ${rows} - 1u);`,
    loads: [
      { name: 'l', expr: L(b, 't', h, 'd') }, { name: 'k', expr: R(b, 't', h, 'd') }, { name: 'g', expr: g('t', 'd') },
      { name: 'la', expr: wgsl`${L(b, 't', h, 'd')} * exp2(${gL('t', 'd')} - ${g('ta', 'd')})` },
      ...(R2 ? [{ name: 'k2', expr: R2(b, 't', h, 'd') }] : []),
    ],
    storeIndex: wgsl`let i = e / ${SK}u; let dl = e % ${SK}u;`,
    valid: wgsl`i < ${rows} && d0 + dl < KD`,
    store: (v) => wgsl`${o.wh}[${sLr}u + i * ${rowLr}u + dl] = f16(${v('l')}); ${o.wh}[${sKr}u + e] = f16(${v('k')}); ${o.wf}[${sG}u + i * ${rowG}u + dl] = ${v('g')};
          ${o.wh}[${sLa}u + e] = f16(select(0.0, ${v('la')}, i >= 16u));${R2 ? wgsl` ${o.wh}[${sKr2}u + e] = f16(${v('k2')});` : ''}`,
  });
  // The gate of row i on a left side, G_{i-1} (exclusive) or G_i, at the slab's column dd.
  const gateRow = (exclusive: boolean) => (exclusive ? wgsl`${o.wf}[${sG}u + (max(i, 1u) - 1u) * ${rowG}u + dd]` : wgsl`${o.wf}[${sG}u + i * ${rowG}u + dd]`);
  // Diagonal blocks in f32, both left sides where there are two: each term's right row, gate and
  // key read once for all the products (min(.., 0) as below).
  const diagonal = left2 ? wgsl`// Diagonal blocks in f32: thread (block, row, half) sums 8 columns, reusing its row's loads.
    if (${lid} < ${nb * 32}u) {
      let i = (${lid} / 32u) * 16u + (${lid} % 32u) / 2u;
      let jb = (${lid} / 32u) * 16u + (${lid} % 2u) * 8u;
      for (var dd = 0u; dd < ${SK}u; dd++) {
        let ql = f32(${o.wh}[${sLr}u + i * ${rowLr}u + dd]);
        let gi = ${gateRow(exclusiveLeft)};
        let ql2 = f32(${o.wh}[${sLr2}u + i * ${rowLr}u + dd]);
        let gi2 = ${gateRow(left2.exclusive === true)};
        for (var x = 0u; x < 8u; x++) {
          let j = jb + x;
          let gj = ${o.wf}[${sG}u + j * ${rowG}u + dd];
          // min(.., 0) keeps the masked terms (j > i) finite; they are dropped at the store.
          let f = exp2(min(gi - gj, 0.0));
          let f2 = exp2(min(gi2 - gj, 0.0));
          let kj = f32(${o.wh}[${sKr}u + j * ${SK}u + dd]);
          dgv[x] += ql * kj * f;
          dgt[x] += ql2 * kj * f2;${also ? wgsl`
          let kj2 = f32(${o.wh}[${sKr2}u + j * ${SK}u + dd]);
          dgw[x] += ql * kj2 * f;
          dgu[x] += ql2 * kj2 * f2;` : ''}
        }
      }
    }` : wgsl`// Diagonal blocks in f32: thread (block, row, half) sums 8 columns, reusing its row's loads.
    if (${lid} < ${nb * 32}u) {
      let i = (${lid} / 32u) * 16u + (${lid} % 32u) / 2u;
      let jb = (${lid} / 32u) * 16u + (${lid} % 2u) * 8u;
      for (var dd = 0u; dd < ${SK}u; dd++) {
        let ql = f32(${o.wh}[${sLr}u + i * ${rowLr}u + dd]);
        let gi = ${exclusiveLeft ? wgsl`${o.wf}[${sG}u + (max(i, 1u) - 1u) * ${rowG}u + dd]` : wgsl`${o.wf}[${sG}u + i * ${rowG}u + dd]`};
        for (var x = 0u; x < 8u; x++) {
          let j = jb + x;
          // min(.., 0) keeps the masked terms (j > i) finite; they are dropped at the store.
          let f = ${bonus ? wgsl`select(exp2(min(gi - ${o.wf}[${sG}u + j * ${rowG}u + dd], 0.0)), ${o.wf}[${sU}u + dd], i == j)` : wgsl`exp2(min(gi - ${o.wf}[${sG}u + j * ${rowG}u + dd], 0.0))`};
          dgv[x] += ql * f32(${o.wh}[${sKr}u + j * ${SK}u + dd]) * f;${also ? wgsl`
          dgw[x] += ql * f32(${o.wh}[${sKr2}u + j * ${SK}u + dd]) * f;` : ''}
        }
      }
    }`;
  return wgsl`{
  ${joinWgsl(Array.from({ length: slots }, (_, x) => fr.declare(`sp${x}`, 1, 1)), '\n  ')}${also ? wgsl`
  ${joinWgsl(Array.from({ length: slots }, (_, x) => fr.declare(`sq${x}`, 1, 1)), '\n  ')}` : ''}${left2 ? wgsl`
  ${joinWgsl(Array.from({ length: slots }, (_, x) => fr.declare(`tp${x}`, 1, 1)), '\n  ')}` : ''}${left2 && also ? wgsl`
  ${joinWgsl(Array.from({ length: slots }, (_, x) => fr.declare(`tq${x}`, 1, 1)), '\n  ')}` : ''}
  var dgv: array<f32, 8>;${also ? `
  var dgw: array<f32, 8>;` : ''}${left2 ? `
  var dgt: array<f32, 8>;` : ''}${left2 && also ? `
  var dgu: array<f32, 8>;` : ''}
  for (var d0 = 0u; d0 < KD; d0 += ${SK}u) {
    ${rowsLoad}
    ${anchoredRows ? emitStagedLoad({
    count: wgsl`${anchoredRows * SK}u`,
    unroll: ks.stagingUnroll,
    index: wgsl`let ra = e / ${SK}u; let aI = ${anchorOf('ra')}; let j = ra - 8u * aI * (aI - 1u);
        let t = ${t0} + min(j, ${rows} - 1u); let ta = ${t0} + min(aI * 16u - 1u, ${rows} - 1u); let d = min(d0 + e % ${SK}u, KD - 1u);`,
    loads: [
      { name: 'ka', expr: wgsl`${R(b, 't', h, 'd')} * exp2(${g('ta', 'd')} - ${g('t', 'd')})` },
      ...(R2 ? [{ name: 'ka2', expr: wgsl`${R2(b, 't', h, 'd')} * exp2(${g('ta', 'd')} - ${g('t', 'd')})` }] : []),
    ],
    storeIndex: wgsl`let ra = e / ${SK}u; let aI = ${anchorOf('ra')}; let j = ra - 8u * aI * (aI - 1u);`,
    valid: wgsl`j < ${rows} && aI * 16u - 1u < ${rows} && d0 + e % ${SK}u < KD`,
    store: (v) => wgsl`${o.wh}[${sKa}u + e] = f16(${v('ka')});${R2 ? wgsl` ${o.wh}[${sKa2}u + e] = f16(${v('ka2')});` : ''}`,
  }) : ''}
    ${bonus ? wgsl`if (${lid} < ${SK}u) { let d = d0 + ${lid}; var x = 0.0; if (d < KD) { x = ${ks.roleFn('u')('0u', '0u', h, 'd')}; } ${o.wf}[${sU}u + ${lid}] = x; }` : ''}
    workgroupBarrier();
    ${joinWgsl(mmaSlots, '\n    ')}
    ${diagonal}
    workgroupBarrier();
  }
  // Blocks above the diagonal are zero; the diagonal blocks come from dgv, the rest from the pairs.
  for (var el = ${lid}; el < C * C; el += WG) {
    let r = el / C;
    let c = el % C;
    if (c / 16u > r / 16u) { ${o.store('r', 'c', '0.0')}${also ? wgsl` ${also.store('r', 'c', '0.0')}` : ''}${left2 ? wgsl` ${left2.store('r', 'c', '0.0')}` : ''}${left2?.alsoStore ? wgsl` ${left2.alsoStore('r', 'c', '0.0')}` : ''} }
  }
  if (${lid} < ${nb * 32}u) {
    let r = (${lid} / 32u) * 16u + (${lid} % 32u) / 2u;
    for (var x = 0u; x < 8u; x++) {
      let c = (${lid} / 32u) * 16u + (${lid} % 2u) * 8u + x;
      var a = 0.0;
      if (${diagMask('r', 'c')} && r < ${rows}) { a = dgv[x] * ${o.post('r')}; }
      ${o.store('r', 'c', 'a')}${also ? wgsl`
      var a2 = 0.0;
      if (${diagMask('r', 'c')} && r < ${rows}) { a2 = dgw[x] * ${o.post('r')}; }
      ${also.store('r', 'c', 'a2')}` : ''}${left2 ? wgsl`
      var a3 = 0.0;
      if (${diagMask('r', 'c', left2.strict)} && r < ${rows}) { a3 = dgt[x] * ${left2.post('r')}; }
      ${left2.store('r', 'c', 'a3')}` : ''}${left2?.alsoStore ? wgsl`
      var a4 = 0.0;
      if (${diagMask('r', 'c', left2.strict)} && r < ${rows}) { a4 = dgu[x] * ${left2.post('r')}; }
      ${left2.alsoStore('r', 'c', 'a4')}` : ''}
    }
  }
  ${joinWgsl(epilogues, '\n  ')}
  workgroupBarrier();
}`;
}
