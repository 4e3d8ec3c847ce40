// The output stage on the fragment layer (tensor-core tier), per (V-tile, chunk, b*h):
//   O = (scale Q 2^{Gq}) S_n + A_qk V   (+ the spec's outputAdd, times its outputGate)
// A_qk comes from tc-scores.ts into workgroup memory as f16 (masked, decayed, scaled). The two
// products accumulate into one set of result fragments: K-slabs of the decayed queries against
// rows of S_n, then row slabs of A against V (V_new for the delta rule), where a row block of O
// only reads the column blocks of A at or left of its own (the rest are zero). Each subgroup owns
// an fm x fn block of O's fragments; the epilogue adds outputAdd and applies the gate per element.
// Where the scores are anchored per-key products (plan.ts scoresInPrep: gla, kda, rwkv6 and the
// generalized delta rule), they are computed before this stage (kda's and the generalized delta
// rule's prep, gla's and rwkv6's scores stage), and it loads them as fragments straight from
// storage (aqk16, f16, C x C per chunk, scale applied), as the WY factors load T: A_qk, and the
// generalized delta rule's A_qb and A_qk for its
// O = (scale Q 2^{G}) S~_n + A_qb u + A_qk V. Under the tuning knob outputScores 'output' this
// stage computes them itself (ScoresPlan).
import type { KernelSource } from './common.js';
import { ConfigError, scoresInPrep } from '../plan.js';
import { declareFirstBad, emitCausalFixup, emitF16Block, NAN_WGSL, type F16Block } from './staged.js';
import { emitDirectStores, emitEpilogue, firstFit, FRAG_NAMES, FRAG_WG, fragCeil, partition, scratchWords, type FragSource, type Fragments, subgroupGrid } from './fragments.js';
import { emitTcScores, scaledDecayedQuery, tcScoresWords, type TcScoresOptions } from './tc-scores.js';
import { extendScope, wgsl, wgslFn, type Wgsl } from '../wgsl.js';
import { mul, renderIndex } from '../index-expr.js';

/** V columns per workgroup of the output stage: the scores are computed once per tile. */
/** Columns of O per workgroup: the tuning knob outputTile, else 128 (one workgroup per chunk at
 * V = 128; FLA's chunk_fwd_o takes 64). */
export const tcOutputTileV = (cfg: { readonly V: number; readonly outputTile?: number }) => Math.min(fragCeil(cfg.V), cfg.outputTile ?? 128);

/** How the scores are computed: by the prep, loaded from storage ('prep', no workgroup memory of
 * their own: A_qk, and the generalized delta rule's A_qb); or here: one matrix (A_qk, 'one'), or
 * the generalized delta rule's two (A_qb against u, A_qk against V; tuning knob outputScores
 * 'output') in one pass into two regions ('paired'), or each just before its product, in one
 * region ('sequential': the smaller, which fits OCCUPANCY_BUDGET at chunk 64). */
type ScoresPlan = 'one' | 'paired' | 'sequential' | 'prep';

interface Layout { slab: number; perPass: number; sA: number; sAk: number; sQ: number; sSV: number; f16: number; f32: number; scores: ScoresPlan }

/** Workgroup-memory layout: f16 [A | Qg slab | S or V slab], the scores' staging aliasing all
 * but A (no A where the prep made it); f32 [scratch, the scores' own]. The widest slab (32, else
 * 16) and the most fragments per epilogue pass (4, 2, 1) that fit; with the prep's scores and
 * direct stores, the fewest (see below). */
