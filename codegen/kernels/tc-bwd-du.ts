// The value gradient of each chunk without the delta rule, on the fragment layer (tensor-core
// tier), per (V-tile, chunk, b*h), and its intra-chunk part (below); the same products as the
// f32 tier's bwd-du.ts:
//   dv_j = dvl_j + (k_j 2^(G_last - G_j)) . D_n
// The decayed keys come straight from the forward's per-chunk f16 block (kg16, the state walk's
// operand); D_n (dhs, f32, read four wide where V allows) is staged as f16 in K-slabs; the
// epilogue adds dvl. (Starting the
// accumulators from dvl, a result fragment loaded from storage, gave wrong values on the H200,
// 2026-12-02.)
import type { KernelSource } from './common.js';
import { ConfigError, scoresInPrep, type StageShape } from '../plan.js';
import { emitDirectStores, emitEpilogue, firstFit, FRAG_NAMES, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block } from './staged.js';
import { chunkOperandAt } from './tc-states.js';
import { doBlock } from './tc-bwd-dh.js';
import { bwdFns } from './bwd-common.js';
import { extendScope, wgsl, type Wgsl } from '../wgsl.js';
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
// A^T's fragments are A's read column-major: straight from the forward's f16 scores (aqk16)
// where the prep kept them (scoresInPrep), else from bwdScores' f32 A staged as f16 (the whole
// C x C block, once). The chunk's do (V-tile columns) is staged once as f16. Blocks of A^T below
// the diagonal are zero and skipped. Out: dvl, or for the delta rule dU, where the scan adds
// the state part in place.

/** f16: [A (C x C, where staged) | do (C x BV)]; f32: one epilogue pass's scratch. */
function tcDvLocalLayout(ks: KernelSource): { sA: number; sDo: number; f16: number; f32: number } {
  const C = ks.cfg.chunk;
  const BV = tcDuTileV(ks.cfg.V);
  const sA = 0;
  const sDo = scoresInPrep(ks.def, ks.cfg) ? 0 : C * C;
  const layout = { sA, sDo, f16: sDo + C * BV, f32: scratchWords(1) };
  return firstFit(ks.cfg, [layout], (budget) => new ConfigError(`no tiling of the backward's intra-chunk du fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

export function emitTcBwdDvLocal(ks: KernelSource, fr: Fragments): Wgsl {
  const C = ks.cfg.chunk;
  const BV = tcDuTileV(ks.cfg.V);
  const lay = tcDvLocalLayout(ks);
  const p = partition(C / 16, BV / 16);
  const { cc } = bwdFns(ks);
  const stage = ks.chunkStage(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['v0']);
  const fromPrep = scoresInPrep(ks.def, ks.cfg);
  const aqk16 = fromPrep ? ks.use('aqk16', 'read', false, 'f16') : null;
  const aqk = fromPrep ? null : ks.use('aqk', 'read');
  const dob = doBlock(ks, s, BV, lay.sDo);
  const out = ks.use(ks.delta ? 'dU' : 'dvl', 'read_write');
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  // A's block (row block kk / 16, column block J) read transposed: A^T's block (J, kk / 16).
  const left = (i: number) => {
    const offset = wgsl`kk * C + ${renderIndex(mul(grid.block.row(i), 16))}`;
    return aqk16
      ? { arr: aqk16, offset: wgsl`(bh * P.NT + n) * C * C + ${offset}`, stride: C, colMajor: true }
      : { arr: 'wh', offset: wgsl`${lay.sA}u + ${offset}`, stride: C, colMajor: true };
  };
  const stageA = aqk ? emitF16Block({
    count: wgsl`C * C`,
    unroll: ks.stagingUnroll,
    index: () => wgsl`let r = min(e / C, rows - 1u); let j = e % C;`,
    value: wgsl`${aqk}[${cc()('bh', 'n', 'r', 'j')}]`, wide: null,
    valid: wgsl`e / C < rows`,
    arr: 'wh', at: (e) => wgsl`${lay.sA}u + ${e}`,
  }) : '';
  const tokAt = (r: string, c: string) => wgsl`(bh * P.T + t0 + ${r}) * VD + v0 + ${c}`;
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  ${fr.opening()}
  let v0 = wid.x * ${BV}u;
  ${grid.decl}
  ${fr.declare('dv', p.fm, p.fn)}
  ${stageA}
  ${emitF16Block(dob)}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${fr.mma('dv', p.fm, p.fn, left,
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sDo}u + kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }),
    (i) => wgsl`kk / 16u >= ${renderIndex(grid.block.row(i))}`)}
    }
  }
  if (rows == C && v0 + ${BV}u <= VD) {
    ${emitDirectStores(fr, 'dv', p.fm, p.fn, 'factive', (i, j) => ({ arr: out, offset: tokAt(rowMap.row(i), rowMap.col(j)), stride: 'VD' }))}
  } else {
    workgroupBarrier();
    ${emitEpilogue(fr, 'dv', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`if (r < rows && v0 + c < VD) { ${out}[${tokAt('r', 'c')}] = value; }`,
  })}
  }
}`;
}
