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
// (codegen/backward.ts).
import type { KernelSource } from './common.js';
import { ConfigError, type CodegenConfig, type StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { emitEpilogue, firstFit, fragCeil, partition, scratchWords, subgroupGrid, type Fragments } from './fragments.js';
import { emitF16Block, emitStagedLoad } from './staged.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** Key columns per workgroup. */
export const tcDqkTileK = (K: number) => Math.min(64, fragCeil(K));

export interface DqkLayout {
  /** Key columns per workgroup and per slab (SK divides BK). */
  readonly BK: number; readonly SK: number;
  /** f16: dA's blocks below the diagonal, the anchored rows. */
  readonly sDA: number; readonly sAnch: number; readonly f16: number;
  /** f32: the epilogue's scratch, then G, the raw rows and dA's diagonal blocks. */
  readonly sG: number; readonly sRaw: number; readonly sDiag: number; readonly f32: number;
}

/** The widest slab that fits the first budget any fits (firstFit), or null where none fits the
 * last: the stage then keeps the f32 contraction. At chunk 64 and K >= 64: 22 KiB at SK = 16
 * (within the 24 KiB budget), 33 KiB at 32, 55 KiB at 64 (neither fits 48 KiB). */
export function tcDqkLayout(cfg: CodegenConfig): DqkLayout | null {
  const C = cfg.chunk;
  const nb = C / 16;
  const BK = tcDqkTileK(cfg.K);
  const layouts = [64, 48, 32, 16].filter((SK) => SK <= BK && BK % SK === 0).map((SK): DqkLayout => {
    const sDA = 0;
    const sAnch = sDA + 128 * nb * (nb - 1);
    const sG = scratchWords(1);
    const sRaw = sG + C * SK;
    const sDiag = sRaw + C * SK;
    // (At chunk 16 there are no products: the f16 array is a stub of 16 bytes.)
    return { BK, SK, sDA, sAnch, f16: Math.max(8, sAnch + 8 * nb * (nb - 1) * SK), sG, sRaw, sDiag, f32: sDiag + 256 * nb };
  });
  try {
    return firstFit(cfg, layouts, () => new ConfigError('no dq / dk layout fits'));
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
}

/** Per (K-tile, chunk, b*h). */
export const tcBwdDqkGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.K / tcDqkTileK(ks.cfg.K))], ['NT'], ['BH']];

/** The largest I in [lo, hi] with start(I) <= x (x a WGSL u32, start increasing), by selects
 * (no arrays: the index stays in registers). */
function blockOf(x: string, lo: number, hi: number, start: (I: number) => number): Wgsl {
  let expr = wgsl`${hi}u`;
  for (let I = hi - 1; I >= lo; I--) expr = wgsl`select(${expr}, ${I}u, ${x} < ${start(I + 1)}u)`;
  return expr;
}

export const emitTcBwdDq = (ks: KernelSource, fr: Fragments): Wgsl => emitTcBwdDqk(ks, fr, 'q');
export const emitTcBwdDk = (ks: KernelSource, fr: Fragments): Wgsl => emitTcBwdDqk(ks, fr, 'k');

