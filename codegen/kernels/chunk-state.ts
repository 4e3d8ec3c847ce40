// Without a delta correction the state recurrence is linear in the chunk's own contribution,
//   S_{n+1} = 2^{G_last} * S_n + dS_n,   dS_n = (K * 2^{G_last - G})^T V,
// so the heavy part, dS_n, is a matmul per (chunk, b*h) computed fully in parallel here
// (written into hs[n]), and the scan over chunks (state-scan.ts) is elementwise and cheap.
// Each thread owns an RM x RN register tile of dS: rows (keys) ty + TY*a, columns tx + TX*b.
import { KernelSource } from './common.js';
import { TILE_GRID, emitTileMac } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { rawWgsl, times, wgsl, type Wgsl } from '../wgsl.js';

export const STATE_ROW_SLAB = 8;

/** The operands of a per-chunk outer-product sum: `left` (over keys d) and `right` (over value
 * columns cg) at token t, and the per-chunk K x V buffer the sums go to. */
export interface ChunkOuter {
  readonly left: string;
  readonly right: string;
  readonly out: string;
  /** Whether `left` reads the chunk's last gate cumsum, sGl[d] (staged first). */
  readonly usesLastGate: boolean;
}

export function emitChunkState(ks: KernelSource): Wgsl {
  const k = ks.roleFn('k');
  const gl = rawWgsl(ks.diag ? 'sGl[d]' : 'sGl[0]');
  // The operands read t, d and cg (emitChunkOuter's staging), and b, h of its opening.
  return emitChunkOuter(ks, {
    left: times(k('b', 't', 'h', 'd'), ks.decayed ? wgsl`exp2(${gl} - ${ks.gcsFn()('b', 'h', 't', 'd')})` : null),
    right: ks.roleFn('v')('b', 't', 'h', 'cg'),
    out: ks.use('hs', 'read_write'),
    usesLastGate: ks.decayed,
  });
}

/** sum_t left(t)^T right(t) over each chunk's tokens, into out[b*h, n] ([K, V]). */
export function emitChunkOuter(ks: KernelSource, op: ChunkOuter): Wgsl {
  const { tiles } = ks;
  const gcs = ks.decayed ? ks.gcsFn() : null;
  const { open, s } = ks.chunkTileStage('vt');
  return wgsl`
${TILE_GRID}
const BV: u32 = ${tiles.stateBV}u;
const RM: u32 = KP / TY;
const RN: u32 = BV / TX;
const SI: u32 = ${STATE_ROW_SLAB}u;
var<workgroup> sK: array<f32, SI * KP>;
var<workgroup> sV: array<f32, SI * BV>;
${op.usesLastGate ? 'var<workgroup> sGl: array<f32, DG>;' : ''}

${open}
  ${op.usesLastGate && gcs ? wgsl`for (var d = ${s.lid}; d < DG; d += WG) { sGl[d] = ${gcs(s.b, s.h, wgsl`${s.t0} + ${s.rows} - 1u`, 'd')}; }
  workgroupBarrier();` : ''}
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  for (var i0 = 0u; i0 < rows; i0 += SI) {
    ${emitStagedLoad({
    count: 'SI * KP',
    index: 'let t = min(t0 + i0 + e / KP, P.T - 1u); let d = min(e % KP, KD - 1u);',
    loads: [{ name: 'k', expr: op.left }],
    storeIndex: '',
    valid: 'i0 + e / KP < rows && e % KP < KD',
    store: (v) => wgsl`sK[e] = ${v('k')};`,
  })}
    ${emitStagedLoad({
    count: 'SI * BV',
    index: 'let t = min(t0 + i0 + e / BV, P.T - 1u); let cg = min(vt * BV + e % BV, VD - 1u);',
    loads: [{ name: 'v', expr: op.right }],
    storeIndex: '',
    valid: 'i0 + e / BV < rows && vt * BV + e % BV < VD',
    store: (val) => wgsl`sV[e] = ${val('v')};`,
  })}
    workgroupBarrier();
    ${emitTileMac({
    acc: 'acc', step: 'ii', steps: 'SI', rows: 'RM', cols: 'RN',
    left: 'sK[ii * KP + ty + TY * a]', right: 'sV[ii * BV + tx + TX * c]',
  })}
    workgroupBarrier();
  }
  for (var a = 0u; a < RM; a++) {
    let d = ${s.ty} + TY * a;
    for (var c = 0u; c < RN; c++) {
      let cg = ${s.vt} * BV + ${s.tx} + TX * c;
      if (d < KD && cg < VD) { ${op.out}[((${s.bh} * P.NT + ${s.n}) * KD + d) * VD + cg] = acc[a][c]; }
    }
  }
}`;
}
