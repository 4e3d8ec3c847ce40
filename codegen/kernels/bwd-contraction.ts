// Most backward stages are per-chunk contractions: an output matrix of C rows (the chunk's tokens)
// by some columns, each element a sum over one axis of products of operands the forward already
// has (roles, gate cumsums, saved states, the WY factors). `emitContraction` writes such a stage
// with one thread per output element; the stage supplies only its loop body and epilogue, so
// each reads like its formula, with any per-term factor. Stages whose products are plain C x C
// by C x cols matmuls take chunk-matmul.ts's register-tiled form instead.
import type { ChunkName, KernelSource } from './common.js';
import type { CodegenConfig, StageShape } from '../plan.js';
import { extendScope, joinWgsl, wgsl, type Hole, type Scope, type Wgsl } from '../wgsl.js';

/** Threads per workgroup of a contraction. */
const CONTRACTION_WG = 128;

/** A C x cols contraction's shape: one thread per output element. */
export const contractionShape = (cfg: CodegenConfig, cols: number): StageShape => ({
  wg: CONTRACTION_WG, grid: [[Math.ceil((cfg.chunk * cols) / CONTRACTION_WG)], ['NT'], ['BH']],
});

/** The names a contraction's pieces read: the chunk's (b, h, bh, n, t0, rows, ...), the element
 * `e`, its row `i` (token `t`) and column `x`, and `r`, the loops' index (in loop bodies only). */
export type ContractionScope = Scope<ChunkName | 'e' | 'i' | 'x' | 't' | 'r'>;

export interface Contraction {
  /** Output columns per token row (a WGSL const expression: 'C', 'KD', 'VD', '1u'). */
  readonly cols: Hole;
  /** Statements once per element, before the loops; `i` (row), `x` (column), `t` in scope. */
  readonly setup?: Hole;
  /** Loops: each sums `body` over `r` in [from, to). */
  readonly loops: readonly { readonly from?: Hole; readonly to: Hole; readonly body: Hole }[];
  /** f32 accumulators the loops add into (zero-initialized). */
  readonly accs: readonly string[];
  /** Statements after the loops: the stores. */
  readonly finish: Hole;
}

/** Grid: (ceil(C * cols / WG), NT, B*H). Every element is a thread; threads past the chunk's
 * valid rows return at once (no barriers in these kernels). The pieces are given as they are,
 * or made from the stage's scope (`(s) => ({ ... })`), whose names they then read through it. */
export function emitContraction(ks: KernelSource, contraction: Contraction | ((s: ContractionScope) => Contraction)): Wgsl {
  const stage = ks.chunkStage();
  // The pieces first (and what they bind), then the opening (and what it binds), as before.
  const c = typeof contraction === 'function' ? contraction(extendScope(stage.s, ['e', 'i', 'x', 't', 'r'])) : contraction;
  return wgsl`
${stage.open}
  let e = wid.x * WG + lid;
  let i = e / (${c.cols});
  let x = e % (${c.cols});
  if (i >= rows) { return; }
  let t = t0 + i;
  ${joinWgsl(c.accs.map((a) => wgsl`var ${a} = 0.0;`), ' ')}
  ${c.setup ?? ''}
  ${joinWgsl(c.loops.map((l) => wgsl`for (var r = ${l.from ?? '0u'}; r < ${l.to}; r++) {
    ${l.body}
  }`), '\n  ')}
  ${c.finish}
}`;
}
