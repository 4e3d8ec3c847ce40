// dq and dk of a per-key decay (decay 'diagonal': gla, kda, rwkv6) on the fragment layer
// (tensor-core tier), per (K-tile, chunk, b*h): the f32 tier's per-element contractions
// (bwd-dqk.ts's emitBwdDqContraction, emitBwdDkContraction) as sub-block products, the way the
// forward's scores take a per-key gate (tc-scores.ts, anchored form; FLA's chunk_gla does the
// same with sub-chunks). With G the chunk's gate cumsum (log2), Gq the query side's (G, or the
// exclusive G_{i-1} for the bonus form), dA from bwdDScores and F(i,j,d) = 2^(Gq_i,d - G_j,d):
//   dq_i = scale (sum_{j<=i} dA[i,j] k_j F(i,j) + 2^Gq_i (S_n do_i))
//   dk_i = scale sum_{j>=i} dA[j,i] q_j F(j,i) + 2^(G_last - G_i) (dS'_n u_i)
// The factor depends on the output column d, not on the summed token j, so it cannot leave the
// sum as a row scaling; the chunk splits into 16-row blocks instead. For row block I of dq and a
// column block J < I, anchored at a = 16 I - 1 (the last row before block I):
//   dq[I] += 2^(Gq_i - G_a) (dA[I,J] (k_j 2^(G_a - G_j))_{j in J})
// both exponents <= 0 (G falls along the chunk), the right operand formed in f32 and rounded to
// f16 (one anchored copy of rows 0..16I-1 per block I, as the forward's keys), the left one dA
// rounded to f16, the sum f32, and the row factor applied in f32 in the epilogue. dk is the
// mirror image: for row block I and J > I, anchored at a' = 16 I + 15 (the last row of block I),
//   dk[I] += 2^(G_a' - G_i) (dA[J,I]^T (q_j 2^(Gq_j - G_a'))_{j in J}).
// The diagonal blocks (J = I) are summed per element in f32 in the epilogue over the unmasked
// terms only, with the exact factor per term (rwkv6's bonus u_d on the diagonal itself, kept
// apart for dbq / dbk); the state terms, the stores and the per-token gate terms (dbq = q . dq,
// dbk = chunk end - k . dk, bwd-dg.ts) follow there as in the contractions.
// Non-finite values: every fragment product pairs a row block with column blocks strictly before
// it (dq) or after it (dk), all unmasked terms of the sums, so a NaN or Inf at token j reaches
// only the outputs whose sums hold it; the diagonal blocks skip their masked terms.
// The diagonal blocks read dA, the raw rows and G in f32: they hold the largest terms (the
// nearest tokens, least decayed), and with them rounded to f16 (as the forward's diagonal blocks
// round q and k) dq's error was 5x the f32 tier's and dg's 2x (lavapipe, gla at chunk 64), since
// dg takes q . dq - k . dk, whose diagonal terms cancel only where both use the same k and q.
// Layout (tcDqkLayout): the chunk's dA blocks below the diagonal once per workgroup, f16, packed
// 16 x 16 blocks (block (I, J), J < I, at I (I - 1) / 2 + J), and its diagonal blocks, f32; then
// per key slab of SK columns the anchored rows (8 nb (nb - 1) rows of SK, nb = C / 16; f16), and
// the raw k (dq) or q (dk) rows and G (f32), which the epilogue reads. The epilogue's scratch
// (the subgroup-matrix lowering's) comes first in the f32 array. Storage: what the contractions
// bind (daqk, gcum, q, k, u with the bonus, dinter, grad_q or grad_k, dbq or dbk), 7 or 8, one
// more with packed sequences (the chunk table, which codegen/fit.ts packs as for the contraction).
// Where no layout fits the budget (chunk 64 within 16 KiB), the stage keeps the f32 contraction
// (codegen/backward.ts). The sub-block pieces (dqkBlocks), the layout and the phased staging of
// the forms below (dqkPhased: its 'pipelined' skeleton) also serve kda's wyDk, whose two sums are
// dq's and dk's with dTA for dA (tc-bwd-wy-diag.ts), whatever dqkForm says (the forms are dq's
// and dk's alone).
// Forms (the tuning knob dqkForm, plan.ts's DQK_FORMS; emitTcBwdDqkForm): the first, 'staged'
// (emitTcBwdDqk), took 0.72 ms (dq) and 0.93 (dk) on the H200 at (1,32,4096,128,128), chunk 64,
// for ~0.4 GB moved and ~2 GFLOP: latency-bound at two workgroups (8 subgroups) per SM. Per
// workgroup it waits on storage twice per slab (raw rows, then anchored rows) and, in the
// epilogue, up to once per element (state term, own q or k, dbk; unless the compiler hoists the
// next element's loads, which dk's store to dbk between them likely prevents: a guess for why dk
// is slower, unmeasured). The other forms keep layout, products and sums (bit for bit the same
// results) and wait on storage once per slab or less: see emitTcBwdDqkForm. Measured on the H200
// (bench/raw/h200-2026-12-03-s8-r3-forms.txt): 'pipelined' 0.49 / 0.54 ms, the default since.
import type { KernelSource } from './common.js';
import { ConfigError, DEFAULT_DQK_FORM, type CodegenConfig, type StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { emitEpilogue, firstFit, fragCeil, partition, scratchWords, subgroupGrid, type Fragments } from './fragments.js';
import { emitF16Block, emitStagedLoad } from './staged.js';
import { joinWgsl, wgsl, type Wgsl, type WgslFn } from '../wgsl.js';
import { add, mul, renderIndex, renderIndexOperand } from '../index-expr.js';

/** Key columns per workgroup. */
export const tcDqkTileK = (K: number) => Math.min(64, fragCeil(K));

export interface DqkLayout {
  /** Key columns per workgroup and per slab (SK divides BK). */
  readonly BK: number; readonly SK: number;
  /** f16: dA's blocks below the diagonal, the anchored rows. */
  readonly sDA: number; readonly sAnch: number; readonly f16: number;
  /** f32: the epilogue's scratch, then G, the raw rows, dA's diagonal blocks and the kernel's
   * own words per chunk row (sRow: none here; kda's wyDk keeps beta there, tc-bwd-wy-diag.ts). */
  readonly sG: number; readonly sRaw: number; readonly sDiag: number; readonly sRow: number; readonly f32: number;
}

/** The widest slab that fits the first budget any fits (firstFit), or null where none fits the
 * last: the stage then keeps the f32 contraction. At chunk 64 and K >= 64: 22 KiB at SK = 16
 * (within the 24 KiB budget, so the default budgets take it), 33 KiB at 32 (within 48 KiB:
 * fragmentMemory 49152 takes it, one workgroup per SM; checked on the portable lowering in the
 * same code paths at chunk 32, SK = 64, two row blocks per subgroup), 55 KiB at 64 (fits no
 * tier). The form 'single' takes BK = SK (SK <= 32: 22 KiB at 16, 33 KiB at 32). `perRow`: f32
 * words per chunk row the kernel keeps past the diagonal blocks (C of them each). */
export function tcDqkLayout(cfg: CodegenConfig, perRow = 0): DqkLayout | null {
  const C = cfg.chunk;
  const nb = C / 16;
  const BK = tcDqkTileK(cfg.K);
  // The form 'single' takes key tiles as wide as the slab (one slab per workgroup), of at most 32
  // keys: at chunk 64, 48 would give each subgroup three column fragments, a partition no
  // adapter of the tests (32 KiB) can run.
  const single = cfg.dqkForm === 'single';
  const layouts = [64, 48, 32, 16].filter((SK) => SK <= BK && (single ? SK <= 32 : BK % SK === 0)).map((SK): DqkLayout => {
    const sDA = 0;
    const sAnch = sDA + 128 * nb * (nb - 1);
    const sG = scratchWords(1);
    const sRaw = sG + C * SK;
    const sDiag = sRaw + C * SK;
    const sRow = sDiag + 256 * nb;
    // (At chunk 16 there are no products: the f16 array is a stub of 16 bytes.)
    return { BK: single ? SK : BK, SK, sDA, sAnch, f16: Math.max(8, sAnch + 8 * nb * (nb - 1) * SK), sG, sRaw, sDiag, sRow, f32: sRow + perRow * C };
  });
  try {
    return firstFit(cfg, layouts, () => new ConfigError('no dq / dk layout fits'));
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
}

/** The opening of a kernel per (K-tile, chunk, b*h) on the fragment layer (here and
 * tc-bwd-dqk-inter.ts): its workgroup arrays (`lay`'s f16 and f32 words), the entry point, the
 * key tile's first column k0 (tiles of BK) and the subgroups' grid (`gridDecl`). */
export const keyTileOpening = (ks: KernelSource, fr: Fragments, lay: { readonly f16: number; readonly f32: number }, BK: number, gridDecl: string): Wgsl => wgsl`
${fr.workspace(lay.f16, lay.f32)}

${ks.chunkMain(fr.builtins())}
  let kt = wid.x;
  ${fr.opening()}
  let k0 = kt * ${BK}u;
  ${gridDecl}`;

/** Per (K-tile, chunk, b*h). */
export const tcBwdDqkGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.K / (tcDqkLayout(ks.cfg)?.BK ?? tcDqkTileK(ks.cfg.K)))], ['NT'], ['BH']];

