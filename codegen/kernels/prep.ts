// Stage 1, parallel over (chunk, b*h): the gate cumsum in log2 units and, for the delta rule,
// the WY/UT factors: T = (I + A_kk)^-1 by forward substitution in workgroup memory, then
// W = T (beta * 2^G * K) and U = T (beta * V).
import { KernelSource } from './common.js';
import { emitScores } from './scores.js';
import { TILE_GRID, emitTileMac } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { times, wgsl, type Wgsl, type WgslFn } from '../wgsl.js';

/** The floor of a token's log2 decay in the chunked kernels: 2^-160 is 0 in f32 (its smallest
 * subnormal is 2^-149), so a decay at or below it is a hard reset. */
export const LOG2_DECAY_FLOOR = -160;

/** `decay_floor(x)`: a hard reset (log-decay -Infinity, or any value so negative that its factor
 * is 0 in f32) enters the cumsum as LOG2_FLOOR: every factor 2^(G_i - G_j) spanning it has an
 * exponent <= LOG2_FLOOR and is exactly 0, as exp(-Infinity) is in the recurrence, while
 * -Infinity itself would make G_i - G_j = -Inf - (-Inf) = NaN, and -1e30 would swallow every
 * later token's decay in the chunk (f32 absorption). Factors not spanning a reset keep their
 * value up to f32 rounding. A NaN stays a NaN (tested by its bits: max() and compare-folding may
 * turn a NaN into the floor, which would hide it as a silent reset). */
function decayFloor(ks: KernelSource): WgslFn<1> {
  return ks.helperFn('decay_floor', 1, `const LOG2_FLOOR: f32 = ${LOG2_DECAY_FLOOR.toFixed(1)};
fn decay_floor(x: f32) -> f32 {
  let nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
  return select(max(x, LOG2_FLOOR), x, nan);
}`);
}

/** The chunk-local inclusive cumsum of the log-decay in log2 units (each token's floored, see
 * decayFloor), written to gcum, then made visible to the workgroup (b, h, bh, t0, rows, lid in
 * scope). A thread per key dim walks the chunk's rows; it loads them `batch` at a time (16 by
 * default; the tensor-core tier takes the whole chunk), branch-free, so that many loads are in
 * flight instead of one (a row-by-row walk waits a memory latency per row: tens of microseconds
 * per chunk). The sum is sequential either way: the batch changes no result.
 * With `scratch` (C free words of an f32 workgroup array, `scratch(i)` the i-th) a scalar gate is
 * summed by a thread per row instead: each loads its own term into the scratch, then thread i adds
 * terms 0..i in order, the same sums as the one walking thread's (which left the rest of the
 * workgroup waiting at the barrier). */
export function emitGateCumsum(ks: KernelSource, batch = 16, scratch?: (i: string) => string): Wgsl {
  const floor = decayFloor(ks);
  const gcum = ks.use('gcum', 'read_write');
  if (scratch && !ks.diag) {
    return wgsl`
  for (var i = lid; i < rows; i += WG) { ${scratch('i')} = ${floor(wgsl`${ks.roleFn('logDecay')('b', 't0 + i', 'h', '0u')} * LOG2E`)}; }
  workgroupBarrier();
  for (var i = lid; i < rows; i += WG) {
    var acc = 0.0;
    for (var k = 0u; k <= i; k++) { acc += ${scratch('k')}; }
    ${gcum}[(bh * P.T + t0 + i) * DG] = acc;
  }
  storageBarrier();
  workgroupBarrier();`;
  }
  return wgsl`
  for (var d = lid; d < DG; d += WG) {
    var acc = 0.0;
    for (var i0 = 0u; i0 < rows; i0 += ${batch}u) {
      var gv: array<f32, ${batch}>;
      for (var k = 0u; k < ${batch}u; k++) { gv[k] = ${ks.roleFn('logDecay')('b', 't0 + min(i0 + k, rows - 1u)', 'h', 'd')}; }
      for (var k = 0u; k < ${batch}u; k++) {
        if (i0 + k < rows) {
          acc += ${floor('gv[k] * LOG2E')};
          ${gcum}[(bh * P.T + t0 + i0 + k) * DG + d] = acc;
        }
      }
    }
  }
  storageBarrier();
  workgroupBarrier();`;
}

