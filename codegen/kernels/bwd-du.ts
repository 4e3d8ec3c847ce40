// The backward's state pass without a delta correction, parallel over chunks. The reverse scan
// over chunks is linear in each chunk's own term, as the forward's is:
//   D_{n-1} = 2^{G_last,n} * D_n + L_n,   L_n = sum_i (scale q_i 2^{Gq_i})^T do_i,
// so L_n comes from the forward's chunk-state matmul (bwdChunkState), the scan is elementwise
// (bwdStateScan, state-scan.ts, reversed), and the value gradient of each chunk,
//   dv_j = dvl_j + (k_j 2^(G_last - G_j)) . D_n,
// is a register-tiled C x K by K x V product per (V-tile, chunk, b*h): this file. The delta
// rule's scan (bwd-dh-delta.ts) stays sequential: its L_n holds -W^T du, and du needs D_n.
import type { KernelSource } from './common.js';
import { bwdHelpers } from './bwd-common.js';
import { emitChunkOuter } from './chunk-state.js';
import { TILE_GRID, emitTileStores } from './tiles.js';
import { emitRowsTimesState } from './rows-state.js';

/** V columns per workgroup of bwdDu. */
export const duTileV = (VP: number) => Math.min(VP, 64);

export function emitBwdChunkState(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  return emitChunkOuter(ks, {
    left: `P.scale * ${ks.role('q')}(b, t, h, d) * exp2(${hp.gq()}(b, h, t, t0, d))`,
    right: `${ks.seedDo()}[${hp.bth()}(b, t, h, cg, VD)]`,
    out: ks.use('dhs', 'read_write'),
    usesLastGate: false,
  });
}

export function emitBwdDu(ks: KernelSource): string {
  const hp = bwdHelpers(ks);
  const { tok, bth } = hp;
  const g = hp.g();
  const k = ks.role('k');
  const dhs = ks.use('dhs', 'read');
  const dvl = ks.use('dvl', 'read');
  const gradV = ks.use('grad_v', 'read_write');
  return `
${TILE_GRID}
const BV: u32 = ${duTileV(ks.tiles.VP)}u;
const RM: u32 = C / TY;
const RN: u32 = BV / TX;
const SK: u32 = 8u;
var<workgroup> sL: array<f32, SK * C>;
var<workgroup> sS: array<f32, SK * BV>;

${ks.chunkTileMain('vt')}
  let tl = t0 + rows - 1u;
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  ${emitRowsTimesState(`${k}(b, t, h, d) * exp2(${g}(b, h, tl, d) - ${g}(b, h, t, d))`, dhs)}
  ${emitTileStores('cg', 'vt * BV + tx + TX * c', 'VD', `${gradV}[${bth()}(b, t, h, cg, VD)] = acc[a][c] + ${dvl}[${tok()}(bh, t, cg, VD)];`)}
}`;
}
