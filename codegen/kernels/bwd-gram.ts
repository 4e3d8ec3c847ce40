// Per-chunk C x C products out[i,j] = sum over one or more axes x of L(i,x) R(j,x), register-
// tiled: each axis streams through workgroup memory in slabs (loaded branch-free), each thread
// owns an SRM x SRN tile (rows ty + TY*a, columns tx + TX*c). The backward's dA = do u^T and
// the WY backward's dT = dU (beta V)^T + dW (beta K 2^G)^T are such products.
import type { ChunkName, KernelSource } from './common.js';
import type { StageShape } from '../plan.js';
import { bwdFns } from './bwd-common.js';
import { emitStagedLoad } from './staged.js';
import { extendScope, joinWgsl, wgsl, type Hole, type Scope, type Wgsl, type WgslBuffer } from '../wgsl.js';

/** The names a Gram product's pieces read: the chunk's (b, h, bh, n, t0, rows, ...); the token
 * `t` and axis index `x` (in the operands); the output row `i`, column `j` and the product `v`
 * (in the mask and the stored value). */
export type GramScope = Scope<ChunkName | 't' | 'x' | 'i' | 'j' | 'v'>;

export interface GramPart {
  /** Extent of the contracted axis (a WGSL const expression, e.g. 'KD'). */
  readonly len: Hole;
  /** Operands at token `t` and axis index `x` (WGSL expressions over b, h, bh, t, x). */
  readonly left: string;
  readonly right: string;
  /** Their vec4 forms over x .. x+3 (x a multiple of 4), where the tensor-core tier can load
   * them four wide (the axis a multiple of 4 long); null where not. */
  readonly left4?: string | null;
  readonly right4?: string | null;
}

/** The entries a Gram product keeps: j <= i ('lower') or j < i ('strict'); the rest are 0. */
export type GramKeep = 'lower' | 'strict';

export interface Gram {
  readonly parts: readonly GramPart[];
  /** Kept entries, within i, j < rows. */
  readonly keep: GramKeep;
  /** The stored value from the product `v` (WGSL over i, j, v, t0). */
  readonly post: Hole;
  /** Output buffer (bound read_write). */
  readonly out: WgslBuffer;
}

/** WGSL of whether entry (i, j) is kept. */
export const gramMask = (keep: GramKeep, i: Hole, j: Hole): Wgsl => (keep === 'lower' ? wgsl`${j} <= ${i}` : wgsl`${j} < ${i}`);

/** A Gram product's shape: a 16 x 16 thread tile per chunk. */
export const GRAM_SHAPE: StageShape = { wg: 256, grid: [['NT'], ['BH'], [1]], wgX: 16 };

/** The product, its pieces made from the stage's scope. */
export function emitGram(ks: KernelSource, gram: (s: GramScope) => Gram): Wgsl {
  const stage = ks.chunkStageXY();
  // The pieces first (and what they bind), then the opening, then cc: the bindings' order.
  const s = extendScope(stage.s, ['t', 'x', 'i', 'j', 'v']);
  const g = gram(s);
  const { cc } = bwdFns(ks);
  const stages = g.parts.map((p) => wgsl`for (var x0 = 0u; x0 < ${p.len}; x0 += SX) {
    ${emitStagedLoad({
    count: 'C * SX',
    index: wgsl`let t = t0 + min(e / SX, rows - 1u); let x = min(x0 + e % SX, ${p.len} - 1u);`,
    loads: [{ name: 'l', expr: p.left }, { name: 'r', expr: p.right }],
    storeIndex: 'let i = e / SX; let xx = e % SX;',
    valid: wgsl`i < rows && x0 + xx < ${p.len}`,
    store: (v) => wgsl`sL[xx * C + i] = ${v('l')}; sR[xx * C + i] = ${v('r')};`,
  })}
    workgroupBarrier();
    for (var xx = 0u; xx < SX; xx++) {
      for (var a = 0u; a < SRM; a++) {
        let l = sL[xx * C + ty + TY * a];
        for (var c = 0u; c < SRN; c++) { acc[a][c] += l * sR[xx * C + tx + TX * c]; }
      }
    }
    workgroupBarrier();
  }`);
  return wgsl`
const TX: u32 = WG_X;
const TY: u32 = WG / WG_X;
const SRM: u32 = C / TY;
const SRN: u32 = C / TX;
const SX: u32 = 16u;
var<workgroup> sL: array<f32, SX * C>;
var<workgroup> sR: array<f32, SX * C>;

${stage.open}
  let tx = lid % TX;
  let ty = lid / TX;
  var acc: array<array<f32, SRN>, SRM>;
  for (var a = 0u; a < SRM; a++) { for (var c = 0u; c < SRN; c++) { acc[a][c] = 0.0; } }
  ${joinWgsl(stages, '\n  ')}
  for (var a = 0u; a < SRM; a++) {
    let i = ty + TY * a;
    for (var c = 0u; c < SRN; c++) {
      let j = tx + TX * c;
      if (i < rows && j < rows) {
        let v = acc[a][c];
        ${g.out}[${cc()(s.bh, s.n, s.i, s.j)}] = select(0.0, ${g.post}, ${gramMask(g.keep, s.i, s.j)});
      }
    }
  }
}`;
}
