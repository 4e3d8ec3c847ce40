// A lower-triangular C x C matrix, transposed, times a chunk's rows, on the fragment layer
// (tensor-core tier), per (column tile, chunk, b*h): the backward's products L^T R,
//   bwdDvLocal:   dvl = A^T do          (tc-bwd-du.ts; with bwdDu's state term, 'bwdDu:local')
//   wyDv:         X1 = T^T dU, dv = beta X1   (tc-bwd-wy.ts)
//   wyDA:         dA = -T^T M, kept for j < i (tc-bwd-wy.ts; C columns, one tile)
// L^T's fragments are L's read column-major: straight from a per-chunk f16 block (the forward's
// aqk16 where the prep kept the scores, plan.ts scoresInPrep; the forward's T in t16), else from
// bwdScores' f32 A staged as f16 (the whole C x C block, once). The rows (the tile's columns)
// are staged once as f16. Blocks of L^T below the diagonal are zero and skipped.
import type { ChunkName, KernelSource } from './common.js';
import type { VariantDef } from '../../dsl/index.js';
import { ConfigError, scoresInPrep, type CodegenConfig } from '../plan.js';
import { emitDirectStores, emitEpilogue, firstFit, FRAG_NAMES, FRAG_WG, fragCeil, fragmentBudget, partition, scratchWords, workspaceBytes, type FragSource, type FragTarget, type Fragments, type Partition, subgroupGrid } from './fragments.js';
import { declareFirstBad, emitCausalFixup, emitF16Block, NAN_WGSL, type F16Block } from './staged.js';
import { chunkOperandAt } from './tc-states.js';
import { bwdFns } from './bwd-common.js';
import { extendScope, wgsl, type Scope, type Wgsl } from '../wgsl.js';
import { mul, renderIndex } from '../index-expr.js';

/** V columns per workgroup of bwdDu and of the transposed products over V. */
export const tcDuTileV = (V: number) => Math.min(64, fragCeil(V));

/** The lower-triangular matrix L of a transposed product L^T R: a per-chunk f16 block in storage
 * (row-major, C x C), or an f32 one ([BH, NT, C, C], cc) staged as f16. */
type LowerSource = { readonly f16: string } | { readonly f32: string };

