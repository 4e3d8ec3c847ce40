// The chunk states on the fragment layer (tensor-core tier): per (V-tile, sequence*head[, K-tile])
// one workgroup walks the sequence's chunks in order with its state tile held as f32 result
// fragments, S_n stored to hs for the output stage (and the backward), then
//   S_{n+1} = 2^{G_last} S_n + (K 2^{G_last - G})^T V'
// accumulated into the same fragments (every exponent <= 0; a per-key decay scales the rows of S
// through the epilogue's scratch, a scalar one the whole fragment). Without the delta rule V' is
// V and the K x V state splits into K- and V-tiles (this replaces the f32 tier's per-chunk
// products plus elementwise scan). With it, V' = V_new = U - W S_n, a second product per chunk
// that needs all of K, so only V is tiled. The generalized delta rule's scan adds its
// state-independent term (K 2^(G_last - G))^T V from a parallel stage (emitTcDplrChunkState).
import type { KernelSource } from './common.js';
import { ConfigError } from '../plan.js';
import { emitF16Block, emitStagedLoad4, storeF16x4 } from './staged.js';
import { emitDirectStores, emitEpilogue, emitFill, FRAG_WG, fragCeil, partition, scratchWords, type Fragments, type Partition, firstFit, subgroupGrid } from './fragments.js';
import { emitGateCumsum } from './prep.js';
import { commitChunkBlock, declareChunkBlock, loadChunkBlock, prefetchEpilogueValues, type ChunkBlock } from './prefetch.js';
import { joinWgsl, rawWgsl, wgsl, type Wgsl, type WgslFn } from '../wgsl.js';
import { add, renderIndex } from '../index-expr.js';

/** Tiles of the non-delta state walk: BK x BV state tiles of up to 32 x 32, one fragment per
 * subgroup, so B*H*(K/32)*(V/32) workgroups walk in parallel (the walk is latency-bound). */
export function tcStateTiles(K: number, V: number): { BK: number; BV: number } {
  return { BK: Math.min(fragCeil(K), 32), BV: Math.min(fragCeil(V), 32) };
}

interface DeltaLayout { BV: number; perPass: number; sS: number; sVn: number; f16: number; f32: number; staged: { sW: number; sK: number } | null }

/** Tiles of the delta scan: 16 V columns per workgroup (the walk is latency-bound: B*H*V/16
 * workgroups), f16 copies of S_n [KF x BV] and V_new [C x BV] in workgroup memory, and the
 * state's fragments through the scratch in one pass where it fits. Where the budget allows, the
 * chunk's W and decayed keys [C x KF each] are staged too, prefetched a chunk ahead
 * (prefetch.ts); else the products read them from storage. */
export function tcDeltaLayout(ks: KernelSource): DeltaLayout {
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const BV = 16;
  const pS = partition(KF / 16, BV / 16);
  const base = KF * BV + C * BV;
  const layouts: DeltaLayout[] = [];
  for (const staged of [true, false]) {
    const f16 = base + (staged ? 2 * C * KF : 0);
    for (let perPass = pS.fm * pS.fn; perPass >= 1; perPass = Math.floor(perPass / 2)) {
      const f32 = scratchWords(perPass) + (ks.diag ? KF : 0);
      layouts.push({ BV, perPass, sS: 0, sVn: KF * BV, f16, f32, staged: staged ? { sW: base, sK: base + C * KF } : null });
    }
  }
  return firstFit(ks.cfg, layouts, (budget) => new ConfigError(`no delta-scan tiling of K = ${ks.cfg.K} fits ${budget} bytes of workgroup memory; raise tuning.fragmentMemory`));
}

/** The initial state's element (d, c), 0 past the dims or without h0: h0_at(sq, h, d, c). */
function h0At(ks: KernelSource): WgslFn<4> {
  const h0 = ks.use('h0', 'read');
  return ks.helperFn('h0_at', 4, wgsl`fn h0_at(sq: u32, h: u32, d: u32, c: u32) -> f32 {
  if (P.has_h0 == 0u || d >= KD || c >= VD) { return 0.0; }
  return ${h0}[${ks.stateIndex('sq', 'h', 'd', 'c')}];
}`);
}