/** The largest I in [lo, hi] with start(I) <= x (x a WGSL u32, start increasing), by selects
 * (no arrays: the index stays in registers). */
function blockOf(x: string, lo: number, hi: number, start: (I: number) => number): Wgsl {
  let expr = wgsl`${hi}u`;
  for (let I = hi - 1; I >= lo; I--) expr = wgsl`select(${expr}, ${I}u, ${x} < ${start(I + 1)}u)`;
  return expr;
}

/** Which column blocks a row block I is paired with: 'before' (dq's: J < I, anchored at
 * a = 16 I - 1, the right operand's exponents G_a - G_j) or 'after' (dk's: J > I, anchored at
 * a' = 16 I + 15, exponents Gq_j - G_a', dA's blocks read transposed). */
export type BlockSide = 'before' | 'after';

/** The sub-block form over a layout, for dq / dk here and kda's wyDk (tc-bwd-wy-diag.ts): the
 * subgroups' partition of the row blocks by slab columns, the staging of dA's blocks and of the
 * anchored rows, the products, and the epilogue's reads of the slab (with `bI`, `c`, `rows` in
 * scope there). Pure but for the index helper cc, declared where the dA blocks are staged. */
export function dqkBlocks(ks: KernelSource, lay: DqkLayout) {
  const { SK, sDA, sAnch, sG, sRaw, sDiag } = lay;
  const C = ks.cfg.chunk;
  const nb = C / 16;
  const anchoredRows = 8 * nb * (nb - 1);
  const { cc } = bwdFns(ks);
  const p = partition(nb, SK / 16);
  const grid = subgroupGrid(p, 'f');
  const map = grid.map;
  // First anchored row of row block I: 'before' block I holds rows 0..16I-1 (I >= 1), 'after'
  // block I rows 16(I+1)..C-1 (I <= nb - 2).
  const startQ = (I: number) => 8 * I * (I - 1);
  const startK = (I: number) => 16 * (I * (nb - 1) - (I * (I - 1)) / 2);
  /** Anchored element e of `side`: `index`, statements declaring ra (its row in the region), aI
   * (its row block) and j (its token row in the chunk); `anchor`, its anchor row; `valid`,
   * whether it is staged (else 0). */
  const anchorAt = (side: BlockSide) => {
    const anchorOf = !anchoredRows ? '' : side === 'before' ? blockOf('ra', 1, nb - 1, startQ) : blockOf('ra', 0, nb - 2, startK);
    const startW = side === 'before' ? wgsl`8u * aI * (aI - 1u)` : wgsl`16u * (aI * ${nb - 1}u - aI * (aI - 1u) / 2u)`;
    const at = side === 'before'
      ? { row: wgsl`ra - ${startW}`, anchor: wgsl`aI * 16u - 1u`, valid: wgsl`j < rows && aI * 16u - 1u < rows` }
      : { row: wgsl`aI * 16u + 16u + ra - ${startW}`, anchor: wgsl`aI * 16u + 15u`, valid: wgsl`j < rows` };
    return { anchor: at.anchor, valid: at.valid, index: wgsl`let ra = e / ${SK}u; let aI = ${anchorOf}; let j = ${at.row};` };
  };
  /** Stages the anchored rows of `side`: `value` (an f32 over t, the row's token, ta, its
   * anchor's, and d, the key column) rounded to f16. Every exponent in it must be <= 0. */
  const anchored = (side: BlockSide, value: Wgsl): Wgsl => {
    if (!anchoredRows) return '' as Wgsl;
    const at = anchorAt(side);
    const anchorIndex = at.index;
    return emitF16Block({
      count: wgsl`${anchoredRows * SK}u`,
      unroll: ks.stagingUnroll,
      index: () => wgsl`${anchorIndex}
        let t = t0 + min(j, rows - 1u); let ta = t0 + min(${at.anchor}, rows - 1u); let d = min(k0 + d0 + e % ${SK}u, KD - 1u);`,
      value, wide: null,
      storeIndex: anchorIndex,
      valid: wgsl`${at.valid} && k0 + d0 + e % ${SK}u < KD`,
      arr: 'wh', at: (e) => wgsl`${sAnch}u + ${e}`,
    });
  };
  // dA's element e below the diagonal (block blk = I (I - 1) / 2 + J for J < I, row-major within),
  // and in the diagonal blocks.
  const blockIndex = wgsl`let blk = e / 256u; let aI = ${nb > 1 ? blockOf('blk', 1, nb - 1, (I) => (I * (I - 1)) / 2) : '1u'};
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;`;
  const diagIndex = wgsl`let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;`;
  /** dA's blocks below the diagonal (f16, the products' left operands). */
  const lower = (dA: string): Wgsl => {
    if (nb <= 1) return '' as Wgsl;
    return emitF16Block({
      count: wgsl`${128 * nb * (nb - 1)}u`,
      unroll: ks.stagingUnroll,
      index: () => blockIndex,
      value: wgsl`${dA}[${cc()('bh', 'n', 'row', 'col')}]`, wide: null,
      storeIndex: blockIndex,
      valid: wgsl`row < rows`,
      arr: 'wh', at: (e) => wgsl`${sDA}u + ${e}`,
    });
  };
  /** dA's diagonal blocks (f32, the epilogue's exact sums), on and below the diagonal. */
  const diagonal = (dA: string): Wgsl => {
    return emitStagedLoad({
      count: wgsl`${256 * nb}u`,
      unroll: ks.stagingUnroll,
      index: diagIndex,
      loads: [{ name: 'a', expr: wgsl`${dA}[${cc()('bh', 'n', 'row', 'col')}]` }],
      storeIndex: diagIndex,
      valid: wgsl`row < rows && col <= row`,
      store: (v) => wgsl`wf[${sDiag}u + e] = ${v('a')};`,
    });
  };
  // The slab's element e at key column k0 + dd: its token t and column d (clamped), and whether it
  // lies in the chunk and the keys.
  const slabIndex = (dd: string) => wgsl`let t = t0 + min(e / ${SK}u, rows - 1u); let d = min(${renderIndex(add('k0', dd))} + e % ${SK}u, KD - 1u);`;
  const slabValid = (dd: string) => wgsl`e / ${SK}u < rows && ${renderIndex(add('k0', dd))} + e % ${SK}u < KD`;
  /** The slab's raw rows (`raw`, an f32 over b, t, h, d) and G, f32, for the epilogue's exact
   * sums. */
  const rows = (raw: Wgsl): Wgsl => emitStagedLoad({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: slabIndex('d0'),
    loads: [{ name: 'x', expr: raw }, { name: 'g', expr: ks.gcsFn()('b', 'h', 't', 'd') }],
    storeIndex: '',
    valid: slabValid('d0'),
    store: (v) => wgsl`wf[${sRaw}u + e] = ${v('x')}; wf[${sG}u + e] = ${v('g')};`,
  });
  // The phased staging's blocks (PhaseBlock; the forms other than 'staged', and kda's wyDk).
  /** dA's blocks below the diagonal, as `lower` stages them, or each block transposed (so that
   * dk's left operands, dA[J,I]^T, load row-major). */
  const lowerBlock = (dA: string, transposed: boolean): PhaseBlock => {
    const daAt = transposed ? wgsl`(e / 256u) * 256u + (e % 16u) * 16u + (e % 256u) / 16u` : wgsl`e`;
    return {
      tag: 'da', count: 128 * nb * (nb - 1), index: blockIndex, loads: [{ name: 'a', expr: wgsl`${dA}[${cc()('bh', 'n', 'row', 'col')}]` }],
      storeIndex: blockIndex, valid: wgsl`row < rows`, store: (v) => wgsl`wh[${sDA}u + ${daAt}] = f16(select(0.0, ${v('a')}, valid));`,
    };
  };
  /** dA's diagonal blocks, as `diagonal` stages them. */
  const diagBlock = (dA: string): PhaseBlock => ({
    tag: 'dd', count: 256 * nb, index: diagIndex, loads: [{ name: 'a', expr: wgsl`${dA}[${cc()('bh', 'n', 'row', 'col')}]` }],
    storeIndex: diagIndex, valid: wgsl`row < rows && col <= row`, store: (v) => wgsl`wf[${sDiag}u + e] = select(0.0, ${v('a')}, valid);`,
  });
  /** The slab at key column k0 + dd (`raw` over b, t, h, d, and G, `gate` ks.gcsFn()), as `rows`
   * stages them. */
  const rowsBlock = (tag: string, dd: string, raw: Wgsl, gate: WgslFn<4>): PhaseBlock => ({
    tag, count: C * SK,
    index: slabIndex(dd),
    loads: [{ name: 'x', expr: raw }, { name: 'g', expr: gate('b', 'h', 't', 'd') }],
    storeIndex: wgsl``, valid: slabValid(dd),
    store: (v) => wgsl`wf[${sRaw}u + e] = select(0.0, ${v('x')}, valid); wf[${sG}u + e] = select(0.0, ${v('g')}, valid);`,
  });
  // One accumulator block per fragment row i of the subgroup (row block bI): each takes its own
  // anchored operand.
  const bI = (i: number) => renderIndexOperand(grid.block.row(i));
  /** The products of `side` into accumulators `<acc><i>` (1 x p.fn fragments each), i < p.fm;
   * `transposed`: dA's blocks staged transposed (lowerBlock), so that 'after' reads them row-major. */
  const products = (fr: Fragments, side: BlockSide, acc: string, transposed = false): Wgsl => joinWgsl(Array.from({ length: p.fm }, (_, i) => side === 'before'
    ? wgsl`for (var kk = 0u; kk < ${bI(i)} * 16u; kk += 16u) {
        ${fr.mma(`${acc}${i}`, 1, p.fn,
      () => ({ arr: 'wh', offset: wgsl`${sDA}u + (${bI(i)} * (${bI(i)} - 1u) / 2u + kk / 16u) * 256u`, stride: 16 }),
      (j) => ({ arr: 'wh', offset: wgsl`${sAnch}u + (8u * ${bI(i)} * (${bI(i)} - 1u) + kk) * ${SK}u + ${map.col(j)}`, stride: SK }))}
      }`
    : wgsl`for (var kk = ${bI(i)} * 16u + 16u; kk < C; kk += 16u) {
        ${fr.mma(`${acc}${i}`, 1, p.fn,
      () => ({ arr: 'wh', offset: wgsl`${sDA}u + ((kk / 16u) * (kk / 16u - 1u) / 2u + ${bI(i)}) * 256u`, stride: 16, colMajor: !transposed }),
      (j) => ({ arr: 'wh', offset: wgsl`${sAnch}u + (16u * (${bI(i)} * ${nb - 1}u - ${bI(i)} * (${bI(i)} - 1u) / 2u) + kk - ${bI(i)} * 16u - 16u) * ${SK}u + ${map.col(j)}`, stride: SK }))}
      }`), '\n      ');
  return {
    p, grid, map, anchored, anchorAt, lower, diagonal, rows, lowerBlock, diagBlock, rowsBlock, products,
    /** The epilogue's reads of the slab at column c: G at a row, dA in row block bI's diagonal
     * block (rows and columns within it), the raw rows. */
    G: (row: string) => wgsl`wf[${sG}u + (${row}) * ${SK}u + c]`,
    dAd: (row: string, col: string) => wgsl`wf[${sDiag}u + bI * 256u + (${row} % 16u) * 16u + ${col} % 16u]`,
    R: (row: string) => wgsl`wf[${sRaw}u + (${row}) * ${SK}u + c]`,
    /** The anchor row of row block bI's products: the row before the block ('before'; block 0
     * has none and its value is 0), its last row ('after'; the chunk's last where it is partial). */
    anchorRow: (side: BlockSide) => (side === 'before' ? 'max(bI * 16u, 1u) - 1u' : 'min(bI * 16u + 15u, rows - 1u)'),
  };
}

