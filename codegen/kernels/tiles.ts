// The register-tiled building blocks the matmul-shaped stages share: a TX x TY thread grid
// (tx fastest), and the rank-1-update loop where each thread accumulates an RM x RN tile with
// rows ty + TY*a and columns tx + TX*c from operands staged in workgroup memory.
import type { StageShape } from '../plan.js';
import { wgsl, type Wgsl } from '../wgsl.js';

/** Thread grid of the tiled kernels; WG_X is set per kernel by the plan. */
export const TILE_GRID = `
const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;
`;

/** The shape of a TILE_GRID kernel whose workgroup owns a tile `cols` wide and `rows` tall: up to
 * 16 threads across (WG_X) and 16 down, each thread then covering every TX-th column and TY-th row. */
export function tileGridShape(cols: number, rows: number, grid: StageShape['grid']): StageShape {
  const tx = Math.min(16, cols);
  return { wg: tx * Math.min(16, rows), grid, wgX: tx };
}

export interface TileMac {
  /** The accumulator array, `array<array<f32, cols>, rows>`. */
  readonly acc: string;
  /** Loop variable over the contraction and its (const) trip count. */
  readonly step: string;
  readonly steps: string;
  readonly rows: string;
  readonly cols: string;
  /** Left operand for row index `a` (and `step`); right operand for column index `c`. */
  readonly left: string;
  readonly right: string;
  /** Statements run once per step, and once per row before `left` is read. */
  readonly stepSetup?: string;
  readonly rowSetup?: string;
  /** A WGSL bool over the row (after rowSetup) and the step: whether the step's term belongs
   * to the row's sum. Masked terms are skipped, not multiplied by a zero: a masked zero times a
   * NaN or infinity in a later token's row would make the sum NaN (a non-causal leak). */
  readonly keep?: string;
  /** The same per element: a WGSL bool over the row, the step and column index `c` (after
   * `cellSetup`), for a mask of the right operand that depends on the output column. */
  readonly keepCell?: string;
  readonly cellSetup?: string;
}

export function emitTileMac(m: TileMac): Wgsl {
  const stepSetup = m.stepSetup ? wgsl`
      ${m.stepSetup}` : '';
  const rowSetup = m.rowSetup ? wgsl`
        ${m.rowSetup}` : '';
  const term = m.keepCell ? wgsl`select(0.0, l * ${m.right}, ${m.keepCell})` : wgsl`l * ${m.right}`;
  const cells = wgsl`for (var c = 0u; c < ${m.cols}; c++) { ${m.cellSetup ?? ''}${m.acc}[a][c] += ${term}; }`;
  return wgsl`for (var ${m.step} = 0u; ${m.step} < ${m.steps}; ${m.step}++) {${stepSetup}
      for (var a = 0u; a < ${m.rows}; a++) {${rowSetup}
        let l = ${m.left};
        ${m.keep ? wgsl`if (${m.keep}) { ${cells} }` : cells}
      }
    }`;
}

/** The stores of a thread's RM x RN tile whose rows are a chunk's rows: `body` runs for each
 * element inside the chunk and the width, with i (chunk row), t (token), the column named
 * `col` (= colExpr) and acc[a][c] in scope. */
export function emitTileStores(col: string, colExpr: string, width: string, body: string): Wgsl {
  return wgsl`for (var a = 0u; a < RM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < RN; c++) {
      let ${col} = ${colExpr};
      if (i < rows && ${col} < ${width}) {
        let t = t0 + i;
        ${body}
      }
    }
  }`;
}
