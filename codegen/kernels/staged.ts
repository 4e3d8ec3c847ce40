// Staging global data into workgroup memory with fixed-count, branch-free loads: each thread
// first loads its ceil(count / WG) elements into registers at clamped (always valid) indices,
// then stores them, masked, into workgroup memory. With a constant trip count and no branch
// around the loads, all of a thread's loads are in flight together: one memory latency per
// stage instead of one per element (measured 2-3x on the H100's delta-rule scan). The loop
// counter is `stg`, so index variables may be named anything else (r, i, t, ...).

export interface StagedLoad {
  /** WGSL const-expression: how many elements the workgroup stages. */
  readonly count: string;
  /** Statements deriving clamped index variables from `e` (in [0, count)). */
  readonly index: string;
  /** Values to load, as WGSL expressions over the index variables. */
  readonly loads: readonly { readonly name: string; readonly expr: string }[];
  /** Statements deriving store-side variables from `e`, then storing `<name>` values (already
   * masked by `valid`, a WGSL bool over those variables). */
  readonly storeIndex: string;
  readonly valid: string;
  readonly store: (value: (name: string) => string) => string;
}

export function emitStagedLoad(s: StagedLoad): string {
  const n = `((${s.count}) + WG - 1u) / WG`;
  return `{
      ${s.loads.map((l) => `var ${l.name}_v: array<f32, ${n}>;`).join(' ')}
      for (var stg = 0u; stg < ${n}; stg++) {
        let e = min(lid + stg * WG, (${s.count}) - 1u);
        ${s.index}
        ${s.loads.map((l) => `${l.name}_v[stg] = ${l.expr};`).join('\n        ')}
      }
      for (var stg = 0u; stg < ${n}; stg++) {
        let e = lid + stg * WG;
        if (e < (${s.count})) {
          ${s.storeIndex}
          let valid = ${s.valid};
          ${s.store((name) => `select(0.0, ${name}_v[stg], valid)`)}
        }
      }
    }`;
}

/** The four-wide form: each thread loads vec4 words (4 consecutive elements along the staged
 * block's contiguous axis, `e` their first element's index, a multiple of 4), then stores their
 * lanes. `valid` holds for all four or none (the axis' extent is a multiple of 4). */
export function emitStagedLoad4(s: StagedLoad): string {
  const groups = `((${s.count}) / 4u)`;
  const n = `(${groups} + WG - 1u) / WG`;
  return `{
      ${s.loads.map((l) => `var ${l.name}_v: array<vec4<f32>, ${n}>;`).join(' ')}
      for (var stg = 0u; stg < ${n}; stg++) {
        let e = min(lid + stg * WG, ${groups} - 1u) * 4u;
        ${s.index}
        ${s.loads.map((l) => `${l.name}_v[stg] = ${l.expr};`).join('\n        ')}
      }
      for (var stg = 0u; stg < ${n}; stg++) {
        let e4 = lid + stg * WG;
        if (e4 < ${groups}) {
          let e = e4 * 4u;
          ${s.storeIndex}
          let valid = ${s.valid};
          ${s.store((name) => `select(vec4<f32>(0.0), ${name}_v[stg], valid)`)}
        }
      }
    }`;
}

/** Statements storing the four lanes of a vec4 `v` as f16 at arr[at .. at + 3]. */
export const storeF16x4 = (arr: string, at: string, v: string) =>
  `{ let hv = vec4<f16>(${v}); ${arr}[${at}] = hv.x; ${arr}[${at} + 1u] = hv.y; ${arr}[${at} + 2u] = hv.z; ${arr}[${at} + 3u] = hv.w; }`;

export interface F16Block {
  /** Elements staged (a multiple of 4 when `wide` is given). */
  readonly count: string;
  /** Index statements from `e`; `last` is the largest start of a run along the contiguous axis
   * ('KD - 1u' one element at a time, 'KD - 4u' four), for clamping. */
  readonly index: (four: boolean) => string;
  /** The f32 value at the indices, and its vec4 form over 4 consecutive elements, if any. */
  readonly value: string;
  readonly wide: string | null;
  readonly storeIndex?: string;
  readonly valid: string;
  /** Workgroup f16 array and the word of element e = 0. */
  readonly arr: string;
  readonly at: (e: string) => string;
}

/** Stages a block of f16 operands into workgroup memory, vec4 loads where the value has a
 * four-wide form. */
export function emitF16Block(b: F16Block): string {
  if (b.wide) {
    return emitStagedLoad4({
      count: b.count, index: b.index(true), loads: [{ name: 'x', expr: b.wide }], storeIndex: b.storeIndex ?? '', valid: b.valid,
      store: (v) => storeF16x4(b.arr, b.at('e'), v('x')),
    });
  }
  return emitStagedLoad({
    count: b.count, index: b.index(false), loads: [{ name: 'x', expr: b.value }], storeIndex: b.storeIndex ?? '', valid: b.valid,
    store: (v) => `${b.arr}[${b.at('e')}] = f16(${v('x')});`,
  });
}