/** f16: [L (C x C, where staged) | the rows (C x BV)]; f32: one epilogue pass's scratch. */
function transposedLayout(cfg: CodegenConfig, staged: boolean, stateTerm = false, SK = 0, BV = tcDuTileV(cfg.V)): TransposedLayout {
  const C = cfg.chunk;
  const sR = staged ? C * C : 0;
  // The state term's K-slabs of D_n reuse the product's regions after it.
  return { sL: 0, sR, SK, f16: Math.max(sR + C * BV, stateTerm ? SK * BV : 0), f32: scratchWords(1) };
}
interface TransposedLayout { sL: number; sR: number; SK: number; f16: number; f32: number }
/** The layout, with the state term the widest K-slab that fits. */
function tcTransposedLayout(ks: KernelSource, staged: boolean, stateTerm: boolean, BV: number): TransposedLayout {
  const slabs = stateTerm ? [Math.min(128, fragCeil(ks.cfg.K)), 64, 32, 16] : [0];
  return firstFit(ks.cfg, slabs.map((SK) => transposedLayout(ks.cfg, staged, stateTerm, SK, BV)), (budget) => new ConfigError(`no tiling of the backward's C x C by C x V products fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** A K-slab of D_n (dhs, f32, four wide where V allows), SK x BV at word 0 of wh, rows from d0,
 * columns from v0: bwdDu's right operand, here and in tc-bwd-du.ts. */
export function stateSlab(ks: KernelSource, BV: number, SK: number): F16Block {
  const dhs = ks.f32Reader('dhs', ks.cfg.V % 4 === 0);
  const at = '((bh * P.NT + n) * KD + d) * VD + cg';
  return {
    count: wgsl`${SK * BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let d = min(d0 + e / ${BV}u, KD - 1u); let cg = min(v0 + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: dhs.at(at), wide: dhs.at4?.(at) ?? null,
    valid: wgsl`d0 + e / ${BV}u < KD && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => e,
  };
}

/** bwdDu's state term (k_j 2^(G_last - G_j)) . D_n accumulated into `acc` (partition p, the
 * subgroup grid 'f'): the keys' fragments straight from the forward's kg16, D_n in K-slabs of SK
 * staged at word 0 of wh (`slab`, stateSlab's block). Here and in tc-bwd-du.ts's bwdDu. */
export function emitStateTerm(ks: KernelSource, fr: Fragments, acc: string, p: Partition, SK: number, BV: number, slab: F16Block): Wgsl {
  const KF = fragCeil(ks.cfg.K);
  const kg16 = ks.use('kg16', 'read', false, 'f16');
  const map = subgroupGrid(p, 'f').map;
  return wgsl`for (var d0 = 0u; d0 < ${KF}u; d0 += ${SK}u) {
    ${emitF16Block(slab)}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SK}u; kk += 16u) {
        ${fr.mma(acc, p.fm, p.fn,
    (i) => ({ arr: kg16, offset: chunkOperandAt(KF, map.row(i), 'd0 + kk'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`kk * ${BV}u + ${map.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
  }`;
}

/** Whether bwdDvLocal (`wy` false) or wyDv (true) fits the tier's budget on fragments; where not
 * (bwdScores' A staged whole at chunk 64 within 16 KiB, tuning.fragmentMemory), the f32 kernel. */
export const tcTransposedFits = (def: VariantDef, cfg: CodegenConfig, wy: boolean): boolean =>
  workspaceBytes(transposedLayout(cfg, !wy && !scoresInPrep(def, cfg))) <= fragmentBudget(cfg);

export type TransposedScope = Scope<ChunkName | 'v0' | (typeof FRAG_NAMES)[number]>;

/** L^T R for a chunk and V-tile: `rows(s, at)` stages R (C x BV at word `at`), `store(s)` the
 * epilogue's statements for element (r, c) of the tile and its `value` (r < rows, v0 + c < VD
 * or C checked), `direct` the target of full tiles' fragments where they go straight to storage,
 * `nan(s, r, c)` the statements setting element (r, c) of every output to NaN. Fragments cannot
 * skip L^T's zeros in a diagonal block, and 0 * NaN would carry a row of R to the output rows
 * after it: a value of R not finite in f16 is staged as 0 and the output rows up to its row set
 * to NaN afterwards (F16Block.causal, reverse), as the f32 kernels' sums give them. */
export function emitTransposedProduct(ks: KernelSource, fr: Fragments, o: {
  readonly lower: LowerSource;
  readonly rows: (s: TransposedScope, at: number) => F16Block;
  readonly store: (s: TransposedScope) => Wgsl;
  readonly direct?: (r: string, c: string) => FragTarget;
  readonly nan: (s: TransposedScope, r: string, c: string) => Wgsl;
  /** Also adds the state term (k_j 2^(G_last - G_j)) . D_n of bwdDu into the same result
   * fragments, D_n staged in K-slabs over the regions the product has done with. */
  readonly stateTerm?: true;
  /** R's columns: V (absent; tiles of tcDuTileV, one workgroup each) or the chunk's C (one tile). */
  readonly cols?: 'C';
}): Wgsl {
  const C = ks.cfg.chunk;
  const BV = o.cols === 'C' ? C : tcDuTileV(ks.cfg.V);
  const extent = o.cols === 'C' ? 'C' : 'VD';
  const staged = 'f32' in o.lower;
  const lay = tcTransposedLayout(ks, staged, o.stateTerm === true, BV);
  const p = partition(C / 16, BV / 16);
  const { cc } = bwdFns(ks);
  const stage = ks.chunkStage(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['v0']);
  const lower = 'f16' in o.lower ? ks.use(o.lower.f16, 'read', false, 'f16') : ks.use(o.lower.f32, 'read');
  const rows: F16Block = { ...o.rows(s, lay.sR), causal: { firstBad: 'badEnd', row: wgsl`e / ${BV}u`, perRow: BV, wg: FRAG_WG, reverse: true } };
  ks.helper('nan', NAN_WGSL);
  const fixup = emitCausalFixup(rows, 'rows', (e) => wgsl`${e} % ${BV}u`, (r, c) => wgsl`if (v0 + ${c} < ${extent}) { ${o.nan(s, r, c)} }`);
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  // L's block (row block kk / 16, column block I) read transposed: L^T's block (I, kk / 16).
  const left = (i: number): FragSource => {
    const offset = wgsl`kk * C + ${renderIndex(mul(grid.block.row(i), 16))}`;
    return staged
      ? { arr: 'wh', offset: wgsl`${lay.sL}u + ${offset}`, stride: C, colMajor: true }
      : { arr: lower, offset: wgsl`(bh * P.NT + n) * C * C + ${offset}`, stride: C, colMajor: true };
  };
  const stageL = staged ? emitF16Block({
    count: wgsl`C * C`,
    unroll: ks.stagingUnroll,
    index: () => wgsl`let r = min(e / C, rows - 1u); let j = e % C;`,
    value: wgsl`${lower}[${cc()('bh', 'n', 'r', 'j')}]`, wide: null,
    valid: wgsl`e / C < rows`,
    arr: 'wh', at: (e) => wgsl`${lay.sL}u + ${e}`,
  }) : '';
  const epilogue = emitEpilogue(fr, 'lt', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`if (r < rows && v0 + c < ${extent}) { ${o.store(s)} }`,
  });
  const direct = o.direct;
  const stateTerm = o.stateTerm ? wgsl`workgroupBarrier();
  ${emitStateTerm(ks, fr, 'lt', p, lay.SK, BV, stateSlab(ks, BV, lay.SK))}` : '';
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  let v0 = wid.x * ${BV}u;
  ${grid.decl}
  ${fr.declare('lt', p.fm, p.fn)}
  ${stageL}
  ${declareFirstBad(rows)}
  ${emitF16Block(rows)}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${fr.mma('lt', p.fm, p.fn, left,
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sR}u + kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }),
    (i) => wgsl`kk / 16u >= ${renderIndex(grid.block.row(i))}`)}
    }
  }${stateTerm ? wgsl`
  ${stateTerm}` : ''}
  ${direct ? wgsl`if (rows == C && v0 + ${BV}u <= ${extent}) {
    ${emitDirectStores(fr, 'lt', p.fm, p.fn, 'factive', (i, j) => direct(rowMap.row(i), rowMap.col(j)))}
  } else {
    workgroupBarrier();
    ${epilogue}
  }` : wgsl`workgroupBarrier();
  ${epilogue}`}
  // A row of R that was not finite (staged as 0) reaches the output rows up to it.
  storageBarrier();
  ${fixup}
}`;
}
