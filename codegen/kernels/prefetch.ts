// Software pipelining for the tensor-core tier's sequential walks over chunks (the delta scan
// and its backward): an operand that does not depend on the carried state is loaded for chunk
// n + 1 into registers at the top of step n, so its memory latency hides behind step n's
// products and barriers, and is written to workgroup memory after step n's last use. A walk
// step is then bound by its products and barriers, not by a load it waits on.
//
// Per-chunk f16 blocks ([BH, NT, C, width] f16: kg16, w16) travel as vec4<u32> words of 8
// halves; the walk binds them that way (BindingDecl.elem) and unpacks them into the f16 array.
import { laneElements, type Fragments } from './fragments.js';
import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';

/** Words of 8 halves a thread carries for a C x width block. */
const wordsPerThread = (C: number, width: number, wg: number) => Math.ceil((C * width) / 8 / wg);

export interface ChunkBlock {
  /** Register array name (its words are `<name>[s]`). */
  readonly name: string;
  /** The per-chunk f16 buffer bound as array<vec4<u32>>. */
  readonly buf: string;
  readonly C: number;
  /** Columns of the block (a multiple of 8). */
  readonly width: number;
  /** Threads per workgroup. */
  readonly wg: number;
}

/** Declares the block's registers. */
export function declareChunkBlock(b: ChunkBlock): Wgsl {
  return wgsl`var ${b.name}: array<vec4<u32>, ${wordsPerThread(b.C, b.width, b.wg)}>;`;
}

/** Loads chunk `chunk`'s block (WGSL u32 expression; bh in scope) into the registers. */
export function loadChunkBlock(b: ChunkBlock, chunk: string): Wgsl {
  const total = (b.C * b.width) / 8;
  return wgsl`for (var s = 0u; s < ${wordsPerThread(b.C, b.width, b.wg)}u; s++) {
      let q = min(lid + s * ${b.wg}u, ${total - 1}u);
      ${b.name}[s] = ${b.buf}[(bh * P.NT + ${chunk}) * ${total}u + q];
    }`;
}

/** Writes the registers to the f16 workgroup array `arr` from word `at` on, row-major as in
 * storage (rows of `width`). The caller's barriers order it after the block's last reader and
 * before its first. */
export function commitChunkBlock(b: ChunkBlock, arr: string, at: number): Wgsl {
  const total = (b.C * b.width) / 8;
  return wgsl`for (var s = 0u; s < ${wordsPerThread(b.C, b.width, b.wg)}u; s++) {
      let q = lid + s * ${b.wg}u;
      if (q < ${total}u) {
        let w = ${b.name}[s];
        let o = ${at}u + q * 8u;
        let h0 = bitcast<vec2<f16>>(w.x); let h1 = bitcast<vec2<f16>>(w.y);
        let h2 = bitcast<vec2<f16>>(w.z); let h3 = bitcast<vec2<f16>>(w.w);
        ${arr}[o] = h0.x; ${arr}[o + 1u] = h0.y; ${arr}[o + 2u] = h1.x; ${arr}[o + 3u] = h1.y;
        ${arr}[o + 4u] = h2.x; ${arr}[o + 5u] = h2.y; ${arr}[o + 6u] = h3.x; ${arr}[o + 7u] = h3.y;
      }
    }`;
}

/** Per-element values of an epilogue to come, loaded early: for each of the subgroup's fm x fn
 * result fragments, the 8 elements its lane will hold in emitEpilogue's body (which numbers them
 * by `slot`, the same on both lowerings), into `name`: array<f32, fm * fn * 8>. `value` is a
 * WGSL f32 over r, c (row and column of the element) and must be safe to evaluate at any r, c
 * of the fragment grid (clamp indices). */
export function prefetchEpilogueValues(fr: Fragments, fm: number, fn: number, map: { row: (i: number) => string; col: (j: number) => string },
  active: string, name: string, value: string): { decl: Wgsl; load: Wgsl } {
  const decl = wgsl`var ${name}: array<f32, ${fm * fn * 8}>;`;
  const parts: Wgsl[] = [];
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) parts.push(laneElements(fr.hardware, map, i, j, fn, wgsl`${name}[slot] = ${value};`));
  return { decl, load: wgsl`if (${active}) {
      ${joinWgsl(parts, '\n      ')}
    }` };
}