/** The decay of the chunk's last token for key row d (per-key), or of the whole state. */
export function lastGate(ks: KernelSource, d: string): Wgsl {
  return ks.gcsFn()('b', 'h', 't0 + rows - 1u', d);
}

/** One step of a sequential walk over chunks with the state (K rows x BV columns) in result
 * fragments `acc`: the state goes to the per-chunk f32 buffer `perChunk` ([BH, NT, K, V]) and,
 * as f16, to workgroup memory at word `sS` (rows of BV) for the step's product; then it is
 * decayed by the chunk's last gate, per key row through the epilogue's update, or as a whole.
 * The forward's delta scan and the backward's scan (tc-bwd-dh-delta.ts) both take this step. The
 * per-key gates go through wf at word `sGl`. */
export function emitStateCheckpoint(ks: KernelSource, fr: Fragments, o: {
  acc: string; p: Partition; map: { row: (i: number) => string; col: (j: number) => string }; active: string;
  perPass: number; sGl: number; KF: number; BV: number; sS: number; perChunk: string;
  /** A per-element f32 term (WGSL over the epilogue's r, c, slot) added to the decayed state in
   * the update: the generalized delta rule's state-independent k~^T V (per-key decay only). */
  add?: Wgsl;
}): Wgsl {
  const { p } = o;
  if (o.add && !ks.diag) throw new Error('internal: the checkpoint adds a term through the per-key update only');
  return wgsl`// Read by the epilogue's update; the portable lowering's epilogue has no barrier before it.
    ${ks.diag ? wgsl`for (var d = lid; d < ${o.KF}u; d += WG) { wf[${o.sGl}u + d] = ${lastGate(ks, 'min(d, KD - 1u)')}; }
    workgroupBarrier();` : ''}
    // The state: to ${o.perChunk}, and as f16 into workgroup memory for this step's product.
    ${emitEpilogue(fr, o.acc, p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass: o.perPass, active: o.active, ...o.map,
    body: wgsl`if (r < KD && v0 + c < VD) { ${o.perChunk}[((bh * P.NT + n) * KD + r) * VD + v0 + c] = value; }
      wh[${o.sS}u + r * ${o.BV}u + c] = f16(value);`,
    ...(ks.diag ? { update: wgsl`value * exp2(wf[${o.sGl}u + r])${o.add ? wgsl` + ${o.add}` : ''}` } : {}),
  })}
    ${ks.decayed && !ks.diag ? wgsl`if (${o.active}) {
      let decay = exp2(${lastGate(ks, '0u')});
      ${joinWgsl(Array.from({ length: p.fm * p.fn }, (_, x) => fr.scale(o.acc, Math.floor(x / p.fn), x % p.fn, 'decay')), '\n      ')}
    }` : ''}`;
}

/** Element offset of row r, column d of chunk n's operand block in a per-chunk f16 buffer of
 * `width` columns (kg16, v16, w16: [BH, NT, C, width]). */
export const chunkOperandAt = (width: number, r: string, d: string): Wgsl => wgsl`((bh * P.NT + n) * C + ${r}) * ${width}u + ${d}`;

/** The gate cumsum (when decayed), then the state walk's f16 operands of chunk (n, b*h): the keys
 * decayed to the chunk's end, k 2^(G_last - G), into kg16, and (without the delta rule) V into
 * v16; rows past the chunk and columns past the dims are zero. The delta rule's prep writes its
 * own (tc-prep.ts). */