/** The first form ('staged') or one of the others (CodegenConfig.dqkForm; DEFAULT_DQK_FORM without it). */
const emitterOf = (ks: KernelSource) => ((ks.cfg.dqkForm ?? DEFAULT_DQK_FORM) === 'staged' ? emitTcBwdDqk : emitTcBwdDqkForm);
export const emitTcBwdDq = (ks: KernelSource, fr: Fragments): Wgsl => emitterOf(ks)(ks, fr, 'q');
export const emitTcBwdDk = (ks: KernelSource, fr: Fragments): Wgsl => emitterOf(ks)(ks, fr, 'k');

function emitTcBwdDqk(ks: KernelSource, fr: Fragments, side: 'q' | 'k'): Wgsl {
  const lay = tcDqkLayout(ks.cfg);
  if (!lay || !ks.diag) throw new Error('internal: bwdDq / bwdDk on fragments take a per-key decay and a layout that fits');
  const { BK, SK, sG, sRaw } = lay;
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  const blocks = dqkBlocks(ks, lay);
  const { p, grid, map } = blocks;
  const daqk = ks.use('daqk', 'read');
  const g = ks.gcsFn();
  // dq sums over keys, dk over queries; the other role is the per-token gate term's.
  const raw = ks.roleFn(side === 'q' ? 'k' : 'q');
  const same = ks.roleFn(side);
  const blockSide: BlockSide = side === 'q' ? 'before' : 'after';
  // Every exponent <= 0: dq's rows j <= a, dk's rows j > a' (Gq_j <= G_a').
  const anchoredValue = side === 'q'
    ? wgsl`${raw('b', 't', 'h', 'd')} * exp2(${g('b', 'h', 'ta', 'd')} - ${g('b', 'h', 't', 'd')})`
    : wgsl`${raw('b', 't', 'h', 'd')} * exp2(${ks.gqFn()('b', 'h', 't', 't0', 'd')} - ${g('b', 'h', 'ta', 'd')})`;
  const stageAnchored = blocks.anchored(blockSide, anchoredValue);
  const stageDA = blocks.lower(daqk);
  const stageDiag = blocks.diagonal(daqk);
  const stageRows = blocks.rows(raw('b', 't', 'h', 'd'));
  const products = blocks.products(fr, blockSide, 'a');
  // The epilogue's reads of the slab: G and Gq at a row, dA in row r's diagonal block, raw rows.
  const { G, dAd, R } = blocks;
  const GQ = (row: string) => (ks.bonus ? wgsl`select(0.0, ${G(`max(${row}, 1u) - 1u`)}, ${row} > 0u)` : G(row));
  const at = tok()('bh', 't', 'kx', 'KD');
  const uu = ks.bonus ? ks.roleFn('u')('0u', '0u', 'h', 'kx') : '';
  // The diagonal term j = i: F = 1 (Gq_i = G_i), or the bonus u, which dbq / dbk leave out.
  const withOwn = (sum: string) => (ks.bonus ? sum : wgsl`${sum} + own`);
  const bonusTerm = ks.bonus ? wgsl` + P.scale * own * ${uu}` : '';
  const body = side === 'q' ? wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gqr = ${GQ('r')};
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += ${dAd('r', 'j')} * ${R('j')} * exp2(gqr - ${G('j')}); }
        let own = ${dAd('r', 'r')} * ${R('r')};
        // Block 0 has no pairs (value is 0); its anchor row would not exist.
        let pairs = select(0.0, value * exp2(gqr - ${G(blocks.anchorRow('before'))}), bI > 0u);
        let dqn = P.scale * (${withOwn('pairs + dg')}) + P.scale * exp2(gqr) * ${hp.inter('dqi', 'read', at)};
        ${ks.use('grad_q', 'read_write')}[${bth()('b', 't', 'h', 'kx', 'KD')}] = dqn${bonusTerm};
        ${ks.use('dbq', 'read_write')}[${at}] = ${same('b', 't', 'h', 'kx')} * dqn;
      }` : wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += ${dAd('j', 'r')} * ${R('j')} * exp2(${GQ('j')} - gr); }
        let own = ${dAd('r', 'r')} * ${R('r')};
        let pairs = value * exp2(${G(blocks.anchorRow('after'))} - gr);
        let dkn = P.scale * (${withOwn('pairs + dg')}) + exp2(${G('rows - 1u')} - gr) * ${hp.inter('dki', 'read', at)};
        ${ks.use('grad_k', 'read_write')}[${bth()('b', 't', 'h', 'kx', 'KD')}] = dkn${bonusTerm};
        let dbk0 = select(0.0, ${ks.use('dbk', 'read_write')}[${at}], r + 1u == rows);
        ${ks.use('dbk', 'read_write')}[${at}] = dbk0 - ${same('b', 't', 'h', 'kx')} * dkn;
      }`;
  const epilogues = joinWgsl(Array.from({ length: p.fm }, (_, i) => emitEpilogue(fr, `a${i}`, 1, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', row: () => map.row(i), col: map.col, body,
  })), '\n    ');
  return wgsl`${keyTileOpening(ks, fr, lay, BK, grid.decl)}
  ${stageDA}
  ${stageDiag}
  for (var d0 = 0u; d0 < min(${BK}u, KD - k0); d0 += ${SK}u) {
    ${stageRows}
    ${stageAnchored}
    workgroupBarrier();
    ${joinWgsl(Array.from({ length: p.fm }, (_, i) => fr.declare(`a${i}`, 1, p.fn)), '\n    ')}
    if (factive) {
      ${products}
    }
    ${epilogues}
  }
}`;
}

