// Most backward stages are per-chunk contractions: an output matrix of C rows (the chunk's tokens)
// by some columns, each element a sum over one axis of products of operands the forward already
// has (roles, gate cumsums, saved states, the WY factors). `emitContraction` writes such a stage
// with one thread per output element; the stage supplies only its loop body and epilogue, so
// each reads like its formula, with any per-term factor. Stages whose products are plain C x C
// by C x cols matmuls take chunk-matmul.ts's register-tiled form instead.
import type { KernelSource } from './common.js';
import type { CodegenConfig, StageShape } from '../plan.js';

/** Threads per workgroup of a contraction. */
const CONTRACTION_WG = 128;

/** A C x cols contraction's shape: one thread per output element. */
export const contractionShape = (cfg: CodegenConfig, cols: number): StageShape => ({
  wg: CONTRACTION_WG, grid: [[Math.ceil((cfg.chunk * cols) / CONTRACTION_WG)], ['NT'], ['BH']],
});

export interface Contraction {
  /** Output columns per token row (a WGSL const expression: 'C', 'KD', 'VD', '1u'). */
  readonly cols: string;
  /** Statements once per element, before the loops; `i` (row), `x` (column), `t` in scope. */
  readonly setup?: string;
  /** Loops: each sums `body` over `r` in [from, to). */
  readonly loops: readonly { readonly from?: string; readonly to: string; readonly body: string }[];
  /** f32 accumulators the loops add into (zero-initialized). */
  readonly accs: readonly string[];
  /** Statements after the loops: the stores. */
  readonly finish: string;
}

/** Grid: (ceil(C * cols / WG), NT, B*H). Every element is a thread; threads past the chunk's
 * valid rows return at once (no barriers in these kernels). */
export function emitContraction(ks: KernelSource, c: Contraction): string {
  return `
${ks.chunkMain()}
  let e = wid.x * WG + lid;
  let i = e / (${c.cols});
  let x = e % (${c.cols});
  if (i >= rows) { return; }
  let t = t0 + i;
  ${c.accs.map((a) => `var ${a} = 0.0;`).join(' ')}
  ${c.setup ?? ''}
  ${c.loops.map((l) => `for (var r = ${l.from ?? '0u'}; r < ${l.to}; r++) {
    ${l.body}
  }`).join('\n  ')}
  ${c.finish}
}`;
}
