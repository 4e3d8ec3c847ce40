// The state gradients without a delta correction, parallel over chunks. The reverse scan over
// chunks is linear in each chunk's own term, as the forward's is:
//   D_{n-1} = 2^{G_last,n} * D_n + L_n,   L_n = sum_i (scale q_i 2^{Gq_i})^T do_i,
// so L_n comes from the forward's chunk-state matmul (bwdChunkState, chunk-state.ts) and the scan
// is the forward's elementwise one, reversed (bwdStateScan, state-scan.ts): dhs[n] holds L_n on
// entry and D_n, the gradient of chunk n's end state, on exit, and dh0 gets the last carry. The
// value gradient then follows per chunk (bwd-du.ts). The delta rule's scan (bwd-dh-delta.ts)
// stays sequential: its L_n holds -W^T du, and du needs D_n.
import type { KernelSource } from './common.js';
import { bwdFns } from './bwd-common.js';
import { emitChunkOuter } from './chunk-state.js';
import { emitScan } from './state-scan.js';
import { tileGridShape } from './tiles.js';
import type { StageShapeRule } from '../plan.js';
import { times, wgsl, type Wgsl } from '../wgsl.js';

/** Per (V-tile of stateBV columns, chunk, b*h): a thread tile over the K x BV product. */
export const bwdChunkStateShape: StageShapeRule = (_d, cfg, tiles) =>
  tileGridShape(tiles.stateBV, tiles.KP, [[Math.ceil(cfg.V / tiles.stateBV)], ['NT'], ['BH']]);

export function emitBwdChunkState(ks: KernelSource): Wgsl {
  const hp = bwdFns(ks);
  // (emitChunkOuter's operands read t, d and cg, and b, h, t0 of its opening.)
  return emitChunkOuter(ks, {
    left: times('P.scale', ks.roleFn('q')('b', 't', 'h', 'd'), hp.pow2(() => hp.gq()('b', 'h', 't', 't0', 'd'))),
    right: wgsl`${ks.seedDo()}[${hp.bth()('b', 't', 'h', 'cg', 'VD')}]`,
    out: ks.use('dhs', 'read_write'),
    usesLastGate: false,
  });
}

/** One thread per element of the K x V state, per sequence and head. */
export const bwdStateScanShape: StageShapeRule = (_d, cfg) => ({ wg: 256, grid: [[Math.ceil((cfg.K * cfg.V) / 256)], ['SH'], [1]], wgX: 256 });

export function emitBwdStateScan(ks: KernelSource): Wgsl {
  return emitScan(ks, {
    chunks: ks.use('dhs', 'read_write'), init: ks.use('dht', 'read'), initGiven: 'P.has_dht', final: ks.use('dh0', 'read_write'), reverse: true,
  });
}