/** One block of a staging phase of the phased kernels (dqkPhased: the forms other than 'staged',
 * kda's wyDk): `count` elements (a constant), thread lid
 * taking e = lid + s WG for its slots s; `loads` into registers `<tag>_<name>` at the clamped
 * indices `index` derives from e, then `store` (with `storeIndex`'s names and `valid` in scope)
 * from them. Taken apart (decl, load, store) so that a phase issues every block's loads before
 * any store: one storage latency per phase. */
export interface PhaseBlock {
  readonly tag: string;
  readonly count: number;
  readonly index: Wgsl;
  readonly loads: readonly { readonly name: string; readonly expr: Wgsl }[];
  readonly storeIndex: Wgsl;
  readonly valid: Wgsl;
  readonly store: (v: (name: string) => Wgsl) => Wgsl;
}

/** A phase block's register declarations, loads and stores: slot by slot with named registers
 * where `unrolled` (tuning knob unrollStaging), else loops over private arrays. */
export function phaseParts(b: PhaseBlock, wg: number, unrolled: boolean): { decl: Wgsl; load: Wgsl; store: Wgsl } {
  const n = Math.ceil(b.count / wg);
  const exact = b.count % wg === 0;
  if (unrolled) {
    const reg = (name: string, k: number) => wgsl`${b.tag}_${name}${k}`;
    const ks = Array.from({ length: n }, (_, k) => k);
    return {
      decl: joinWgsl(ks.flatMap((k) => b.loads.map((l) => wgsl`var ${reg(l.name, k)}: f32;`)), ' '),
      load: joinWgsl(ks.map((k) => wgsl`{
        let e = ${exact ? wgsl`lid + ${k}u * WG` : wgsl`min(lid + ${k}u * WG, ${b.count - 1}u)`};
        ${b.index}
        ${joinWgsl(b.loads.map((l) => wgsl`${reg(l.name, k)} = ${l.expr};`), '\n        ')}
      }`), '\n      '),
      store: joinWgsl(ks.map((k) => wgsl`${(k + 1) * wg <= b.count ? '' : wgsl`if (lid + ${k}u * WG < ${b.count}u) `}{
        let e = lid + ${k}u * WG;
        ${b.storeIndex}
        let valid = ${b.valid};
        ${b.store((name) => reg(name, k))}
      }`), '\n      '),
    };
  }
  const reg = (name: string) => wgsl`${b.tag}_${name}[stg]`;
  return {
    decl: joinWgsl(b.loads.map((l) => wgsl`var ${b.tag}_${l.name}: array<f32, ${n}>;`), ' '),
    load: wgsl`for (var stg = 0u; stg < ${n}u; stg++) {
        let e = ${exact ? wgsl`lid + stg * WG` : wgsl`min(lid + stg * WG, ${b.count - 1}u)`};
        ${b.index}
        ${joinWgsl(b.loads.map((l) => wgsl`${reg(l.name)} = ${l.expr};`), '\n        ')}
      }`,
    store: wgsl`for (var stg = 0u; stg < ${n}u; stg++) {
        let e = lid + stg * WG;
        ${exact ? '' : wgsl`if (e >= ${b.count}u) { break; }`}
        ${b.storeIndex}
        let valid = ${b.valid};
        ${b.store(reg)}
      }`,
  };
}

