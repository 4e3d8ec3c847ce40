// The state gradients without the delta rule on the fragment layer (tensor-core tier): each
// chunk's own term, per (V-tile, chunk, b*h), the same product as the f32 tier's bwdChunkState
// (bwd-dh.ts, through chunk-state.ts's emitChunkOuter):
//   L_n = sum_i (scale q_i 2^Gq_i)^T do_i       (K x V, into dhs; bwdStateScan then scans it)
// The chunk's decayed queries (C x K, read transposed) and do (C x BV) are staged as f16; a full
// tile goes straight from the fragments to dhs. The delta rule's scan (tc-bwd-dh-delta.ts) takes
// the same product each step, so it stages the same two blocks (queryBlock, doBlock).
import type { F32Reader, KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { emitDirectStores, emitEpilogue, firstFit, FRAG_NAMES, fragCeil, partition, scratchWords, type Fragments, subgroupGrid, workspaceBytes } from './fragments.js';
import { emitF16Block, type F16Block } from './staged.js';
import { scaledDecayedQuery } from './tc-scores.js';
import { extendScope, wgsl, type Scope, type Wgsl } from '../wgsl.js';

/** f16: [decayed queries (C x KF) | do (C x BV)]; f32: one epilogue pass's scratch. V columns
 * per workgroup: the widest of 64, 32, 16 that fits the first budget that fits any (64 columns
 * take 28 KiB at K = 128, chunk 64, 32 take 24 KiB: two workgroups per H200 multiprocessor). */
export function tcChunkStateLayout(cfg: KernelSource['cfg']): { BV: number; sQ: number; sDo: number; f16: number; f32: number } {
  const C = cfg.chunk;
  const KF = fragCeil(cfg.K);
  const layouts = [...new Set([Math.min(64, fragCeil(cfg.V)), Math.min(32, fragCeil(cfg.V)), 16])]
    .map((BV) => ({ BV, sQ: 0, sDo: C * KF, f16: C * KF + C * BV, f32: scratchWords(1) }));
  // Where none fits: the bytes of the narrowest (16 columns, the last).
  return firstFit(cfg, layouts, (budget) => new ConfigError(`the backward's chunk states at K = ${cfg.K} need ${workspaceBytes(layouts.at(-1)!)} bytes of workgroup memory, past ${budget}; raise tuning.fragmentMemory`));
}

/** Per (V-tile, chunk, b*h). */
export const tcBwdChunkStateGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.V / tcChunkStateLayout(ks.cfg).BV)], ['NT'], ['BH']];

export function emitTcBwdChunkState(ks: KernelSource, fr: Fragments): Wgsl {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const { BV, sQ, sDo, f16, f32 } = tcChunkStateLayout(ks.cfg);
  const p = partition(KF / 16, BV / 16);
  // The stage's opening, and the names it, the fragment layer and the kernel (vt, v0) declare.
  const stage = ks.chunkStage(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['vt', 'v0']);
  const dob = doBlock(ks, s, BV, sDo);
  const dhs = ks.use('dhs', 'read_write');
  const qb = queryBlock(ks, s, KF, sQ);
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const at = (r: string, c: string) => wgsl`((${s.bh} * P.NT + ${s.n}) * KD + ${r}) * VD + ${s.v0} + ${c}`;
  return wgsl`
${fr.workspace(f16, f32)}

${stage.open}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${grid.decl}
  ${fr.declare('ls', p.fm, p.fn)}
  ${emitF16Block(qb)}
  ${emitF16Block(dob)}
  workgroupBarrier();
  if (factive) {
    for (var kk = 0u; kk < C; kk += 16u) {
      ${fr.mma('ls', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${sQ}u + kk * ${KF}u + ${rowMap.row(i)}`, stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${sDo}u + kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }))}
    }
  }
  if (KD == ${KF}u && ${s.v0} + ${BV}u <= VD) {
    ${emitDirectStores(fr, 'ls', p.fm, p.fn, 'factive', (i, j) => ({ arr: dhs, offset: at(rowMap.row(i), rowMap.col(j)), stride: 'VD' }))}
  } else {
    workgroupBarrier();
    ${emitEpilogue(fr, 'ls', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: wgsl`if (r < KD && ${s.v0} + c < VD) { ${dhs}[${at('r', 'c')}] = value; }`,
  })}
  }
}`;
}

/** The scaled, decayed queries of chunk (n, b*h), KF columns, at word `at` of wh: the chunk's
 * t0 and rows from its stage's scope. (scaledDecayedQuery reads b, h, t0 and the staging's t, d
 * by name.) */
export function queryBlock(ks: KernelSource, s: Scope<'t0' | 'rows'>, KF: number, at: number): F16Block {
  const qs = scaledDecayedQuery(ks);
  return {
    count: wgsl`C * ${KF}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = ${s.t0} + min(e / ${KF}u, ${s.rows} - 1u); let d = min(e % ${KF}u, KD - ${four ? 4 : 1}u);`,
    value: qs.value,
    wide: qs.wide,
    valid: wgsl`e / ${KF}u < ${s.rows} && e % ${KF}u < KD`,
    arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
  };
}

/** The chunk's do, columns v0 .. v0 + BV (BV a multiple of 4), at word `at` of wh, read four
 * wide where V allows: b, h, t0, rows and v0 from the stage's scope. */
export function doBlock(ks: KernelSource, s: Scope<'b' | 'h' | 't0' | 'rows' | 'v0'>, BV: number, at: number): F16Block {
  return valueRowsBlock(ks, s, BV, at, ks.seedDoReader(), wgsl`((${s.b} * P.T + t) * P.H + ${s.h}) * VD + cg`);
}

/** The chunk's rows of a [.., T, .., V] f32 buffer read through `src` at index `tok` (over the
 * staging's t and cg), columns v0 .. v0 + BV, at word `at` of wh (doBlock; the WY backward's
 * dU rows). */
export function valueRowsBlock(ks: KernelSource, s: Scope<'t0' | 'rows' | 'v0'>, BV: number, at: number, src: F32Reader, tok: Wgsl): F16Block {
  return {
    count: wgsl`C * ${BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = ${s.t0} + min(e / ${BV}u, ${s.rows} - 1u); let cg = min(${s.v0} + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: src.at(tok), wide: src.at4?.(tok) ?? null,
    valid: wgsl`e / ${BV}u < ${s.rows} && ${s.v0} + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${at}u + ${e}`,
  };
}