export function tcOutputLayout(ks: KernelSource): Layout {
  const C = ks.cfg.chunk;
  const BV = tcOutputTileV(ks.cfg);
  const plans: ScoresPlan[] = scoresInPrep(ks.def, ks.cfg) ? ['prep'] : !ks.dplr ? ['one'] : ['paired', 'sequential'];
  const layouts: Layout[] = [];
  for (const scores of plans) for (const slab of [32, 16]) {
    // With the scores from the prep the scratch serves only the epilogue of O; where full chunks
    // store O straight from the fragments (directStores) that is the last, partial chunk's alone,
    // so the smallest scratch comes first (16 KiB at chunk 64, V = 128: three workgroups per H200
    // multiprocessor, fragments.ts OCCUPANCY_BUDGET).
    for (const perPass of scores === 'prep' && directStores(ks) ? [1, 2, 4] : [4, 2, 1]) {
      if (scores === 'prep') {
        layouts.push({ slab, perPass, sA: 0, sAk: 0, sQ: 0, sSV: C * slab, f16: C * slab + slab * BV, f32: scratchWords(perPass), scores });
        continue;
      }
      const sc = tcScoresWords(ks, 'q', slab, perPass, ks.dplr ? 'b' : 'k', scores === 'paired');
      const sA = 0;
      const sAk = scores === 'paired' ? C * C : 0;
      const sQ = sAk + C * C;
      const sSV = sQ + C * slab;
      const f16 = Math.max(sSV + slab * BV, sQ + sc.f16);
      const f32 = Math.max(scratchWords(perPass), sc.f32);
      layouts.push({ slab, perPass, sA, sAk, sQ, sSV, f16, f32, scores });
    }
  }
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no output tiling of the tensor-core tier fits ${budget} bytes of workgroup memory (K = ${ks.cfg.K}, V = ${ks.cfg.V}, chunk ${ks.cfg.chunk}); raise tuning.fragmentMemory`));
}

/** Whether full chunks store O straight from the result fragments (no epilogue): plain attention
 * output (no outputAdd or outputGate) and V a multiple of 16. */
const directStores = (ks: KernelSource) => !ks.def.roles.outputAdd && !ks.def.roles.outputGate && ks.cfg.V % 16 === 0;

export function emitTcOutput(ks: KernelSource, fr: Fragments): Wgsl {
  const { cfg } = ks;
  const C = cfg.chunk;
  const BV = tcOutputTileV(cfg);
  const lay = tcOutputLayout(ks);
  const SK = lay.slab;
  const p = partition(C / 16, BV / 16);
  const qs = scaledDecayedQuery(ks);
  // The per-chunk states and V_new are read four-wide where V is a multiple of 4.
  const wideV = ks.vectorLoads && cfg.V % 4 === 0;
  const hs4 = wideV ? ks.use('hs', 'read', false, 'vec4<f32>') : null;
  const hs = hs4 ?? ks.use('hs', 'read');
  const o = ks.use('o', 'read_write');
  let value: Wgsl;
  let value4: Wgsl | null;
  if (ks.delta || ks.dplr) {
    const vn4 = wideV ? ks.use('vnew', 'read', false, 'vec4<f32>') : null;
    value = vn4 ? wgsl`${vn4}[((bh * P.T + t) * VD + cg) >> 2u][cg & 3u]` : wgsl`${ks.use('vnew', 'read')}[(bh * P.T + t) * VD + cg]`;
    value4 = vn4 && wgsl`${vn4}[((bh * P.T + t) * VD + cg) >> 2u]`;
  } else {
    value = ks.roleFn('v')('b', 't', 'h', 'cg');
    const v4 = ks.role4Fn('v');
    value4 = v4 && v4('b', 't', 'h', 'cg');
  }
  const add = ks.def.roles.outputAdd ? wgsl` + ${ks.roleFn('outputAdd')('b', 't', 'h', 'cg')}` : '';
  const at = '((b * P.T + t) * P.H + h) * VD + cg';
  const store = ks.def.roles.outputGate
    ? wgsl`${ks.use('opre', 'read_write')}[${at}] = pre;
        ${o}[${at}] = pre * ${ks.roleFn('outputGate')('b', 't', 'h', 'cg')};`
    : wgsl`${o}[${at}] = pre;`;
  // The stage's opening, and the names it and the fragment layer declare.
  const stage = ks.chunkStage(fr.builtins());
  const s = extendScope(extendScope(stage.s, FRAG_NAMES), ['vt', 'v0']);
  const storeAt = (at: number) => (r: string, c: string, v: string) => wgsl`wh[${at}u + ${r} * C + ${c}] = f16(${v});`;
  const scoresOf = (right: 'b' | 'k', at: number, also?: TcScoresOptions['also']) => emitTcScores(ks, fr, s, {
    left: 'q', right, strict: false, post: () => 'P.scale', slab: SK, store: storeAt(at), ...(also ? { also } : {}),
    wh: 'wh', whBase: lay.sQ, wf: 'wf', wfBase: 0, perPass: lay.perPass,
  });
  // The generalized delta rule's A_qb and A_qk (ScoresPlan); 'sequential' computes A_qk after
  // A_qb's product, into its region (valueProducts).
  const loaded = lay.scores === 'prep';
  const scores = loaded ? '' : lay.scores === 'one' ? scoresOf('k', lay.sA)
    : lay.scores === 'paired' ? scoresOf('b', lay.sA, { right: 'k', store: storeAt(lay.sAk) }) : scoresOf('b', lay.sA);
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const epilogue = emitEpilogue(fr, 'oa', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass: lay.perPass, active: 'factive', ...rowMap,
    body: wgsl`let cg = v0 + c;
      if (r < rows && cg < VD) {
        let t = t0 + r;
        let pre = value${add};
        ${store}
      }`,
  });
  // A full chunk and V-tile of plain attention output goes straight from the fragments to o.
  // Element (r, c) of the tile in o (and opre), r chunk-relative.
  const oAt = (r: string, c: string) => wgsl`((b * P.T + t0 + ${r}) * P.H + h) * VD + v0 + ${c}`;
  const direct = emitDirectStores(fr, 'oa', p.fm, p.fn, 'factive', (i, j) => ({ arr: o, offset: oAt(rowMap.row(i), rowMap.col(j)), stride: 'P.H * VD' }));
  // V (V_new) in row slabs, the right operand of the masked A V: causal for non-finite values.
  const valueBlock = (val: Wgsl, val4: Wgsl | null, firstBad: string): F16Block => ({
    count: wgsl`${SK * BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(r0 + e / ${BV}u, rows - 1u); let cg = min(v0 + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: val,
    wide: val4,
    valid: wgsl`r0 + e / ${BV}u < rows && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${lay.sSV}u + ${e}`,
    causal: { firstBad, row: wgsl`r0 + e / ${BV}u`, perRow: BV, wg: FRAG_WG },
  });
  const vBlock = valueBlock(value, value4, 'firstBad');
  // The generalized delta rule's second product, A_qk against V itself.
  const rawV = ks.dplr ? ks.roleFn('v')('b', 't', 'h', 'cg') : null;
  const rawV4 = ks.dplr ? ks.role4Fn('v') : null;
  const vRawBlock = rawV && valueBlock(rawV, rawV4 && rawV4('b', 't', 'h', 'cg'), 'firstBadV');
  const fixupOf = (block: F16Block) => emitCausalFixup(block, 'rows', (e) => wgsl`${e} % ${BV}u`, (r, col) => wgsl`if (v0 + ${col} < VD) {
        ${o}[${oAt(r, col)}] = lae_nan();${ks.def.roles.outputGate ? wgsl` ${ks.use('opre', 'read_write')}[${oAt(r, col)}] = lae_nan();` : ''}
      }`);
  const fixup = vRawBlock ? wgsl`${fixupOf(vBlock)}
  ${fixupOf(vRawBlock)}` : fixupOf(vBlock);
  // A's row block i at the slab's columns: in workgroup memory from word sA, or the prep's block
  // of this chunk in a per-chunk f16 buffer.
  const scoreRows = (sA: number | Wgsl) => (i: number): FragSource => (typeof sA === 'number'
    ? { arr: 'wh', offset: wgsl`${sA}u + ${renderIndex(mul(grid.block.row(i), 16 * C))} + r0 + kk`, stride: C }
    : { arr: sA, offset: wgsl`(bh * P.NT + n) * C * C + ${renderIndex(mul(grid.block.row(i), 16 * C))} + r0 + kk`, stride: C });
  // A (row slabs of its columns) against the staged rows of a value block.
  const valueProduct = (block: F16Block, sA: number | Wgsl) => wgsl`${declareFirstBad(block)}
  for (var r0 = 0u; r0 < rows; r0 += ${SK}u) {
    ${emitF16Block(block)}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SK}u; kk += 16u) {
        ${fr.mma('oa', p.fm, p.fn,
    scoreRows(sA),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sSV}u + kk * ${BV}u + ${grid.map.col(j)}`, stride: BV }),
    (i) => wgsl`(r0 + kk) / 16u <= ${renderIndex(grid.block.row(i))}`)}
      }
    }
    workgroupBarrier();
  }`;
  const valueProducts = !vRawBlock ? valueProduct(vBlock, loaded ? ks.use('aqk16', 'read', false, 'f16') : lay.sA) : loaded ? wgsl`${valueProduct(vBlock, ks.use('aqb16', 'read', false, 'f16'))}
  ${valueProduct(vRawBlock, ks.use('aqk16', 'read', false, 'f16'))}` : wgsl`${valueProduct(vBlock, lay.sA)}${lay.scores === 'sequential' ? wgsl`
  ${scoresOf('k', lay.sAk)}` : ''}
  ${valueProduct(vRawBlock, lay.sAk)}`;
  ks.helper('nan', NAN_WGSL);
  const storeO = directStores(ks) ? wgsl`if (rows == C && v0 + ${BV}u <= VD) {
    ${direct}
  } else {
    ${epilogue}
  }` : epilogue;
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${stage.open}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${scores}
  ${grid.decl}
  ${fr.declare('oa', p.fm, p.fn)}
  for (var d0 = 0u; d0 < KD; d0 += ${SK}u) {
    ${emitF16Block({
    count: wgsl`C * ${SK}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(e / ${SK}u, rows - 1u); let d = min(d0 + e % ${SK}u, KD - ${four ? 4 : 1}u);`,
    value: qs.value,
    wide: qs.wide,
    valid: wgsl`e / ${SK}u < rows && d0 + e % ${SK}u < KD`,
    arr: 'wh', at: (e) => wgsl`${lay.sQ}u + ${e}`,
  })}
    ${emitF16Block({
    count: wgsl`${SK * BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let d = min(d0 + e / ${BV}u, KD - 1u); let cg = min(v0 + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: wgsl`${hs}[((bh * P.NT + n) * KD + d) * VD + cg]`,
    wide: hs4 && wgsl`${hs4}[(((bh * P.NT + n) * KD + d) * VD + cg) >> 2u]`,
    valid: wgsl`d0 + e / ${BV}u < KD && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${lay.sSV}u + ${e}`,
  })}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SK}u; kk += 16u) {
        ${fr.mma('oa', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${lay.sQ}u + ${renderIndex(mul(grid.block.row(i), 16 * SK))} + kk`, stride: SK }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sSV}u + kk * ${BV}u + ${grid.map.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
  }
  ${valueProducts}
  ${storeO}
  // A value row that was not finite (staged as 0) reaches o from its row on, as in the recurrence.
  storageBarrier();
  ${fixup}
}`;
}
