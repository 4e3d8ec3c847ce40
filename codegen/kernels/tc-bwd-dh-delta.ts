// The delta rule's backward scan on the fragment layer (tensor-core tier), the reverse of the
// forward's delta scan (tc-states.ts) and the same arithmetic as the f32 tier's bwd-dh-delta.ts: per
// (V-tile of the layout's BV columns, sequence and head), walk the chunks in reverse carrying dS, the gradient
// of the state at the end of the chunk (seeded by dht):
//   store dS as dS'_n (f32, for the stages after it)
//   dU = dvl + (k 2^(G_last - G)) dS                  (the keys from the forward's kg16 block;
//                                                      dvl is in dU, the seed in dh0, as in bwd-dh-delta.ts)
//   dS <- 2^G_last dS + (scale q 2^Gq)^T do - W^T dU  (W from the forward's w16 block)
// and after the first chunk, dh0 = dS. dS lives in f32 result fragments; its f16 copy, -dU, do,
// the chunk's decayed queries and (where the layout stages them) its keys and W are staged in
// workgroup memory for the products, two regions serving twice per step (tcBwdScanLayout): dS's
// copy, then -dU and do; the keys, then W. Every operand that does not depend on dS is loaded
// into registers before it is needed (prefetch.ts): dvl, do and W at the top of the step (in
// flight during the state's epilogue and dU's product), the next chunk's queries and keys after
// dU's product (in flight during the update), and written to workgroup memory after their
// region's last reader. dvl is added in dU's epilogue: a result fragment loaded from storage
// gave wrong values on the H200 (2026-12-02), so no accumulator starts from storage.
import type { KernelSource } from './common.js';
import { ConfigError, type StageShape } from '../plan.js';
import { emitEpilogue, emitFill, firstFit, fragmentBudget, FRAG_NAMES, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, subgroupGrid } from './fragments.js';
import { splitF16Block } from './staged.js';
import { commitChunkBlock, declareChunkBlock, loadChunkBlock, prefetchEpilogueValues, type ChunkBlock } from './prefetch.js';
import { doBlock, queryBlock } from './tc-bwd-dh.js';
import { chunkOperandAt, emitStateCheckpoint } from './tc-states.js';
import { extendScope, wgsl, type Wgsl } from '../wgsl.js';

interface BwdScanLayout {
  BV: number; perPass: number;
  /** f16 words: the shared region (dS's f16 copy; then -dU and do), the decayed queries, and
   * (staged) the region the keys and then W take; null where they stay in storage. */
  sR: number; sDu: number; sDo: number; sQ: number; sA: number | null; f16: number; f32: number;
}

/** f16: [R: dS (KF x BV), then -dU (C x BV) and do (C x BV) | decayed queries (C x KF) | A: the
 * decayed keys (C x KF), then W, where it fits]; f32: the epilogues' scratch, then (per-key
 * decay) the chunk's last gate per key. Region R serves dS's copy until dU's product has read
 * it, then -dU and do for the state's update; region A the keys until that same product, then
 * W: so both per-chunk operands of the products come from workgroup memory, prefetched, in
 * 40 KiB of f16 (K = 128, chunk 64, 32 columns), where staging W alone beside dS, -dU, do and
 * the queries took 48 KiB before the scratch; with the scratch 48 KiB (gdn, two fragments per
 * pass) or 44.5 KiB (kda, one), one workgroup per multiprocessor. Tiles of 32 columns come
 * first, then staged before not, then the most fragments per epilogue pass that fit. Timed on
 * the H200 (2026-12-03, gated delta rule at (1,32,4096,128,128), bench/raw/h200-2026-12-03-s9-*):
 * 32 columns staged 0.777 ms; 16 columns unstaged within 24 KiB (two workgroups per
 * multiprocessor) 0.789; 16 columns staged 0.939; 32 columns unstaged 0.979 (the layout before
 * the regions, W and the keys from storage: 0.923). */
