// The state gradients without the delta rule on the fragment layer (tensor-core tier): each
// chunk's own term, per (V-tile, chunk, b*h), the same product as the f32 tier's bwdChunkState
// (bwd-dh.ts, through chunk-state.ts's emitChunkOuter):
//   L_n = sum_i (scale q_i 2^Gq_i)^T do_i       (K x V, into dhs; bwdStateScan then scans it)
// The chunk's decayed queries (C x K, read transposed) and do (C x BV) are staged as f16; a full
// tile goes straight from the fragments to dhs. The delta rule's scan (tc-bwd-dh-delta.ts) takes
// the same product each step, so it stages the same two blocks (queryBlock, doBlock).
import type { KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { emitDirectStores, emitEpilogue, fragCeil, fragmentBudget, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block, type F16Block } from './staged.js';
import { scaledDecayedQuery } from './tc-scores.js';

/** V columns per workgroup. */
export const tcChunkStateTileV = (V: number) => Math.min(64, fragCeil(V));

/** Per (V-tile, chunk, b*h). */
export const tcBwdChunkStateGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.V / tcChunkStateTileV(ks.cfg.V))], ['NT'], ['BH']];

export function emitTcBwdChunkState(ks: KernelSource, fr: Fragments): string {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const BV = tcChunkStateTileV(ks.cfg.V);
  const sQ = 0;
  const sDo = C * KF;
  const f16 = sDo + C * BV;
  const f32 = scratchWords(1);
  const budget = fragmentBudget(ks.cfg);
  if (2 * f16 + 4 * f32 > budget) {
    throw new ConfigError(`the backward's chunk states at K = ${ks.cfg.K} need ${2 * f16 + 4 * f32} bytes of workgroup memory, past ${budget}; raise tuning.fragmentMemory`);
  }
  const p = partition(KF / 16, BV / 16);
  const dob = doBlock(ks, BV, sDo);
  const dhs = ks.use('dhs', 'read_write');
  const qb = queryBlock(ks, KF, sQ);
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const at = (r: string, c: string) => `((bh * P.NT + n) * KD + ${r}) * VD + v0 + ${c}`;
  return `
${fr.workspace(f16, f32)}

${ks.chunkMain(fr.builtins())}
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
    (i) => ({ arr: 'wh', offset: `${sQ}u + kk * ${KF}u + ${rowMap.row(i)}`, stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: `${sDo}u + kk * ${BV}u + ${rowMap.col(j)}`, stride: BV }))}
    }
  }
  if (KD == ${KF}u && v0 + ${BV}u <= VD) {
    ${emitDirectStores(fr, 'ls', p.fm, p.fn, 'factive', (i, j) => ({ arr: dhs, offset: at(rowMap.row(i), rowMap.col(j)), stride: 'VD' }))}
  } else {
    workgroupBarrier();
    ${emitEpilogue(fr, 'ls', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, active: 'factive', ...rowMap,
    body: `if (r < KD && v0 + c < VD) { ${dhs}[${at('r', 'c')}] = value; }`,
  })}
  }
}`;
}

/** The scaled, decayed queries of chunk (n, b*h) (t0, rows in scope), KF columns, at word `at` of wh. */
export function queryBlock(ks: KernelSource, KF: number, at: number): F16Block {
  const qs = scaledDecayedQuery(ks);
  return {
    count: `C * ${KF}u`,
    unroll: ks.stagingUnroll,
    index: (four) => `let t = t0 + min(e / ${KF}u, rows - 1u); let d = min(e % ${KF}u, KD - ${four ? 4 : 1}u);`,
    value: qs.value,
    wide: qs.wide,
    valid: `e / ${KF}u < rows && e % ${KF}u < KD`,
    arr: 'wh', at: (e) => `${at}u + ${e}`,
  };
}

/** The chunk's do, columns v0 .. v0 + BV, at word `at` of wh. */
export function doBlock(ks: KernelSource, BV: number, at: number): F16Block {
  const dO = ks.seedDo();
  return {
    count: `C * ${BV}u`,
    unroll: ks.stagingUnroll,
    index: () => `let t = t0 + min(e / ${BV}u, rows - 1u); let cg = min(v0 + e % ${BV}u, VD - 1u);`,
    value: `${dO}[((b * P.T + t) * P.H + h) * VD + cg]`, wide: null,
    valid: `e / ${BV}u < rows && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => `${at}u + ${e}`,
  };
}