export function emitTcOperands(ks: KernelSource): Wgsl {
  // v's four-wide form binds first, as it did before emitValueBlock was shared: the bindings'
  // order is part of the pipeline's text.
  ks.role4Fn('v');
  // A scalar gate is summed by a thread per row through a workgroup array (emitGateCumsum).
  const scalarGate = ks.decayed && !ks.diag;
  return wgsl`${scalarGate ? '\nvar<workgroup> gterm: array<f32, C>;\n' : ''}
${ks.chunkStageXY().open}
  ${ks.decayed ? emitGateCumsum(ks, ks.cfg.chunk, scalarGate ? (i) => `gterm[${i}]` : undefined) : ''}
  ${emitDecayedKeys(ks)}
  ${emitValueBlock(ks)}
}`;
}

/** Statements writing chunk (n, b*h)'s v16: V as f16 per row, zero-padded. */
export function emitValueBlock(ks: KernelSource): Wgsl {
  const v4 = ks.role4Fn('v');
  const VF = fragCeil(ks.cfg.V);
  return rawWgsl(emitF16Block({
    count: wgsl`C * ${VF}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(e / ${VF}u, rows - 1u); let c = min(e % ${VF}u, VD - ${four ? 4 : 1}u);`,
    value: ks.roleFn('v')('b', 't', 'h', 'c'),
    wide: v4 && v4('b', 't', 'h', 'c'),
    storeIndex: wgsl`let r = e / ${VF}u; let c = e % ${VF}u;`,
    valid: 'r < rows && c < VD',
    arr: ks.use('v16', 'read_write', false, 'f16'), at: () => chunkOperandAt(VF, 'r', 'c'),
  }));
}

/** Statements writing chunk (n, b*h)'s kg16: k 2^(G_last - G) per row and key, zero-padded; or
 * the same for another key-side role into another per-chunk buffer (the generalized delta rule's
 * b into bg16). */
export function emitDecayedKeys(ks: KernelSource, role: 'k' | 'b' = 'k', buffer = 'kg16'): Wgsl {
  const KF = fragCeil(ks.cfg.K);
  const k4 = ks.role4Fn(role);
  const decay = ks.decayed ? wgsl` * exp2(${lastGate(ks, 'd')} - ${ks.gcsFn()('b', 'h', 't', 'd')})` : '';
  const lanes = (f: (d: string) => Wgsl) => wgsl`vec4<f32>(${joinWgsl([0, 1, 2, 3].map((x) => f(renderIndex(add('d', x)))), ', ')})`;
  const decay4 = !ks.decayed ? '' : ks.diag
    ? wgsl` * exp2(${lanes((d) => lastGate(ks, d))} - ${lanes((d) => ks.gcsFn()('b', 'h', 't', d))})`
    : decay;
  // Loads first, branch-free at clamped indices, then the masked stores.
  return rawWgsl(emitF16Block({
    count: wgsl`C * ${KF}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(e / ${KF}u, rows - 1u); let d = min(e % ${KF}u, KD - ${four ? 4 : 1}u);`,
    value: wgsl`${ks.roleFn(role)('b', 't', 'h', 'd')}${decay}`,
    wide: k4 && wgsl`${k4('b', 't', 'h', 'd')}${decay4}`,
    storeIndex: wgsl`let r = e / ${KF}u; let d = e % ${KF}u;`,
    valid: 'r < rows && d < KD',
    arr: ks.use(buffer, 'read_write', false, 'f16'), at: () => chunkOperandAt(KF, 'r', 'd'),
  }));
}