export function tcBwdScanLayout(ks: KernelSource): BwdScanLayout {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const layouts: BwdScanLayout[] = [];
  for (const BV of [...new Set([Math.min(32, fragCeil(ks.cfg.V)), 16])]) {
    const pS = partition(KF / 16, BV / 16);
    const sR = 0;
    const sQ = sR + Math.max(KF, 2 * C) * BV;
    const base = sQ + C * KF;
    for (const staged of [true, false]) {
      const f16 = base + (staged ? C * KF : 0);
      for (let perPass = pS.fm * pS.fn; perPass >= 1; perPass = Math.floor(perPass / 2)) {
        const f32 = scratchWords(perPass) + (ks.diag ? KF : 0);
        layouts.push({ BV, perPass, sR, sDu: sR, sDo: sR + C * BV, sQ, sA: staged ? base : null, f16, f32 });
      }
    }
  }
  // The whole tier's budget from the start: the occupancy budget's layout (16 columns, nothing
  // staged) timed slower than the first that fits the tier (see above).
  return firstFit({ ...ks.cfg, fragmentMemory: fragmentBudget(ks.cfg) }, layouts, (budget) => new ConfigError(`no backward-scan tiling of K = ${ks.cfg.K} fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
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
  const doParts = splitF16Block(doBlock(ks, s, BV, lay.sDo), 'pdo');
  // As in the f32 tier's scan: dvl is in dU (bwdDvLocal left it there) and is added to in
  // place; the seed dht is in dh0 (bwdSeed copied it, zeros without dht).
  const dhs = ks.use('dhs', 'read_write');
  const dU = ks.use('dU', 'read_write');
  const dh0 = ks.use('dh0', 'read_write');
  const staged = lay.sA !== null;
  const wBlock: ChunkBlock | null = staged ? { name: 'pw', buf: ks.use('w16', 'read', false, 'vec4<u32>'), C, width: KF, wg: FRAG_WG } : null;
  const w16 = staged ? '' : ks.use('w16', 'read', false, 'f16');
  const kBlock: ChunkBlock | null = staged ? { name: 'pk', buf: ks.use('kg16', 'read', false, 'vec4<u32>'), C, width: KF, wg: FRAG_WG } : null;
  const kg16 = staged ? '' : ks.use('kg16', 'read', false, 'f16');
  const fromA = (buf: string, r: string, d: string) => (staged ? { arr: 'wh', offset: wgsl`${lay.sA!}u + ${r} * ${KF}u + ${d}` } : { arr: buf, offset: chunkOperandAt(KF, r, d) });
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
  // Chunk n's queries and (staged) keys: loaded into registers a step ahead, written to
  // workgroup memory after the step's last reader.
  const loadNext = (n: string) => wgsl`{
      let n = ${n};
      ${ks.chunkSpan()}
      ${qBlock.load}
    }
    ${kBlock ? loadChunkBlock(kBlock, n) : ''}`;
  const commitNext = (n: string) => wgsl`{
      let n = ${n};
      ${ks.chunkSpan()}
      ${qBlock.store}
    }
    ${kBlock ? commitChunkBlock(kBlock, 'wh', lay.sA!) : ''}`;
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
  ${doParts.decl}
  ${kBlock ? declareChunkBlock(kBlock) : ''}
  ${wBlock ? declareChunkBlock(wBlock) : ''}
  ${loadNext('nEnd - 1u')}
  ${commitNext('nEnd - 1u')}
  ${emitFill(fr, 'ds', pS.fm, pS.fn, { scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap, value: seedAt(s.sq, s.h, 'r', wgsl`${s.v0} + c`) })}
  for (var nn = nBegin; nn < nEnd; nn++) {
    let n = nBegin + nEnd - 1u - nn;
    ${ks.chunkSpan()}
    let nNext = select(n - 1u, n, nn + 1u == nEnd);
    // This step's dvl, do${wBlock ? ' and W' : ''} into registers, in flight during the state's epilogue and dU's product.
    ${dvPre.load}
    ${doParts.load}
    ${wBlock ? loadChunkBlock(wBlock, 'n') : ''}
    // dS'_n for dU (into region R), then decayed.
    ${emitStateCheckpoint(ks, fr, { acc: 'ds', p: pS, map: sMap, active: 'sactive', perPass, sGl, KF, BV, sS: lay.sR, perChunk: dhs })}
    // dU = dvl + Kg dS'_n, the keys decayed to the chunk's end (C x K, the forward's kg16 block${kBlock ? ', staged in region A' : ''}).
    ${fr.zero('du', pV.fm, pV.fn)}
    if (vactive) {
      for (var d0 = 0u; d0 < ${KF}u; d0 += 16u) {
        ${fr.mma('du', pV.fm, pV.fn,
    (i) => ({ ...fromA(kg16, vMap.row(i), 'd0'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sR}u + d0 * ${BV}u + ${vMap.col(j)}`, stride: BV }))}
      }
    }
    // Regions R and A are read: do (and W) take their places.
    workgroupBarrier();
    ${doParts.store}
    ${wBlock ? commitChunkBlock(wBlock, 'wh', lay.sA!) : ''}
    // The next chunk's queries${kBlock ? ' and keys' : ''} into registers, in flight during the update.
    ${loadNext('nNext')}
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
    // dS += (scale q 2^Gq)^T do + W^T (-dU), over the chunk's rows (W, C x K, read transposed${wBlock ? ' from region A' : ' straight from the forward\'s w16 block'}).
    if (sactive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        ${fr.mma('ds', pS.fm, pS.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${lay.sQ}u + kk * ${KF}u + ${sMap.row(i)}`, stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sDo}u + kk * ${BV}u + ${sMap.col(j)}`, stride: BV }))}
        ${fr.mma('ds', pS.fm, pS.fn,
    (i) => ({ ...fromA(w16, 'kk', sMap.row(i)), stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sDu}u + kk * ${BV}u + ${sMap.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
    // The next chunk's queries${kBlock ? ' and keys' : ''} replace this one's (every product has read them).
    ${commitNext('nNext')}
  }
  ${emitEpilogue(fr, 'ds', pS.fm, pS.fn, {
    scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap,
    body: wgsl`if (r < KD && v0 + c < VD) { ${dh0}[${ks.stateIndex('sq', 'h', 'r', 'v0 + c')}] = value; }`,
  })}
}
`;
}
