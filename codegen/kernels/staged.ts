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