/** What a kernel on dqkPhased's skeleton brings: its blocks, epilogue operands and slab walk. */
export interface PhasedKernel {
  /** The first phase's blocks, before the first slab's. */
  readonly first: readonly PhaseBlock[];
  /** A slab's storage operands at key column k0 + dd, in registers tagged `tag`. */
  readonly slab: (tag: string, dd: string) => PhaseBlock[];
  /** The epilogue's storage operands, one register per element slot, `ep_<name>[slot]`: each
   * an f32 expression over t, kx (the element's token and key column, clamped) and tk (tok's
   * index of the two). Called after the first slab's blocks (the order it binds buffers in). */
  readonly epi: () => readonly { readonly name: string; readonly expr: Wgsl }[];
  /** One slab's work, d0 in scope: from the barrier that publishes the slab's stores to the
   * barrier that ends its last epilogue (the next slab's stores follow it). */
  readonly walk: Wgsl;
  /** Whether each slab's loads are issued before the previous slab's walk (else, after the first
   * slab, each in a phase of its own). */
  readonly pipelined: boolean;
  /** More declarations at the top. */
  readonly decl?: Wgsl;
}

/** The phased staging over a layout (emitTcBwdDqkForm's, and kda's wyDk's, tc-bwd-wy-diag.ts):
 * the walk over the epilogue's elements, the anchored rows formed from the slab in workgroup
 * memory, and the kernel's skeleton (the phases and the loop over the slabs). */
