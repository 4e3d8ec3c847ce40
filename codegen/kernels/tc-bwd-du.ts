// The value gradient of each chunk without the delta rule, on the fragment layer (tensor-core
// tier), per (V-tile, chunk, b*h), and its intra-chunk part (below); the same products as the
// f32 tier's bwd-du.ts:
//   dv_j = dvl_j + (k_j 2^(G_last - G_j)) . D_n
// The decayed keys come straight from the forward's per-chunk f16 block (kg16, the state walk's
// operand); D_n (dhs, f32, read four wide where V allows) is staged as f16 in K-slabs; the
// epilogue adds dvl. (Starting the accumulators from dvl, a result fragment loaded from
// storage, gave wrong values on the H200, 2026-12-02.)
import type { ChunkName, KernelSource } from './common.js';
import { ConfigError, scoresInPrep, type CodegenConfig, type StageShape } from '../plan.js';
import type { VariantDef } from '../../dsl/index.js';
import { emitDirectStores, emitEpilogue, firstFit, FRAG_NAMES, FRAG_WG, fragCeil, fragmentBudget, partition, scratchWords, workspaceBytes, type FragSource, type FragTarget, type Fragments, subgroupGrid } from './fragments.js';
import { declareFirstBad, emitCausalFixup, emitF16Block, NAN_WGSL, type F16Block } from './staged.js';
import { chunkOperandAt } from './tc-states.js';
import { doBlock } from './tc-bwd-dh.js';
import { bwdFns } from './bwd-common.js';
import { extendScope, wgsl, type Scope, type Wgsl } from '../wgsl.js';
import { mul, renderIndex } from '../index-expr.js';

/** V columns per workgroup. */
export const tcDuTileV = (V: number) => Math.min(64, fragCeil(V));

/** f16: a K-slab of D_n (SK x BV); f32: one epilogue pass's scratch. The widest slab that fits. */
function tcDuLayout(ks: KernelSource): { SK: number; f16: number; f32: number } {
  const BV = tcDuTileV(ks.cfg.V);
  const layouts = [Math.min(128, fragCeil(ks.cfg.K)), 64, 32, 16].map((SK) => ({ SK, f16: SK * BV, f32: scratchWords(1) }));
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no tiling of the backward's value gradient fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** Per (V-tile, chunk, b*h). */
export const tcBwdDuGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.V / tcDuTileV(ks.cfg.V))], ['NT'], ['BH']];

