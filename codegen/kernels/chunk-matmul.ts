// A chunk's C x C matrix times a C-row operand, register-tiled: out[i, x] = sum_r M[i, r] R[r, x]
// over the chunk's rows, on the grid (column tile, chunk, b*h). M and R stream through workgroup
// memory in slabs of SR rows of r; each thread owns an RM x RN tile (rows ty + TY*a, columns
// xt*BW + tx + TX*c). The triangular masks live in M (0 outside) and, as `keep`, skip the
// masked terms, so a NaN in a row outside the mask stays out of the sum. The backward's plain
// products are this: dvl = A^T do, dq and dk where the decay factor does not depend on the key
// column (bwd-dqk.ts), and the WY backward's M = dT T^T, dA = -T^T M and X1 = T^T dU.
import type { ChunkName, KernelSource } from './common.js';
import { TILE_GRID, emitTileMac, emitTileStores, tileGridShape } from './tiles.js';
import { emitStagedLoad } from './staged.js';
import { nextPow2, type StageShape } from '../plan.js';
import { extendScope, wgsl, type Scope, type Wgsl } from '../wgsl.js';

/** The names a chunk matmul's pieces read: the chunk's (b, h, bh, n, t0, rows, ...), the column
 * tile xt and the thread's tx, ty; chunk rows `i` (output) and `r` (summed), the token `t` of
 * row r (in `right`) or of row i (in `store`), the column `x`, and the product `value` (in
 * `store`). */
export type ChunkMatmulScope = Scope<ChunkName | 'xt' | 'tx' | 'ty' | 'i' | 'r' | 't' | 'x' | 'value'>;

export interface ChunkMatmul {
  /** M[i, r] over chunk rows i, r (WGSL; b, h, bh, n, t0, rows in scope); 0 where masked. */
  readonly square: string;
  /** R[r, x] at chunk row r (token t = t0 + r), column x. */
  readonly right: string;
  /** Columns: 'VD', 'KD' or 'C', and its value. */
  readonly width: 'VD' | 'KD' | 'C';
  /** Which terms of row i's sum are kept (WGSL bool over chunk rows i and r): the mask of
   * `square`, applied by skipping the term, so that a masked zero never multiplies a NaN or an
   * infinity in a row of `right` the product must not read. */
  readonly keep?: string;
  /** A mask of `right` that depends on the output column (WGSL bool over r and column x),
   * applied per term the same way. */
  readonly keepColumn?: string;
  /** Statements storing `value` at chunk row i (token t), column x. */
  readonly store: string;
  /** Work the whole workgroup does after the product and before the stores (a barrier follows),
   * with its workgroup arrays: what the stores need beyond the product. */
  readonly prologue?: { readonly decl: string; readonly body: string };
}

/** Columns per workgroup for a width of `cols`. */
export const chunkMatmulTile = (cols: number) => Math.min(64, Math.max(4, nextPow2(cols)));

/** A C x C by C x cols product's shape: a 16-row thread tile, BW columns per workgroup. */
export function chunkMatmulShape(cols: number): StageShape {
  const BW = chunkMatmulTile(cols);
  return tileGridShape(BW, 16, [[Math.ceil(cols / BW)], ['NT'], ['BH']]);
}

/** The product; its pieces given as they are, or made from the stage's scope (`(s) => ({ ... })`),
 * whose names they then read through it. */
export function emitChunkMatmul(ks: KernelSource, matmul: ChunkMatmul | ((s: ChunkMatmulScope) => ChunkMatmul), cols: number): Wgsl {
  const stage = ks.chunkTileStage('xt');
  // The pieces first (and what they bind), then the opening (and what it binds), as before.
  const m = typeof matmul === 'function' ? matmul(extendScope(stage.s, ['i', 'r', 't', 'x', 'value'])) : matmul;
  return wgsl`
${TILE_GRID}
const BW: u32 = ${chunkMatmulTile(cols)}u;
const RM: u32 = C / TY;
const RN: u32 = BW / TX;
const SR: u32 = 8u;
var<workgroup> sM: array<f32, SR * C>;
var<workgroup> sR: array<f32, SR * BW>;
${m.prologue?.decl ?? ''}

${stage.open}
  var acc: array<array<f32, RN>, RM>;
  for (var a = 0u; a < RM; a++) { for (var c = 0u; c < RN; c++) { acc[a][c] = 0.0; } }
  for (var r0 = 0u; r0 < rows; r0 += SR) {
    ${emitStagedLoad({
    count: 'SR * C',
    index: 'let i = e % C; let r = min(r0 + e / C, rows - 1u);',
    loads: [{ name: 'm', expr: m.square }],
    storeIndex: '',
    valid: 'e % C < rows && r0 + e / C < rows',
    store: (v) => wgsl`sM[e] = ${v('m')};`,
  })}
    ${emitStagedLoad({
    count: 'SR * BW',
    index: wgsl`let r = min(r0 + e / BW, rows - 1u); let t = t0 + r; let x = min(xt * BW + e % BW, ${m.width} - 1u);`,
    loads: [{ name: 'r', expr: m.right }],
    storeIndex: '',
    valid: wgsl`r0 + e / BW < rows && xt * BW + e % BW < ${m.width}`,
    store: (v) => wgsl`sR[e] = ${v('r')};`,
  })}
    workgroupBarrier();
    ${emitTileMac({
    acc: 'acc', step: 'rr', steps: 'SR', rows: 'RM', cols: 'RN',
    left: 'sM[rr * C + ty + TY * a]', right: 'sR[rr * BW + tx + TX * c]',
    ...(m.keep || m.keepColumn ? { stepSetup: 'let r = r0 + rr;', rowSetup: 'let i = ty + TY * a;' } : {}),
    ...(m.keep ? { keep: m.keep } : {}),
    ...(m.keepColumn ? { cellSetup: 'let x = xt * BW + tx + TX * c; ', keepCell: m.keepColumn } : {}),
  })}
    workgroupBarrier();
  }
  ${m.prologue ? wgsl`${m.prologue.body}
  workgroupBarrier();` : ''}
  ${emitTileStores('x', 'xt * BW + tx + TX * c', m.width, wgsl`let value = acc[a][c];
        ${m.store}`)}
}`;
}