export function dqkPhased(ks: KernelSource, fr: Fragments, lay: DqkLayout, blocks: ReturnType<typeof dqkBlocks>) {
  const { BK, SK, sAnch } = lay;
  const nb = ks.cfg.chunk / 16;
  const WG = ks.workgroupSize;
  const anchoredRows = 8 * nb * (nb - 1);
  const unrolled = ks.stagingUnroll !== undefined;
  const hw = fr.hardware;
  const { tok } = bwdFns(ks);
  const { p, grid, map } = blocks;

  // The anchored rows of `side` from the slab in workgroup memory: `x`, an f32 over j (the row),
  // ta (its anchor) and c (the slab's column), rounded to f16, then a barrier; none without rows.
  const anchoredStep = (side: BlockSide, x: Wgsl): Wgsl => {
    if (!anchoredRows) return wgsl``;
    const at = blocks.anchorAt(side);
    const perSlot = (e: string) => wgsl`{
      let e = ${e};
      ${at.index}
      let c = e % ${SK}u;
      let ta = min(${at.anchor}, rows - 1u);
      let x = ${x};
      wh[${sAnch}u + e] = f16(select(0.0, x, ${at.valid} && k0 + d0 + c < KD));
    }`;
    const slots = (anchoredRows * SK) / WG;
    if (!Number.isInteger(slots)) throw new Error('internal: the anchored rows are a whole number of workgroups');
    const form = unrolled
      ? joinWgsl(Array.from({ length: slots }, (_, k) => perSlot(`lid + ${k}u * WG`)), '\n    ')
      : wgsl`for (var sa = 0u; sa < ${slots}u; sa++) ${perSlot('lid + sa * WG')}`;
    return wgsl`${form}
    workgroupBarrier();`;
  };

  // The epilogue's elements: 8 per lane of each fragment (i, j) of the subgroup's fm x fn block,
  // slot 8 (i fn + j) + k; on the hardware the lanes walk the fragment as staged in the scratch
  // (element el = lane + 32 k), written out per k so that the registers take constant indices;
  // the portable lanes hold row fr_row, columns fr_col + k in place.
  const frags: [number, number][] = [];
  for (let i = 0; i < p.fm; i++) for (let j = 0; j < p.fn; j++) frags.push([i, j]);
  const nSlots = 8 * frags.length;
  const element = (i: number, j: number, body: (slot: string) => Wgsl) => {
    const base = 8 * (i * p.fn + j);
    return hw
      ? joinWgsl(Array.from({ length: 8 }, (_, k) => wgsl`{
      let el = ${renderIndex(add('lane', 32 * k))};
      let r = ${map.row(i)} + el / 16u;
      let c = ${map.col(j)} + el % 16u;
      ${body(`${base + k}u`)}
    }`), '\n    ')
      : wgsl`for (var e = 0u; e < 8u; e++) {
      let r = ${map.row(i)} + fr_row;
      let c = ${map.col(j)} + fr_col + e;
      ${body(`${base}u + e`)}
    }`;
  };
  /** The epilogue of accumulators `<acc><i>`: `body(slot)` per element, `value` its sum, r, c in
   * scope; hardware: each fragment through the subgroup's scratch (two barriers); portable: in
   * place (one). */
  const epilogue = (acc: string, body: (slot: string) => Wgsl): Wgsl => (hw
    ? joinWgsl(frags.map(([i, j]) => wgsl`if (factive) { ${fr.store(`${acc}${i}`, 0, j, { arr: 'wf', offset: 'sg * 256u', stride: 16 })} }
    workgroupBarrier();
    if (factive) {
    ${element(i, j, (s) => wgsl`let value = wf[sg * 256u + el];
      ${body(s)}`)}
    }
    workgroupBarrier();`), '\n    ')
    : wgsl`if (factive) {
    ${joinWgsl(frags.map(([i, j]) => element(i, j, (s) => wgsl`let value = ${acc}${i}_0_${j}[e];
      ${body(s)}`)), '\n    ')}
    }
    workgroupBarrier();`);
  /** Accumulators `<acc><i>` (1 x p.fn fragments each), i < p.fm. */
  const declare = (acc: string) => joinWgsl(Array.from({ length: p.fm }, (_, i) => fr.declare(`${acc}${i}`, 1, p.fn)), '\n    ');

  /** The kernel: the first phase (k's blocks, the first slab's, the epilogue's operands), then
   * per slab its walk, and the next slab's operands: loaded before the walk and stored after it
   * (pipelined), or in a phase before its own walk; with one slab per workgroup the walk alone. */
  const kernel = (k: PhasedKernel): Wgsl => {
    const firstBlocks = [...k.first, ...k.slab('sl', '0u')];
    const epi = k.epi();
    const epiDecl = (set: string) => joinWgsl(epi.map((x) => wgsl`var ${set}_${x.name}: array<f32, ${nSlots}>;`), ' ');
    const epiLoad = (set: string, dd: string) => wgsl`if (factive) {
    ${joinWgsl(frags.map(([i, j]) => element(i, j, (s) => wgsl`let t = t0 + min(r, rows - 1u); let kx = min(${renderIndex(add('k0', dd))} + c, KD - 1u); let tk = ${tok()('bh', 't', 'kx', 'KD')};${joinWgsl(epi.map((x) => wgsl`
      ${set}_${x.name}[${s}] = ${x.expr};`), '')}`)), '\n    ')}
  }`;
    const epiCopy = joinWgsl(epi.map((x) => wgsl`ep_${x.name} = nep_${x.name};`), ' ');
    const phase = (blocks: readonly PhaseBlock[], epi: Wgsl) => {
      const parts = blocks.map((b) => phaseParts(b, WG, unrolled));
      return wgsl`{
      ${joinWgsl(parts.map((x) => x.decl), ' ')}
      ${joinWgsl(parts.map((x) => x.load), '\n      ')}
      ${epi}
      ${joinWgsl(parts.map((x) => x.store), '\n      ')}
    }`;
    };
    const first = phase(firstBlocks, epiLoad('ep', '0u'));
    const next = k.slab('nx', 'd0 + ' + SK + 'u').map((b) => phaseParts(b, WG, unrolled));
    const slabs = BK === SK ? wgsl`{
    let d0 = 0u;
    ${k.walk}
  }` : k.pipelined ? wgsl`${joinWgsl(next.map((x) => x.decl), ' ')} ${epiDecl('nep')}
  for (var d0 = 0u; d0 < min(${BK}u, KD - k0); d0 += ${SK}u) {
    let more = d0 + ${SK}u < min(${BK}u, KD - k0);
    if (more) {
      ${joinWgsl(next.map((x) => x.load), '\n      ')}
      ${epiLoad('nep', `d0 + ${SK}u`)}
    }
    ${k.walk}
    if (more) {
      ${joinWgsl(next.map((x) => x.store), '\n      ')}
      ${epiCopy}
    }
  }` : wgsl`for (var d0 = 0u; d0 < min(${BK}u, KD - k0); d0 += ${SK}u) {
    if (d0 > 0u) ${phase(k.slab('sl', 'd0'), epiLoad('ep', 'd0'))}
    ${k.walk}
  }`;
    return wgsl`${keyTileOpening(ks, fr, lay, BK, grid.decl)}
  ${epiDecl('ep')}${k.decl ? wgsl` ${k.decl}` : ''}
  ${first}
  ${slabs}
}`;
  };
  return { anchoredStep, element, epilogue, declare, kernel, nSlots };
}

