// The delta rule's backward scan on the fragment layer (tensor-core tier), the reverse of the
// forward's delta scan (tc-states.ts) and the same arithmetic as the f32 tier's bwd-dh-delta.ts: per
// (V-tile of 16 columns, sequence and head), walk the chunks in reverse carrying dS, the gradient
// of the state at the end of the chunk (seeded by dht):
//   store dS as dS'_n (f32, for the stages after it)
//   dU = dvl + (k 2^(G_last - G)) dS                  (the keys from the forward's kg16 block;
//                                                      dvl is in dU, the seed in dh0, as in bwd-dh-delta.ts)
//   dS <- 2^G_last dS + (scale q 2^Gq)^T do - W^T dU  (W from the forward's w16 block)
// and after the first chunk, dh0 = dS. dS lives in f32 result fragments; its f16 copy, -dU, the
// chunk's decayed queries and do are staged in workgroup memory for the products. do is staged at
// the top of each step, so its loads overlap the state's epilogue; the next chunk's queries (and
// W, where the layout stages it) are loaded into registers during the step and written to
// workgroup memory at its end (prefetch.ts). dvl, loaded at the top of the step, is added in dU's
// epilogue: a result fragment loaded from storage gave wrong values on the H200 (2026-12-02), so
// no accumulator starts from storage.
import type { KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { emitEpilogue, emitFill, firstFit, FRAG_NAMES, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { emitF16Block, splitF16Block } from './staged.js';
import { commitChunkBlock, declareChunkBlock, loadChunkBlock, prefetchEpilogueValues, type ChunkBlock } from './prefetch.js';
import { doBlock, queryBlock } from './tc-bwd-dh.js';
import { chunkOperandAt, emitStateCheckpoint } from './tc-states.js';
import { extendScope, wgsl, type Wgsl } from '../wgsl.js';

interface BwdScanLayout { BV: number; perPass: number; sS: number; sDu: number; sQ: number; sDo: number; sW: number | null; f16: number; f32: number }

/** f16: [dS (KF x BV) | -dU (C x BV) | decayed queries (C x KF) | do (C x BV) | W (C x KF), where
 * it fits]; f32: the epilogues' scratch, then (per-key decay) the chunk's last gate per key.
 * Tiles of 32 columns come first: the walk is latency-bound and its grid small (B*H*V/BV
 * workgroups: 256 at B*H = 32 and 16 columns, two waves on an H200 at one workgroup per
 * multiprocessor), so a wider tile that halves the grid costs little per step. Then W staged
 * (prefetched a chunk ahead) before not, and the most fragments per epilogue pass that fit. */
export function tcBwdScanLayout(ks: KernelSource): BwdScanLayout {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const layouts: BwdScanLayout[] = [];
  for (const BV of [...new Set([Math.min(32, fragCeil(ks.cfg.V)), 16])]) {
    const pS = partition(KF / 16, BV / 16);
    const sS = 0;
    const sDu = KF * BV;
    const sQ = sDu + C * BV;
    const sDo = sQ + C * KF;
    const base = sDo + C * BV;
    for (const staged of [true, false]) {
      const f16 = base + (staged ? C * KF : 0);
      for (let perPass = pS.fm * pS.fn; perPass >= 1; perPass = Math.floor(perPass / 2)) {
        const f32 = scratchWords(perPass) + (ks.diag ? KF : 0);
        layouts.push({ BV, perPass, sS, sDu, sQ, sDo, sW: staged ? base : null, f16, f32 });
      }
    }
  }
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no backward-scan tiling of K = ${ks.cfg.K} fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** Per (V-tile of the layout's BV columns, sequence and head). */
export const tcBwdScanGrid = (ks: KernelSource): StageShape['grid'] => [[Math.ceil(ks.cfg.V / tcBwdScanLayout(ks).BV)], ['SH'], [1]];

export function emitTcBwdScan(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcBwdScanLayout(ks);
  const { BV, perPass } = lay;
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const pS = partition(KF / 16, BV / 16);
  const pV = partition(C / 16, BV / 16);
  const sGl = scratchWords(perPass);
  // The stage's opening, and the names it, the fragment layer and the kernel declare: vt, v0, and
  // in each step (or block) of the walk its chunk n, t0 and rows.
  const stage = ks.sequenceStage(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['vt', 'v0', 'n', 't0', 'rows']);
  const dob = doBlock(ks, s, BV, lay.sDo);
  // As in the f32 tier's scan: dvl is in dU (bwdDvLocal left it there) and is added to in
  // place; the seed dht is in dh0 (bwdSeed copied it, zeros without dht).
  const dhs = ks.use('dhs', 'read_write');
  const dU = ks.use('dU', 'read_write');
  const dh0 = ks.use('dh0', 'read_write');
  const wBlock: ChunkBlock | null = lay.sW === null ? null : { name: 'pw', buf: ks.use('w16', 'read', false, 'vec4<u32>'), C, width: KF, wg: FRAG_WG };
  const w16 = wBlock ? '' : ks.use('w16', 'read', false, 'f16');
  const wAt = (r: string, d: string) => (wBlock ? { arr: 'wh', offset: wgsl`${lay.sW!}u + ${r} * ${KF}u + ${d}` } : { arr: w16, offset: chunkOperandAt(KF, r, d) });
  const kg16 = ks.use('kg16', 'read', false, 'f16');
  const seedAt = ks.helperFn('seed_at', 4, wgsl`fn seed_at(sq: u32, h: u32, d: u32, c: u32) -> f32 {
  if (d >= KD || c >= VD) { return 0.0; }
  return ${dh0}[${ks.stateIndex('sq', 'h', 'd', 'c')}];
}`);
  const sGrid = subgroupGrid(pS, 's');
  const vGrid = subgroupGrid(pV, 'v');
  const sMap = sGrid.map;
  const vMap = vGrid.map;
  const qBlock = splitF16Block(queryBlock(ks, s, KF, lay.sQ), 'pq');
  // dvl for dU's epilogue, loaded at the top of the step.
  const dvPre = prefetchEpilogueValues(fr, pV.fm, pV.fn, vMap, 'vactive', 'dvpre',
    wgsl`${dU}[(${s.bh} * P.T + ${s.t0} + min(r, ${s.rows} - 1u)) * VD + min(${s.v0} + c, VD - 1u)]`);
  // The queries (and W) of chunk n, from the registers into workgroup memory.
  const commit = (n: string) => wgsl`{
      let n = ${n};
      ${ks.chunkSpan()}
      ${qBlock.store}
    }
    ${wBlock ? commitChunkBlock(wBlock, 'wh', lay.sW!) : ''}`;
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${sGrid.decl}
  ${vGrid.decl}
  ${fr.declare('ds', pS.fm, pS.fn)}
  ${fr.declare('du', pV.fm, pV.fn)}
  ${dvPre.decl}
  ${qBlock.decl}
  ${wBlock ? declareChunkBlock(wBlock) : ''}
  {
    let n = nEnd - 1u;
    ${ks.chunkSpan()}
    ${qBlock.load}
  }
  ${wBlock ? loadChunkBlock(wBlock, 'nEnd - 1u') : ''}
  ${commit('nEnd - 1u')}
  ${emitFill(fr, 'ds', pS.fm, pS.fn, { scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap, value: seedAt(s.sq, s.h, 'r', wgsl`${s.v0} + c`) })}
  for (var nn = nBegin; nn < nEnd; nn++) {
    let n = nBegin + nEnd - 1u - nn;
    ${ks.chunkSpan()}
    ${dvPre.load}
    // The next chunk's decayed queries${wBlock ? ' and W' : ''} into registers, in flight during this step.
    let nNext = select(n - 1u, n, nn + 1u == nEnd);
    {
      let n = nNext;
      ${ks.chunkSpan()}
      ${qBlock.load}
    }
    ${wBlock ? loadChunkBlock(wBlock, 'nNext') : ''}
    // do into workgroup memory (published by the barriers of the state's epilogue below).
    ${emitF16Block(dob)}
    // dS'_n for dU, then decayed.
    ${emitStateCheckpoint(ks, fr, { acc: 'ds', p: pS, map: sMap, active: 'sactive', perPass, sGl, KF, BV, sS: lay.sS, perChunk: dhs })}
    // dU = dvl + Kg dS'_n, the decayed keys (C x K) straight from the forward's kg16 block.
    ${fr.zero('du', pV.fm, pV.fn)}
    if (vactive) {
      for (var d0 = 0u; d0 < ${KF}u; d0 += 16u) {
        ${fr.mma('du', pV.fm, pV.fn,
    (i) => ({ arr: kg16, offset: chunkOperandAt(KF, vMap.row(i), 'd0'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sS}u + d0 * ${BV}u + ${vMap.col(j)}`, stride: BV }))}
      }
    }
    ${emitEpilogue(fr, 'du', pV.fm, pV.fn, {
    scratch: 'wf', scratchBase: 0, perPass: Math.min(perPass, pV.fm * pV.fn), active: 'vactive', ...vMap,
    body: wgsl`var x = 0.0;
      if (r < rows && v0 + c < VD) {
        let at = (bh * P.T + t0 + r) * VD + v0 + c;
        x = dvpre[slot] + value;
        ${dU}[at] = x;
      }
      wh[${lay.sDu}u + r * ${BV}u + c] = f16(-x);`,
  })}
    // dS += (scale q 2^Gq)^T do + W^T (-dU), over the chunk's rows.
    // (W, C x K, read transposed straight from the forward's w16 block.)
    if (sactive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        ${fr.mma('ds', pS.fm, pS.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${lay.sQ}u + kk * ${KF}u + ${sMap.row(i)}`, stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sDo}u + kk * ${BV}u + ${sMap.col(j)}`, stride: BV }))}
        ${fr.mma('ds', pS.fm, pS.fn,
    (i) => ({ ...wAt('kk', sMap.row(i)), stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sDu}u + kk * ${BV}u + ${sMap.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
    // The next chunk's queries${wBlock ? ' and W' : ''} replace this one's (every product has read them).
    ${commit('nNext')}
  }
  ${emitEpilogue(fr, 'ds', pS.fm, pS.fn, {
    scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap,
    body: wgsl`if (r < KD && v0 + c < VD) { ${dh0}[${ks.stateIndex('sq', 'h', 'r', 'v0 + c')}] = value; }`,
  })}
}
`;
}