export function emitTcBwdDu(ks: KernelSource, fr: Fragments): Wgsl {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const BV = tcDuTileV(ks.cfg.V);
  const { SK, f16, f32 } = tcDuLayout(ks);
  const p = partition(C / 16, BV / 16);
  const kg16 = ks.use('kg16', 'read', false, 'f16');
  const dhs = ks.f32Reader('dhs', ks.cfg.V % 4 === 0);
  const dvl = ks.use('dvl', 'read');
  const gradV = ks.use('grad_v', 'read_write');
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const at = (r: string, c: string) => wgsl`((b * P.T + t0 + ${r}) * P.H + h) * VD + v0 + ${c}`;
  return wgsl`
${fr.workspace(f16, f32)}

${ks.chunkMain(fr.builtins())}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${grid.decl}
  ${fr.declare('dv', p.fm, p.fn)}
  for (var d0 = 0u; d0 < ${KF}u; d0 += ${SK}u) {
    ${emitF16Block({
    count: wgsl`${SK * BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let d = min(d0 + e / ${BV}u, KD - 1u); let cg = min(v0 + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: dhs.at('((bh * P.NT + n) * KD + d) * VD + cg'), wide: dhs.at4?.('((bh * P.NT + n) * KD + d) * VD + cg') ?? null,
    valid: wgsl`d0 + e / ${BV}u < KD && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => e,
  })}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SK}u; kk += 16u) {
        ${fr.mma('dv', p.fm, p.fn,
    (i) => ({ arr: kg16, offset: chunkOperandAt(KF, rowMap.row(i), 'd0 + kk'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
  }
  ${emitEpilogue(fr, 'dv', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`if (r < rows && v0 + c < VD) { ${gradV}[${at('r', 'c')}] = value + ${dvl}[(bh * P.T + t0 + r) * VD + v0 + c]; }`,
  })}
}`;
}

// The intra-chunk part of du on the fragment layer, per (V-tile, chunk, b*h); the same product as
// the f32 tier's bwdDvLocal (bwd-du.ts):
//   dvl_j = sum_{r >= j} A[r,j] do_r,   i.e. dvl = A^T do
// and the WY backward's X1 = T^T dU, dv = beta X1 (wyDv, bwd-wy.ts): both a lower-triangular
// C x C matrix, transposed, times the chunk's rows (emitTransposedProduct). The matrix's
// fragments are read column-major: straight from a per-chunk f16 block (the forward's aqk16
// where the prep kept the scores, scoresInPrep; the forward's T in t16), else from bwdScores'
// f32 A staged as f16 (the whole C x C block, once). The rows (V-tile columns) are staged once
// as f16. Blocks of the transpose below the diagonal are zero and skipped. dvl goes to dvl, or
// for the delta rule dU, where the scan adds the state part in place.

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

/** A K-slab of D_n (dhs, f32, four wide where V allows), SK x BV at word 0 of wh. */
function stateSlab(ks: KernelSource, BV: number, SK: number): F16Block {
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

/** Whether bwdDvLocal (`wy` false) or wyDv (true) fits the tier's budget on fragments; where not
 * (bwdScores' A staged whole at chunk 64 within 16 KiB, tuning.fragmentMemory), the f32 kernel. */
export const tcTransposedFits = (def: VariantDef, cfg: CodegenConfig, wy: boolean): boolean =>
  workspaceBytes(transposedLayout(cfg, !wy && !scoresInPrep(def, cfg))) <= fragmentBudget(cfg);

type TransposedScope = Scope<ChunkName | 'v0' | (typeof FRAG_NAMES)[number]>;

/** L^T R for a chunk and V-tile: `rows(s, at)` stages R (C x BV at word `at`), `store(s)` the
 * epilogue's statements for element (r, c) of the tile and its `value` (r < rows, v0 + c < VD
 * or C checked), `direct` the target of full tiles' fragments where they go straight to storage,
 * `nan(s, r, c)` the statements setting element (r, c) of every output to NaN. Fragments cannot
 * skip L^T's zeros in a diagonal block, and 0 * NaN would carry a row of R to the output rows
 * after it: a value of R not finite in f16 is staged as 0 and the output rows up to its row set
 * to NaN afterwards (F16Block.causal, reverse), as the f32 kernels' sums give them. */
function emitTransposedProduct(ks: KernelSource, fr: Fragments, o: {
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
  const rows: F16Block = { ...o.rows(s, lay.sR), causal: { firstBad: 'lastBad', row: wgsl`e / ${BV}u`, perRow: BV, wg: FRAG_WG, reverse: true } };
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
  const KF = fragCeil(ks.cfg.K);
  const stateTerm = !o.stateTerm ? '' : wgsl`workgroupBarrier();
  for (var d0 = 0u; d0 < ${KF}u; d0 += ${lay.SK}u) {
    ${emitF16Block(stateSlab(ks, BV, lay.SK))}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${lay.SK}u; kk += 16u) {
        ${fr.mma('lt', p.fm, p.fn,
    (i) => ({ arr: ks.use('kg16', 'read', false, 'f16'), offset: chunkOperandAt(KF, rowMap.row(i), 'd0 + kk'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
  }`;
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

export function emitTcBwdDvLocal(ks: KernelSource, fr: Fragments): Wgsl {
  const out = ks.use(ks.delta ? 'dU' : 'dvl', 'read_write');
  const tokAt = (r: string, c: string) => wgsl`(bh * P.T + t0 + ${r}) * VD + v0 + ${c}`;
  return emitTransposedProduct(ks, fr, {
    lower: scoresInPrep(ks.def, ks.cfg) ? { f16: 'aqk16' } : { f32: 'aqk' },
    rows: (s, at) => doBlock(ks, s, tcDuTileV(ks.cfg.V), at),
    store: () => wgsl`${out}[${tokAt('r', 'c')}] = value;`,
    direct: (r, c) => ({ arr: out, offset: tokAt(r, c), stride: 'VD' }),
    nan: (_s, r, c) => wgsl`${out}[${tokAt(r, c)}] = lae_nan();`,
  });
}

/** The WY backward's X1 = T^T dU and dv = beta X1 (wyDv), T = I + tmat from the forward's t16. */
export function emitTcWyDv(ks: KernelSource, fr: Fragments): Wgsl {
  const BV = tcDuTileV(ks.cfg.V);
  const dU = ks.f32Reader('dU', ks.cfg.V % 4 === 0);
  const x1 = ks.use('X1', 'read_write');
  const gradV = ks.use('grad_v', 'read_write');
  const beta = ks.roleFn('beta');
  const du = 'bh * P.T * VD + t * VD + cg';
  return emitTransposedProduct(ks, fr, {
    lower: { f16: 't16' },
    rows: (s, at) => ({
      count: wgsl`C * ${BV}u`,
      unroll: ks.stagingUnroll,
      index: (four) => wgsl`let t = ${s.t0} + min(e / ${BV}u, ${s.rows} - 1u); let cg = min(${s.v0} + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
      value: dU.at(du), wide: dU.at4?.(du) ?? null,
      valid: wgsl`e / ${BV}u < ${s.rows} && ${s.v0} + e % ${BV}u < VD`,
      arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
    }),
    store: (s) => wgsl`let t = ${s.t0} + r;
        ${x1}[(${s.bh} * P.T + t) * VD + v0 + c] = value;
        ${gradV}[((${s.b} * P.T + t) * P.H + ${s.h}) * VD + v0 + c] = ${beta(s.b, 't', s.h, '0u')} * value;`,
    nan: (s, r, c) => wgsl`${x1}[(${s.bh} * P.T + ${s.t0} + ${r}) * VD + v0 + ${c}] = lae_nan();
        ${gradV}[((${s.b} * P.T + ${s.t0} + ${r}) * P.H + ${s.h}) * VD + v0 + ${c}] = lae_nan();`,
  });
}

/** bwdDu with its intra-chunk part (the form 'bwdDu:local', backward.ts): dv = A^T do +
 * (k 2^(G_last - G)) . D_n in one kernel, straight to grad_v: no bwdDvLocal, no dvl. */
export function emitTcBwdDuLocal(ks: KernelSource, fr: Fragments): Wgsl {
  const gradV = ks.use('grad_v', 'read_write');
  const at = (r: string, c: string) => wgsl`((b * P.T + t0 + ${r}) * P.H + h) * VD + v0 + ${c}`;
  return emitTransposedProduct(ks, fr, {
    lower: scoresInPrep(ks.def, ks.cfg) ? { f16: 'aqk16' } : { f32: 'aqk' },
    rows: (s, base) => doBlock(ks, s, tcDuTileV(ks.cfg.V), base),
    store: () => wgsl`${gradV}[${at('r', 'c')}] = value;`,
    direct: (r, c) => ({ arr: gradV, offset: at(r, c), stride: 'P.H * VD' }),
    nan: (_s, r, c) => wgsl`${gradV}[${at(r, c)}] = lae_nan();`,
    stateTerm: true,
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