/** The forms other than 'staged' (CodegenConfig.dqkForm; see DQK_FORMS in plan.ts), with the
 * same layout, products and sums (bit for bit the same results), differing in when and whence
 * their operands come:
 * - every form loads dA's blocks, its diagonal blocks and the first slab's operands in one phase
 *   (all loads, then all stores), and each later slab's storage operands in one phase;
 * - every form loads the epilogue's storage operands (the state term, the row's own q or k for
 *   dbq / dbk, dbk's chunk-end term, the bonus u) into registers in that phase, per element of
 *   the subgroup's fragments (the epilogue's lanes own fixed elements), so the epilogue only
 *   stores: today's epilogue waits on those loads element by element, and dk's read-modify-write
 *   of dbk keeps a compiler from hoisting the next element's loads above the store;
 * - 'prefetch' stages the anchored rows from storage as 'staged' does (raw row and two G reads,
 *   an exp2, per element), in the slab's one phase;
 * - 'shared', 'pipelined' and 'single' form them from the raw rows and G the slab staged in
 *   workgroup memory (one more barrier, no second read of storage), and stage dk's dA blocks
 *   transposed, so that its left operands load row-major as dq's do;
 * - 'pipelined' issues the next slab's loads before this slab's products and stores them after
 *   its epilogue; 'single' runs one slab per workgroup (tcDqkLayout: key tiles of SK).
 * The staging and the epilogue's walk are dqkPhased's, which kda's wyDk shares. */