export function emitTcChunkStates(ks: KernelSource, fr: Fragments): Wgsl {
  const { BK, BV } = tcStateTiles(ks.cfg.K, ks.cfg.V);
  const KF = fragCeil(ks.cfg.K);
  const VF = fragCeil(ks.cfg.V);
  const p = partition(BK / 16, BV / 16);
  const perPass = p.fm * p.fn;
  const sGl = scratchWords(perPass);
  const hs = ks.use('hs', 'read_write');
  const ht = ks.use('ht', 'read_write');
  const kg16 = ks.use('kg16', 'read', false, 'f16');
  const v16 = ks.use('v16', 'read', false, 'f16');
  const grid = subgroupGrid(p, 'f');
  const rowMap = grid.map;
  const full = ks.cfg.K % BK === 0 && ks.cfg.V % BV === 0;
  const hsStore = (i: number, j: number) => ({ arr: hs, offset: wgsl`((bh * P.NT + n) * KD + k0 + ${rowMap.row(i)}) * VD + v0 + ${rowMap.col(j)}`, stride: 'VD' });
  const hsEpilogue = emitEpilogue(fr, 'st', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass, active: 'factive', ...rowMap,
    body: wgsl`if (k0 + r < KD && v0 + c < VD) { ${hs}[((bh * P.NT + n) * KD + k0 + r) * VD + v0 + c] = value; }`,
    ...(ks.diag ? { update: wgsl`value * exp2(wf[${sGl}u + r])` } : {}),
  });
  // S_n to hs: straight from the fragments where the tile lies inside K x V (no barrier), else
  // (and for a per-key decay, which scales the rows afterwards) through the scratch.
  const storeState = ks.diag ? hsEpilogue
    : full ? emitDirectStores(fr, 'st', p.fm, p.fn, 'factive', hsStore)
      : wgsl`if (k0 + ${BK}u <= KD && v0 + ${BV}u <= VD) {
    ${emitDirectStores(fr, 'st', p.fm, p.fn, 'factive', hsStore)}
  } else {
    ${hsEpilogue}
  }`;
  return wgsl`
var<workgroup> wf: array<f32, ${scratchWords(perPass) + (ks.diag ? BK : 0)}>;

${ks.sequenceStage(fr.builtins()).open}
  let vt = wid.x;
  let kt = wid.z;
  ${fr.opening()}
  let k0 = kt * ${BK}u;
  let v0 = vt * ${BV}u;
  ${grid.decl}
  ${fr.declare('st', p.fm, p.fn)}
  ${emitFill(fr, 'st', p.fm, p.fn, { scratch: 'wf', scratchBase: 0, perPass, active: 'factive', ...rowMap, value: h0At(ks)('sq', 'h', 'k0 + r', 'v0 + c') })}
  for (var n = nBegin; n < nEnd; n++) {
    ${ks.chunkSpan()}
    // Read by the epilogue's update; the portable lowering's epilogue has no barrier before it.
    ${ks.diag ? wgsl`for (var d = lid; d < ${BK}u; d += WG) { wf[${sGl}u + d] = ${lastGate(ks, 'min(k0 + d, KD - 1u)')}; }
    workgroupBarrier();` : ''}
    ${storeState}
    if (factive) {
      ${ks.decayed && !ks.diag ? wgsl`let decay = exp2(${lastGate(ks, '0u')});
      ${joinWgsl(Array.from({ length: p.fm * p.fn }, (_, x) => fr.scale('st', Math.floor(x / p.fn), x % p.fn, 'decay')), '\n      ')}` : ''}
      // S += (K 2^(G_last - G))^T V, operands straight from the prep's per-chunk f16 blocks.
      for (var kk = 0u; kk < C; kk += 16u) {
        ${fr.mma('st', p.fm, p.fn,
    (i) => ({ arr: kg16, offset: chunkOperandAt(KF, 'kk', wgsl`k0 + ${rowMap.row(i)}`), stride: KF, colMajor: true }),
    (j) => ({ arr: v16, offset: chunkOperandAt(VF, 'kk', wgsl`v0 + ${rowMap.col(j)}`), stride: VF }))}
      }
    }
  }
  ${emitEpilogue(fr, 'st', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass, active: 'factive', ...rowMap,
    body: wgsl`if (k0 + r < KD && v0 + c < VD) { ${ht}[${ks.stateIndex('sq', 'h', 'k0 + r', 'v0 + c')}] = value; }`,
  })}
}`;
}

/** Tiles of the generalized delta rule's chunkState stage: BK x BV blocks of D (K x V) of at
 * most 64 x 64 that divide the padded dims (so one body serves every tile), with its two operands
 * staged in row slabs of SR (f16: SR x (BK + BV)); f32: one scratch fragment per subgroup for
 * the masked stores of tiles past K or V (none where K and V are whole fragments). */