function emitTcBwdDqk(ks: KernelSource, fr: Fragments, side: 'q' | 'k'): Wgsl {
  const lay = tcDqkLayout(ks.cfg);
  if (!lay || !ks.diag) throw new Error('internal: bwdDq / bwdDk on fragments take a per-key decay and a layout that fits');
  const { BK, SK, sDA, sAnch, sG, sRaw, sDiag } = lay;
  const C = ks.cfg.chunk;
  const nb = C / 16;
  const anchoredRows = 8 * nb * (nb - 1);
  const hp = bwdFns(ks);
  const { cc, tok, bth } = hp;
  const p = partition(nb, SK / 16);
  const grid = subgroupGrid(p, 'f');
  const map = grid.map;
  const daqk = ks.use('daqk', 'read');
  const g = ks.gcsFn();
  // dq sums over keys, dk over queries; the other role is the per-token gate term's.
  const raw = ks.roleFn(side === 'q' ? 'k' : 'q');
  const same = ks.roleFn(side);
  // First anchored row of row block I: dq's block I holds rows 0..16I-1 (I >= 1), dk's rows
  // 16(I+1)..C-1 (I <= nb - 2).
  const startQ = (I: number) => 8 * I * (I - 1);
  const startK = (I: number) => 16 * (I * (nb - 1) - (I * (I - 1)) / 2);
  const anchorOf = !anchoredRows ? '' : side === 'q' ? blockOf('ra', 1, nb - 1, startQ) : blockOf('ra', 0, nb - 2, startK);
  const startW = side === 'q' ? wgsl`8u * aI * (aI - 1u)` : wgsl`16u * (aI * ${nb - 1}u - aI * (aI - 1u) / 2u)`;
  // The token row of anchored row ra, its anchor row, and whether it is staged (else 0).
  const anchored = side === 'q'
    ? { row: wgsl`ra - ${startW}`, anchor: wgsl`aI * 16u - 1u`, valid: wgsl`j < rows && aI * 16u - 1u < rows` }
    : { row: wgsl`aI * 16u + 16u + ra - ${startW}`, anchor: wgsl`aI * 16u + 15u`, valid: wgsl`j < rows` };
  // Every exponent <= 0: dq's rows j <= a, dk's rows j > a' (Gq_j <= G_a').
  const anchoredValue = side === 'q'
    ? wgsl`${raw('b', 't', 'h', 'd')} * exp2(${g('b', 'h', 'ta', 'd')} - ${g('b', 'h', 't', 'd')})`
    : wgsl`${raw('b', 't', 'h', 'd')} * exp2(${ks.gqFn()('b', 'h', 't', 't0', 'd')} - ${g('b', 'h', 'ta', 'd')})`;
  const anchorIndex = wgsl`let ra = e / ${SK}u; let aI = ${anchorOf}; let j = ${anchored.row};`;
  const stageAnchored = anchoredRows ? emitF16Block({
    count: wgsl`${anchoredRows * SK}u`,
    unroll: ks.stagingUnroll,
    index: () => wgsl`${anchorIndex}
        let t = t0 + min(j, rows - 1u); let ta = t0 + min(${anchored.anchor}, rows - 1u); let d = min(k0 + d0 + e % ${SK}u, KD - 1u);`,
    value: anchoredValue, wide: null,
    storeIndex: anchorIndex,
    valid: wgsl`${anchored.valid} && k0 + d0 + e % ${SK}u < KD`,
    arr: 'wh', at: (e) => wgsl`${sAnch}u + ${e}`,
  }) : '';
  // dA's blocks below the diagonal (f16, the products' left operands): block blk = I (I - 1) / 2
  // + J for J < I, row-major within; its diagonal blocks (f32, the epilogue's exact sums).
  const blockIndex = wgsl`let blk = e / 256u; let aI = ${nb > 1 ? blockOf('blk', 1, nb - 1, (I) => (I * (I - 1)) / 2) : '1u'};
        let row = aI * 16u + (e % 256u) / 16u; let col = (blk - aI * (aI - 1u) / 2u) * 16u + e % 16u;`;
  const stageDA = nb > 1 ? emitF16Block({
    count: wgsl`${128 * nb * (nb - 1)}u`,
    unroll: ks.stagingUnroll,
    index: () => blockIndex,
    value: wgsl`${daqk}[${cc()('bh', 'n', 'row', 'col')}]`, wide: null,
    storeIndex: blockIndex,
    valid: wgsl`row < rows`,
    arr: 'wh', at: (e) => wgsl`${sDA}u + ${e}`,
  }) : '';
  const diagIndex = wgsl`let row = (e / 256u) * 16u + (e % 256u) / 16u; let col = (e / 256u) * 16u + e % 16u;`;
  const stageDiag = emitStagedLoad({
    count: wgsl`${256 * nb}u`,
    unroll: ks.stagingUnroll,
    index: diagIndex,
    loads: [{ name: 'a', expr: wgsl`${daqk}[${cc()('bh', 'n', 'row', 'col')}]` }],
    storeIndex: diagIndex,
    valid: wgsl`row < rows && col <= row`,
    store: (v) => wgsl`wf[${sDiag}u + e] = ${v('a')};`,
  });
  const stageRows = emitStagedLoad({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: wgsl`let t = t0 + min(e / ${SK}u, rows - 1u); let d = min(k0 + d0 + e % ${SK}u, KD - 1u);`,
    loads: [{ name: 'x', expr: raw('b', 't', 'h', 'd') }, { name: 'g', expr: g('b', 'h', 't', 'd') }],
    storeIndex: '',
    valid: wgsl`e / ${SK}u < rows && k0 + d0 + e % ${SK}u < KD`,
    store: (v) => wgsl`wf[${sRaw}u + e] = ${v('x')}; wf[${sG}u + e] = ${v('g')};`,
  });
  // One accumulator block per fragment row i of the subgroup (row block bI): each takes its own
  // anchored operand.
  const bI = (i: number) => wgsl`(fsr * ${p.fm}u + ${i}u)`;
  const products = joinWgsl(Array.from({ length: p.fm }, (_, i) => side === 'q'
    ? wgsl`for (var kk = 0u; kk < ${bI(i)} * 16u; kk += 16u) {
        ${fr.mma(`a${i}`, 1, p.fn,
      () => ({ arr: 'wh', offset: wgsl`${sDA}u + (${bI(i)} * (${bI(i)} - 1u) / 2u + kk / 16u) * 256u`, stride: 16 }),
      (j) => ({ arr: 'wh', offset: wgsl`${sAnch}u + (8u * ${bI(i)} * (${bI(i)} - 1u) + kk) * ${SK}u + ${map.col(j)}`, stride: SK }))}
      }`
    : wgsl`for (var kk = ${bI(i)} * 16u + 16u; kk < C; kk += 16u) {
        ${fr.mma(`a${i}`, 1, p.fn,
      () => ({ arr: 'wh', offset: wgsl`${sDA}u + ((kk / 16u) * (kk / 16u - 1u) / 2u + ${bI(i)}) * 256u`, stride: 16, colMajor: true }),
      (j) => ({ arr: 'wh', offset: wgsl`${sAnch}u + (16u * (${bI(i)} * ${nb - 1}u - ${bI(i)} * (${bI(i)} - 1u) / 2u) + kk - ${bI(i)} * 16u - 16u) * ${SK}u + ${map.col(j)}`, stride: SK }))}
      }`), '\n      ');
  // The epilogue's reads of the slab: G and Gq at a row, dA in row r's diagonal block, raw rows.
  const G = (row: string) => wgsl`wf[${sG}u + (${row}) * ${SK}u + c]`;
  const GQ = (row: string) => (ks.bonus ? wgsl`select(0.0, ${G(`max(${row}, 1u) - 1u`)}, ${row} > 0u)` : G(row));
  const dAd = (row: string, col: string) => wgsl`wf[${sDiag}u + bI * 256u + (${row} % 16u) * 16u + ${col} % 16u]`;
  const R = (row: string) => wgsl`wf[${sRaw}u + (${row}) * ${SK}u + c]`;
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
        let pairs = select(0.0, value * exp2(gqr - ${G('max(bI * 16u, 1u) - 1u')}), bI > 0u);
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
        let pairs = value * exp2(${G('min(bI * 16u + 15u, rows - 1u)')} - gr);
        let dkn = P.scale * (${withOwn('pairs + dg')}) + exp2(${G('rows - 1u')} - gr) * ${hp.inter('dki', 'read', at)};
        ${ks.use('grad_k', 'read_write')}[${bth()('b', 't', 'h', 'kx', 'KD')}] = dkn${bonusTerm};
        let dbk0 = select(0.0, ${ks.use('dbk', 'read_write')}[${at}], r + 1u == rows);
        ${ks.use('dbk', 'read_write')}[${at}] = dbk0 - ${same('b', 't', 'h', 'kx')} * dkn;
      }`;
  const epilogues = joinWgsl(Array.from({ length: p.fm }, (_, i) => emitEpilogue(fr, `a${i}`, 1, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', row: () => map.row(i), col: map.col, body,
  })), '\n    ');
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${ks.chunkMain(fr.builtins())}
  let kt = wid.x;
  ${fr.opening()}
  let k0 = kt * ${BK}u;
  ${grid.decl}
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