function emitTcBwdDqkForm(ks: KernelSource, fr: Fragments, side: 'q' | 'k'): Wgsl {
  const form = ks.cfg.dqkForm ?? DEFAULT_DQK_FORM;
  const lay = tcDqkLayout(ks.cfg);
  if (!lay || !ks.diag) throw new Error('internal: bwdDq / bwdDk on fragments take a per-key decay and a layout that fits');
  const { SK, sAnch } = lay;
  const C = ks.cfg.chunk;
  const nb = C / 16;
  const anchoredRows = 8 * nb * (nb - 1);
  const fromShared = form !== 'prefetch';
  const transposed = fromShared && side === 'k';
  const hp = bwdFns(ks);
  const { tok, bth } = hp;
  const blocks = dqkBlocks(ks, lay);
  const blockSide: BlockSide = side === 'q' ? 'before' : 'after';
  const at = blocks.anchorAt(blockSide);
  const daqk = ks.use('daqk', 'read');
  const g = ks.gcsFn();
  const raw = ks.roleFn(side === 'q' ? 'k' : 'q');
  const same = ks.roleFn(side);
  // The slab's reads of workgroup memory at column c: G, Gq, the raw rows, dA's diagonal blocks.
  const { G, R, dAd } = blocks;
  const GQ = (row: string) => (ks.bonus ? wgsl`select(0.0, ${G(`max(${row}, 1u) - 1u`)}, ${row} > 0u)` : G(row));

  // dA's blocks below the diagonal (f16; dk's transposed in 'shared' and after), its diagonal
  // blocks (f32).
  const daBlock = blocks.lowerBlock(daqk, transposed);
  const diagBlock = blocks.diagBlock(daqk);
  // The slab at key column k0 + dd: raw rows and G (f32); 'prefetch': the anchored rows from
  // storage (f16), as 'staged' stages them.
  const rowsBlock = (tag: string, dd: string): PhaseBlock => blocks.rowsBlock(tag, dd, raw('b', 't', 'h', 'd'), g);
  const anchoredBlock = (dd: string): PhaseBlock => ({
    tag: 'an', count: anchoredRows * SK,
    index: wgsl`${at.index}
        let t = t0 + min(j, rows - 1u); let ta = t0 + min(${at.anchor}, rows - 1u); let d = min(${renderIndex(add('k0', dd))} + e % ${SK}u, KD - 1u);`,
    loads: [{ name: 'x', expr: raw('b', 't', 'h', 'd') },
      { name: 'ga', expr: g('b', 'h', 'ta', 'd') },
      { name: 'gj', expr: side === 'q' ? g('b', 'h', 't', 'd') : ks.gqFn()('b', 'h', 't', 't0', 'd') }],
    storeIndex: at.index, valid: wgsl`${at.valid} && ${renderIndex(add('k0', dd))} + e % ${SK}u < KD`,
    // Every exponent <= 0, as 'staged' forms them.
    store: (v) => wgsl`wh[${sAnch}u + e] = f16(select(0.0, ${v('x')} * exp2(${side === 'q' ? wgsl`${v('ga')} - ${v('gj')}` : wgsl`${v('gj')} - ${v('ga')}`}), valid));`,
  });
  const ph = dqkPhased(ks, fr, lay, blocks);
  // The anchored rows from the slab in workgroup memory: the same f32 values, so the same f16.
  const formAnchored = ph.anchoredStep(blockSide, wgsl`${R('j')} * exp2(${side === 'q' ? wgsl`${G('ta')} - ${G('j')}` : wgsl`${GQ('j')} - ${G('ta')}`})`);

  const withOwn = (sum: string) => (ks.bonus ? sum : wgsl`${sum} + own`);
  const bonusTerm = (s: string) => (ks.bonus ? wgsl` + P.scale * own * ep_u[${s}]` : '');
  const body = (s: string) => (side === 'q' ? wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gqr = ${GQ('r')};
        var dg = 0.0;
        for (var j = bI * 16u; j < r; j++) { dg += ${dAd('r', 'j')} * ${R('j')} * exp2(gqr - ${G('j')}); }
        let own = ${dAd('r', 'r')} * ${R('r')};
        let pairs = select(0.0, value * exp2(gqr - ${G('max(bI * 16u, 1u) - 1u')}), bI > 0u);
        let dqn = P.scale * (${withOwn('pairs + dg')}) + P.scale * exp2(gqr) * ep_i[${s}];
        ${ks.use('grad_q', 'read_write')}[${bth()('b', 't', 'h', 'kx', 'KD')}] = dqn${bonusTerm(s)};
        ${ks.use('dbq', 'read_write')}[${tok()('bh', 't', 'kx', 'KD')}] = ep_x[${s}] * dqn;
      }` : wgsl`let kx = k0 + d0 + c;
      if (r < rows && kx < KD) {
        let t = t0 + r;
        let bI = r / 16u;
        let gr = ${G('r')};
        var dg = 0.0;
        for (var j = r + 1u; j < min(bI * 16u + 16u, rows); j++) { dg += ${dAd('j', 'r')} * ${R('j')} * exp2(${GQ('j')} - gr); }
        let own = ${dAd('r', 'r')} * ${R('r')};
        let pairs = value * exp2(${G('min(bI * 16u + 15u, rows - 1u)')} - gr);
        let dkn = P.scale * (${withOwn('pairs + dg')}) + exp2(${G('rows - 1u')} - gr) * ep_i[${s}];
        ${ks.use('grad_k', 'read_write')}[${bth()('b', 't', 'h', 'kx', 'KD')}] = dkn${bonusTerm(s)};
        let dbk0 = select(0.0, ep_b[${s}], r + 1u == rows);
        ${ks.use('dbk', 'read_write')}[${tok()('bh', 't', 'kx', 'KD')}] = dbk0 - ep_x[${s}] * dkn;
      }`);
  const epilogue = ph.epilogue('a', body);
  const products = blocks.products(fr, blockSide, 'a', transposed);

  // The epilogue's storage operands: the state term, the row's own q or k, dk's dbk (the
  // chunk-end term at the chunk's last row), the bonus u.
  const epi = () => [
    { name: 'i', expr: hp.inter(side === 'q' ? 'dqi' : 'dki', 'read', 'tk') },
    { name: 'x', expr: same('b', 't', 'h', 'kx') },
    ...(side === 'k' ? [{ name: 'b', expr: wgsl`${ks.use('dbk', 'read_write')}[tk]` }] : []),
    ...(ks.bonus ? [{ name: 'u', expr: ks.roleFn('u')('0u', '0u', 'h', 'kx') }] : []),
  ];
  // The phases: the first (dA, its diagonal blocks, the first slab), then one per later slab
  // (or, pipelined, the next slab's loads issued at the top of this one's walk).
  return ph.kernel({
    first: [...(nb > 1 ? [daBlock] : []), diagBlock],
    slab: (tag, dd) => [rowsBlock(tag, dd), ...(fromShared || !anchoredRows ? [] : [anchoredBlock(dd)])],
    epi,
    walk: wgsl`workgroupBarrier();
    ${fromShared ? formAnchored : ''}
    ${ph.declare('a')}
    if (factive) {
      ${products}
    }
    ${epilogue}`,
    pipelined: form === 'pipelined',
  });
}