export function tcDplrChunkStateLayout(cfg: { readonly K: number; readonly V: number; readonly chunk: number; readonly wgMemory?: number; readonly fragmentMemory?: number }) {
  const C = cfg.chunk;
  const KF = fragCeil(cfg.K);
  const VF = fragCeil(cfg.V);
  const tile = (dimF: number) => [64, 48, 32, 16].find((w) => dimF % w === 0)!;
  const BK = tile(KF);
  const BV = tile(VF);
  const full = cfg.K % 16 === 0 && cfg.V % 16 === 0;
  const layouts = [C, 32, 16].filter((SR) => SR <= C).map((SR) => ({ BK, BV, SR, full, tiles: (KF / BK) * (VF / BV), f16: SR * (BK + BV), f32: full ? 0 : scratchWords(1) }));
  return firstFit(cfg, layouts, (budget) => new ConfigError(`no tiling of the generalized delta rule's chunk states fits ${budget} bytes of workgroup memory (chunk ${C}); raise tuning.fragmentMemory`));
}

/** The generalized delta rule's state-independent update term per chunk, on the fragment layer
 * (tensor-core tier), all chunks in parallel: D_n = (K 2^(G_last - G))^T V (K x V, f32), one
 * workgroup per (BK x BV tile, chunk, b*h), written to hs[n]. Its operands are staged from the
 * inputs (k times 2^(G_last - G) from the prep's gate cumsum, and v) as f16 row slabs, in one
 * staged loop where both load four-wide and the tiles are as wide, so the prep writes no f16
 * copies of them (it binds q and its two score blocks instead). The delta scan (emitTcDeltaScan)
 * reads D_n a step ahead and adds it to the decayed state in its checkpoint at step n, which
 * then overwrites hs[n] with S_n (as the f32 tier's chunkState and stateScan share hs). So the
 * scan's second update product is off the walk's critical path, and D takes no buffer of its
 * own (it would be [BH, NT, K, V] f32, 128 MB at (1,32,4096,128,128)); every slot hs[n] is chunk
 * n's, so packed sequences need nothing more. */
