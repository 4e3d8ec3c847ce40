// The gate gradient dg. Every gate factor is 2^(G_a - G_b) with q on the `a` side and k on the
// `b` side, so dL/dG (per unit of natural log) at a token is q . dq - k . dk there, plus
// rowsum(dS'_n * S_{n+1}) at the chunk's last token:
//   bwdChunkEnd: the chunk-end term, into dbk at the chunk's last token (before bwdDk)
//   bwdGate:     dg from the per-token terms that bwdDq / bwdDk (bwd-dqk.ts) and the WY backward
//                left in dbq (query side) and dbk (key side and the chunk-end term)
// Those terms belong to the in-chunk cumsum G; a log-decay g_s feeds every G_t with t >= s in
// its chunk, so dg_s = sum_{t>=s} dL/dG_t, a reverse cumsum. The bonus form's query side reads
// G_{t-1}, so its term lands one token earlier. A scalar gate sums over the key dims.
import type { KernelSource } from './common.js';
import { bwdFns } from './bwd-common.js';
import type { StageShapeRule } from '../plan.js';
import { wgsl, type Scope, type Wgsl } from '../wgsl.js';

/** Key rows per workgroup of bwdChunkEnd (a subgroup-sized group of lanes each). */
export const CHUNK_END_ROWS = 8;

/** 32 lanes per key row, CHUNK_END_ROWS rows per workgroup, per chunk. */
export const bwdChunkEndShape: StageShapeRule = (_d, cfg) => ({ wg: 32 * CHUNK_END_ROWS, grid: [[Math.ceil(cfg.K / CHUNK_END_ROWS)], ['NT'], ['BH']] });

/** dS'_n[x, c] * S_{n+1}[x, c] of chunk n: one term of the gate's chunk-end rowsum, with
 * S_{n+1} read from hs, or from ht (the sequence's) at the sequence's last chunk. */
function chunkEndTerm(ks: KernelSource, s: Scope<'bh' | 'h' | 'n'>, x: string, c: string): Wgsl {
  const st = bwdFns(ks).st();
  const next = wgsl`select(${ks.use('ht', 'read')}[${ks.stateIndex(ks.chunkSeq(s.n), s.h, x, c)}], ${ks.use('hs', 'read')}[${st(s.bh, wgsl`min(${s.n} + 1u, P.NT - 1u)`, x, c)}], ${ks.chunkHasNext(s.n)})`;
  return wgsl`${ks.use('dhs', 'read')}[${st(s.bh, s.n, x, c)}] * ${next}`;
}

/** The gate's chunk-end term rowsum(dS'_n * S_{n+1}) of each key row, stored in dbk at the
 * chunk's last token for bwdDk to add to its own term there (bwdDk then binds neither hs, dhs
 * nor ht). 32 lanes per key row stride over V together, so each load of a row of dS'_n and
 * S_{n+1} is one coalesced access (a thread per row walking V read 32 rows V floats apart per
 * load), and the first lane adds the 32 partial sums in order. */
export function emitBwdChunkEnd(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  const dbk = ks.use('dbk', 'read_write');
  const { open, s } = ks.chunkStage();
  return wgsl`
var<workgroup> sPart: array<f32, WG>;

${open}
  let x = wid.x * ${CHUNK_END_ROWS}u + lid / 32u;
  let ln = lid % 32u;
  var part = 0.0;
  if (x < KD) {
    for (var c = ln; c < VD; c += 32u) { part += ${chunkEndTerm(ks, s, 'x', 'c')}; }
  }
  sPart[lid] = part;
  workgroupBarrier();
  if (ln == 0u && x < KD) {
    var rs = 0.0;
    for (var j = 0u; j < 32u; j++) { rs += sPart[lid + j]; }
    ${dbk}[${hp.tok()(s.bh, wgsl`${s.t0} + ${s.rows} - 1u`, 'x', 'KD')}] = rs;
  }
}`;
}

/** Per chunk: a thread per gate column (per key with a per-key gate, one otherwise). */
export const bwdGateShape: StageShapeRule = (def, cfg) => ({ wg: 64, grid: [[Math.ceil((def.decay === 'diagonal' ? cfg.K : 1) / 64)], ['NT'], ['BH']] });

export function emitBwdGate(ks: KernelSource): Wgsl {
  const { tok, bth } = bwdFns(ks);
  const dbq = ks.use('dbq', 'read'); const dbk = ks.use('dbk', 'read');
  const grad = ks.use('grad_logDecay', 'read_write');
  // The query side's token tq of row i (t = t0 + i): the bonus form's query term at token t
  // belongs to G_{t-1}, so row i takes the next row's, and none at the chunk's last row.
  // Otherwise it is row i's own, always there.
  const qAt = (indent: string) => (ks.bonus ? `\n${indent}let tq = min(t + 1u, P.T - 1u); let hasq = i + 1u < rows;` : '');
  const term = (d: string) => wgsl`${dbk}[${tok()('bh', 't', d, 'KD')}] + ${ks.bonus
    ? wgsl`select(0.0, ${dbq}[${tok()('bh', 'tq', d, 'KD')}], hasq)`
    : wgsl`${dbq}[${tok()('bh', 't', d, 'KD')}]`}`;
  const { open } = ks.chunkStage();
  if (!ks.diag) {
    // A scalar gate: each thread sums one row's terms over the key dims, then one thread runs
    // the chunk's reverse cumsum (C adds) over them.
    return wgsl`
var<workgroup> sTerm: array<f32, C>;

${open}
  for (var i = lid; i < C; i += WG) {
    var acc = 0.0;
    if (i < rows) {
      let t = t0 + i;${qAt('      ')}
      for (var d = 0u; d < KD; d++) { acc += ${term('d')}; }
    }
    sTerm[i] = acc;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    for (var ii = 0u; ii < rows; ii++) {
      let i = rows - 1u - ii;
      acc += sTerm[i];
      ${grad}[${bth()('b', 't0 + i', 'h', '0u', 'DG')}] = acc;
    }
  }
}`;
  }
  return wgsl`
${open}
  let dg = wid.x * WG + lid;
  if (dg >= DG) { return; }
  var acc = 0.0;
  for (var ii = 0u; ii < rows; ii++) {
    let i = rows - 1u - ii;
    let t = t0 + i;${qAt('    ')}
    acc += ${term('dg')};
    ${grad}[${bth()('b', 't', 'h', 'dg', 'DG')}] = acc;
  }
}`;
}
