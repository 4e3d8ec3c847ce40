// Each chunk's own term of the backward's state gradient without the delta rule, on the fragment
// layer (tensor-core tier), per (V-tile, chunk, b*h); the same product as the f32 tier's
// bwdChunkState (bwd-du.ts, through chunk-state.ts's emitChunkOuter):
//   L_n = sum_i (scale q_i 2^Gq_i)^T do_i       (K x V, into dhs; bwdStateScan then scans it)
// The chunk's decayed queries (C x K, read transposed) and do (C x BV) are staged as f16; a full
// tile goes straight from the fragments to dhs.
import type { KernelSource } from './common.js';
import { ConfigError } from '../plan.js';
import { emitDirectStores, emitEpilogue, fragCeil, fragmentBudget, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block } from './staged.js';
import { doBlock, queryBlock } from './tc-bwd-blocks.js';

/** V columns per workgroup. */
export const tcChunkStateTileV = (V: number) => Math.min(64, fragCeil(V));

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