export function emitTcDplrChunkState(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcDplrChunkStateLayout(ks.cfg);
  const { BK, BV, SR } = lay;
  const VF = fragCeil(ks.cfg.V);
  const p = partition(BK / 16, BV / 16);
  const grid = subgroupGrid(p, 'f');
  const map = grid.map;
  const hs = ks.use('hs', 'read_write');
  const stage = ks.chunkStage(fr.builtins());
  const k = ks.roleFn('k');
  const k4 = ks.role4Fn('k');
  const v = ks.roleFn('v');
  const v4 = ks.role4Fn('v');
  const gcs = ks.gcsFn();
  const lanes = (f: (d: string) => Wgsl) => wgsl`vec4<f32>(${joinWgsl([0, 1, 2, 3].map((x) => f(renderIndex(add('d', x)))), ', ')})`;
  // k 2^(G_last - G) at (t, d), and over d .. d+3.
  const kg = wgsl`${k('b', 't', 'h', 'd')} * exp2(${lastGate(ks, 'd')} - ${gcs('b', 'h', 't', 'd')})`;
  const kg4 = k4 && wgsl`${k4('b', 't', 'h', 'd')} * exp2(${lanes((d) => lastGate(ks, d))} - ${lanes((d) => gcs('b', 'h', 't', d))})`;
  const sK = 0;
  const sV = SR * BK;
  // Rows r0 .. r0 + SR of the chunk (zero past it), k's columns k0 .. k0 + BK and v's v0 .. v0 + BV.
  const staging = kg4 && v4 && BK === BV ? emitStagedLoad4({
    count: wgsl`${SR * BK}u`,
    ...(ks.stagingUnroll ? { unroll: ks.stagingUnroll } : {}),
    index: wgsl`let t = t0 + min(r0 + e / ${BK}u, rows - 1u); let d = min(k0 + e % ${BK}u, KD - 4u); let c = min(v0 + e % ${BK}u, VD - 4u);`,
    loads: [{ name: 'kg', expr: kg4 }, { name: 'vv', expr: v4('b', 't', 'h', 'c') }],
    storeIndex: wgsl`let col = e % ${BK}u;`,
    valid: wgsl`r0 + e / ${BK}u < rows`,
    store: (x) => wgsl`${storeF16x4('wh', wgsl`${sK}u + e`, wgsl`select(vec4<f32>(0.0), ${x('kg')}, k0 + col < KD)`)}
          ${storeF16x4('wh', wgsl`${sV}u + e`, wgsl`select(vec4<f32>(0.0), ${x('vv')}, v0 + col < VD)`)}`,
  }) : wgsl`${emitF16Block({
    count: wgsl`${SR * BK}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(r0 + e / ${BK}u, rows - 1u); let d = min(k0 + e % ${BK}u, KD - ${four ? 4 : 1}u);`,
    value: kg, wide: kg4,
    valid: wgsl`r0 + e / ${BK}u < rows && k0 + e % ${BK}u < KD`,
    arr: 'wh', at: (e) => wgsl`${sK}u + ${e}`,
  })}
    ${emitF16Block({
    count: wgsl`${SR * BV}u`,
    unroll: ks.stagingUnroll,
    index: (four) => wgsl`let t = t0 + min(r0 + e / ${BV}u, rows - 1u); let c = min(v0 + e % ${BV}u, VD - ${four ? 4 : 1}u);`,
    value: v('b', 't', 'h', 'c'), wide: v4 && v4('b', 't', 'h', 'c'),
    valid: wgsl`r0 + e / ${BV}u < rows && v0 + e % ${BV}u < VD`,
    arr: 'wh', at: (e) => wgsl`${sV}u + ${e}`,
  })}`;
  const at = (r: string, c: string) => wgsl`((bh * P.NT + n) * KD + k0 + ${r}) * VD + v0 + ${c}`;
  const direct = emitDirectStores(fr, 'dk', p.fm, p.fn, 'factive', (i, j) => ({ arr: hs, offset: at(map.row(i), map.col(j)), stride: 'VD' }));
  const store = lay.full ? direct : wgsl`if (k0 + ${BK}u <= KD && v0 + ${BV}u <= VD) {
    ${direct}
  } else {
    ${emitEpilogue(fr, 'dk', p.fm, p.fn, {
    scratch: 'wf', scratchBase: 0, perPass: 1, active: 'factive', ...map,
    body: wgsl`if (k0 + r < KD && v0 + c < VD) { ${hs}[${at('r', 'c')}] = value; }`,
  })}
  }`;
  return wgsl`
var<workgroup> wh: array<f16, ${lay.f16}>;${lay.f32 ? wgsl`
var<workgroup> wf: array<f32, ${lay.f32}>;` : ''}

${stage.open}
  ${fr.opening()}
  let k0 = (wid.x / ${VF / BV}u) * ${BK}u;
  let v0 = (wid.x % ${VF / BV}u) * ${BV}u;
  ${grid.decl}
  ${fr.declare('dk', p.fm, p.fn)}
  for (var r0 = 0u; r0 < rows; r0 += ${SR}u) {
    ${staging}
    workgroupBarrier();
    if (factive) {
      for (var kk = 0u; kk < ${SR}u; kk += 16u) {
        ${fr.mma('dk', p.fm, p.fn,
    (i) => ({ arr: 'wh', offset: wgsl`${sK}u + kk * ${BK}u + ${map.row(i)}`, stride: BK, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${sV}u + kk * ${BV}u + ${map.col(j)}`, stride: BV }))}
      }
    }
    workgroupBarrier();
  }
  ${store}
}`;
}

export function emitTcDeltaScan(ks: KernelSource, fr: Fragments): Wgsl {
  const lay = tcDeltaLayout(ks);
  const { BV, perPass, staged } = lay;
  const C = ks.cfg.chunk;
  const KF = fragCeil(ks.cfg.K);
  const pS = partition(KF / 16, BV / 16);
  const pV = partition(C / 16, BV / 16);
  const sGl = scratchWords(perPass);
  const hs = ks.use('hs', 'read_write');
  const ht = ks.use('ht', 'read_write');
  const u = ks.use('u', 'read');
  const vn = ks.use('vnew', 'read_write');
  const sGrid = subgroupGrid(pS, 's');
  const vGrid = subgroupGrid(pV, 'v');
  const sMap = sGrid.map;
  const vMap = vGrid.map;
  // W and the decayed keys: staged a chunk ahead, or read by the products from storage.
  // The generalized delta rule: V_new (its u) = U + W S_n, and the update's keys are b's; its
  // state-independent term (K 2^(G_last - G))^T V comes from the chunkState stage
  // (emitTcDplrChunkState) in hs[n], added in the checkpoint's update (see dPre below).
  const dplr = ks.dplr;
  const updateKeys = dplr ? 'bg16' : 'kg16';
  const wBlock: ChunkBlock | null = staged && { name: 'pw', buf: ks.use('w16', 'read', false, 'vec4<u32>'), C, width: KF, wg: FRAG_WG };
  const kBlock: ChunkBlock | null = staged && { name: 'pk', buf: ks.use(updateKeys, 'read', false, 'vec4<u32>'), C, width: KF, wg: FRAG_WG };
  const w16 = staged ? '' : ks.use('w16', 'read', false, 'f16');
  const updateKeys16 = staged ? '' : ks.use(updateKeys, 'read', false, 'f16');
  const wAt = (r: string, d: string) => (staged ? { arr: 'wh', offset: wgsl`${staged.sW}u + ${r} * ${KF}u + ${d}` } : { arr: w16, offset: chunkOperandAt(KF, r, d) });
  const kAt = (r: string, d: string) => (staged ? { arr: 'wh', offset: wgsl`${staged.sK}u + ${r} * ${KF}u + ${d}` } : { arr: updateKeys16, offset: chunkOperandAt(KF, r, d) });
  // U for V_new's epilogue, loaded at the top of the step (independent of the state).
  const uPre = prefetchEpilogueValues(fr, pV.fm, pV.fn, vMap, 'vactive', 'upre',
    wgsl`${u}[(bh * P.T + t0 + min(r, rows - 1u)) * VD + min(v0 + c, VD - 1u)]`);
  // The generalized delta rule's D_m = (K 2^(G_last - G))^T V of chunk m, which the chunkState
  // stage left in hs[m], into registers in the state's fragment order a step ahead of the
  // checkpoint that adds it (chunk nBegin's before the walk), so its load is off the walk's
  // critical path. The checkpoint of step m then overwrites hs[m] with S_m: each element is
  // read and written by the same invocation (the same lane of the same subgroup walks element
  // (r, c) in both, and only where r < KD, c < VD), so the read comes first in program order; no
  // other workgroup touches this workgroup's columns of a slot of its own sequence.
  const dAt = dplr ? ks.helperFn('dkv_at', 4, wgsl`fn dkv_at(bh: u32, m: u32, r: u32, c: u32) -> f32 {
  if (r >= KD || c >= VD) { return 0.0; }
  return ${hs}[((bh * P.NT + m) * KD + r) * VD + c];
}`) : null;
  const dPre = (m: string) => prefetchEpilogueValues(fr, pS.fm, pS.fn, sMap, 'sactive', 'dpre', dAt!('bh', m, 'r', 'v0 + c'));
  return wgsl`