export function emitPrep(ks: KernelSource): Wgsl {
  const cumsum = ks.decayed ? emitGateCumsum(ks) : '';
  // The opening binds the chunk table of packed sequences where the template reads it, after
  // tmat (below), so it is not destructured here.
  const stage = ks.chunkStageXY();
  const { s } = stage;

  let wy: Wgsl | '' = '';
  let prelude: Wgsl | '' = '';
  if (ks.delta) {
    const beta = ks.roleFn('beta');
    prelude = wgsl`${TILE_GRID}
var<workgroup> sBeta: array<f32, C>;
// The most (i, c) updates one solve step has, C^2/4, spread over the workgroup.
const SOLVE_PER_THREAD: u32 = (C * C / 4u + WG - 1u) / WG;
${emitScores(ks, { left: 'k', strict: true, post: 'sBeta[i]', slab: ks.tiles.prepSlab })}
${emitWyProduct(ks)}`;
    wy = wgsl`
  for (var i = ${s.lid}; i < C; i += WG) {
    var x = 0.0;
    if (i < ${s.rows}) { x = ${beta(s.b, wgsl`${s.t0} + i`, s.h, '0u')}; }
    sBeta[i] = x;
  }
  workgroupBarrier();
  scores(${s.b}, ${s.h}, ${s.t0}, ${s.rows}, ${s.lid});
  // T = (I + A)^-1 in place, right-looking: once row j of T is final, every later row i takes
  // T[i,c] -= A[i,j] T[j,c] for c <= j (T[j,j] = 1), all (i, c) in parallel. Position (i,j)
  // holds A[i,j] until step j reads it, then accumulates T[i,j]. C steps of O(C^2/4) parallel
  // work replace the serial chains of row-by-row substitution.
  for (var j = 0u; j + 1u < rows; j++) {
    let width = j + 1u;
    let count = (rows - 1u - j) * width;
    var upd: array<f32, SOLVE_PER_THREAD>;
    for (var r = 0u; r < SOLVE_PER_THREAD; r++) {
      let e = lid + r * WG;
      if (e < count) {
        let i = j + 1u + e / width;
        let c = e % width;
        let tjc = select(sA[j * C + c], 1.0, c == j);
        let acc = select(sA[i * C + c], 0.0, c == j);
        upd[r] = acc - sA[i * C + j] * tjc;
      }
    }
    workgroupBarrier();
    for (var r = 0u; r < SOLVE_PER_THREAD; r++) {
      let e = lid + r * WG;
      if (e < count) { sA[(j + 1u + e / width) * C + e % width] = upd[r]; }
    }
    workgroupBarrier();
  }
  // T_strict is kept for the backward (the WY gradient needs T itself).
  for (var e = ${s.lid}; e < C * C; e += WG) { ${ks.use('tmat', 'read_write')}[(${s.bh} * P.NT + ${s.n}) * C * C + e] = sA[e]; }
  // W = (I + T_strict) X and U = (I + T_strict) Y with X = beta * 2^G * K and Y = beta * V,
  // as register-tiled matmuls over row slabs of X and Y staged in workgroup memory.
  wy_product(${s.b}, ${s.h}, ${s.bh}, ${s.t0}, ${s.rows}, ${s.lid}, 0u);
  wy_product(${s.b}, ${s.h}, ${s.bh}, ${s.t0}, ${s.rows}, ${s.lid}, 1u);`;
  }
  return wgsl`
${prelude}
${stage.open}
${cumsum}
${wy}
}`;
}


/** `wy_product(.., which)`: which = 0 writes W (columns over K), 1 writes U (over V). */
function emitWyProduct(ks: KernelSource): Wgsl {
  const k = ks.roleFn('k');
  const v = ks.roleFn('v');
  const w = ks.use('w', 'read_write');
  const u = ks.use('u', 'read_write');
  // wy_product's own parameters b, h, and the staging's t, d.
  const x = times(k('b', 't', 'h', 'min(d, KD - 1u)'), ks.decayed ? wgsl`exp2(${ks.gcsFn()('b', 'h', 't', 'min(d, KD - 1u)')})` : null);
  return wgsl`
const WN: u32 = max(KP, VP);
// Rows of X staged per step: keeps sX at 4 KiB and divides C.
const SJW: u32 = min(C, 1024u / WN);
// Its own thread grid: WTX x WTY threads (the rest idle), so narrow K or V still tiles evenly.
const WTX: u32 = min(16u, WN);
const WTY: u32 = min(C, WG / WTX);
const WRM: u32 = C / WTY;
const WRN: u32 = WN / WTX;
var<workgroup> sX: array<f32, SJW * WN>;

fn wy_product(b: u32, h: u32, bh: u32, t0: u32, rows: u32, lid: u32, which: u32) {
  let tx = lid % WTX;
  let ty = lid / WTX;
  let live = ty < WTY;
  let width = select(KD, VD, which == 1u);
  var acc: array<array<f32, WRN>, WRM>;
  for (var a = 0u; a < WRM; a++) { for (var c = 0u; c < WRN; c++) { acc[a][c] = 0.0; } }
  for (var j0 = 0u; j0 < rows; j0 += SJW) {
    ${emitStagedLoad({
    count: 'SJW * WN',
    index: `let j = min(j0 + e / WN, rows - 1u); let t = t0 + j; let d = min(e % WN, width - 1u);`,
    // Both operands are loaded (branch-free), each at an index valid for its own width.
    loads: [{ name: 'x', expr: wgsl`sBeta[j] * select(${v('b', 't', 'h', 'min(d, VD - 1u)')}, ${x}, which == 0u)` }],
    storeIndex: '',
    valid: 'j0 + e / WN < rows && e % WN < width',
    store: (val) => wgsl`sX[e] = ${val('x')};`,
  })}
    workgroupBarrier();
    // l = (I + T_strict)[i, j], with row i clamped for idle threads.
    ${emitTileMac({
    acc: 'acc', step: 'jj', steps: 'SJW', rows: 'WRM', cols: 'WRN',
    stepSetup: 'let j = j0 + jj;', rowSetup: 'let i = min(ty + WTY * a, C - 1u);',
    left: 'sA[i * C + j] + select(0.0, 1.0, i == j)', right: 'sX[jj * WN + tx + WTX * c]',
    // Lower triangular: later rows of X stay out of row i's sum (0 * NaN would not).
    keep: 'j <= i',
  })}
    workgroupBarrier();
  }
  for (var a = 0u; a < WRM; a++) {
    let i = ty + WTY * a;
    for (var c = 0u; c < WRN; c++) {
      let d = tx + WTX * c;
      if (live && i < rows && d < width) {
        if (which == 0u) { ${w}[(bh * P.T + t0 + i) * KD + d] = acc[a][c]; } else { ${u}[(bh * P.T + t0 + i) * VD + d] = acc[a][c]; }
      }
    }
  }
}`;
}