${fr.workspace(lay.f16, lay.f32)}

${ks.sequenceStage(fr.builtins()).open}
  let vt = wid.x;
  ${fr.opening()}
  let v0 = vt * ${BV}u;
  ${sGrid.decl}
  ${vGrid.decl}
  ${fr.declare('st', pS.fm, pS.fn)}
  ${fr.declare('vn', pV.fm, pV.fn)}
  ${uPre.decl}${dplr ? wgsl`
  ${dPre('nBegin').decl}
  if (nBegin < nEnd) {
    ${dPre('nBegin').load}
  }` : ''}
  ${wBlock && kBlock ? wgsl`${declareChunkBlock(wBlock)}
  ${declareChunkBlock(kBlock)}
  ${loadChunkBlock(wBlock, 'nBegin')}
  ${loadChunkBlock(kBlock, 'nBegin')}
  ${commitChunkBlock(wBlock, 'wh', staged!.sW)}
  ${commitChunkBlock(kBlock, 'wh', staged!.sK)}` : ''}
  ${emitFill(fr, 'st', pS.fm, pS.fn, { scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap, value: h0At(ks)('sq', 'h', 'r', 'v0 + c') })}
  for (var n = nBegin; n < nEnd; n++) {
    ${ks.chunkSpan()}
    ${uPre.load}
    ${wBlock && kBlock ? wgsl`// The next chunk's W and keys, in flight during this step.
    let nNext = min(n + 1u, nEnd - 1u);
    ${loadChunkBlock(wBlock, 'nNext')}
    ${loadChunkBlock(kBlock, 'nNext')}` : ''}
    // S_n for W S_n.
    ${emitStateCheckpoint(ks, fr, { acc: 'st', p: pS, map: sMap, active: 'sactive', perPass, sGl, KF, BV, sS: lay.sS, perChunk: hs, ...(dplr ? { add: wgsl`dpre[slot]` } : {}) })}${dplr ? wgsl`
    // The next chunk's D, in flight during this step.
    if (n + 1u < nEnd) {
      ${dPre('n + 1u').load}
    }` : ''}
    // V_new = U - W S_n.
    ${fr.zero('vn', pV.fm, pV.fn)}
    if (vactive) {
      for (var d0 = 0u; d0 < ${KF}u; d0 += 16u) {
        ${fr.mma('vn', pV.fm, pV.fn,
    (i) => ({ ...wAt(vMap.row(i), 'd0'), stride: KF }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sS}u + d0 * ${BV}u + ${vMap.col(j)}`, stride: BV }))}
      }
    }
    ${emitEpilogue(fr, 'vn', pV.fm, pV.fn, {
    scratch: 'wf', scratchBase: 0, perPass: Math.min(perPass, pV.fm * pV.fn), active: 'vactive', ...vMap,
    body: wgsl`var x = 0.0;
      if (r < rows && v0 + c < VD) {
        x = upre[slot] ${dplr ? '+' : '-'} value;
        ${vn}[(bh * P.T + t0 + r) * VD + v0 + c] = x;
      }
      wh[${lay.sVn}u + r * ${BV}u + c] = f16(x);`,
  })}
    // S += (K 2^(G_last - G))^T V_new.
    if (sactive) {
      for (var kk = 0u; kk < C; kk += 16u) {
        ${fr.mma('st', pS.fm, pS.fn,
    (i) => ({ ...kAt('kk', sMap.row(i)), stride: KF, colMajor: true }),
    (j) => ({ arr: 'wh', offset: wgsl`${lay.sVn}u + kk * ${BV}u + ${sMap.col(j)}`, stride: BV }))}
      }
    }
    ${wBlock && kBlock ? wgsl`// The next chunk's W and keys replace this one's once every product has read them (the
    // next step's first barrier publishes them).
    workgroupBarrier();
    ${commitChunkBlock(wBlock, 'wh', staged!.sW)}
    ${commitChunkBlock(kBlock, 'wh', staged!.sK)}` : ''}
  }
  ${emitEpilogue(fr, 'st', pS.fm, pS.fn, {
    scratch: 'wf', scratchBase: 0, perPass, active: 'sactive', ...sMap,
    body: wgsl`if (r < KD && v0 + c < VD) { ${ht}[${ks.stateIndex('sq', 'h', 'r', 'v0 + c')}] = value; }`,
  })}
}
`;
}
