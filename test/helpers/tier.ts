// The two test tiers. `npm test` (the fast tier, what CI runs) runs every code path at least once:
// each variant's forward, backward and step on the f32 tier and on the tensor-core tier's portable
// lowering, FLA's fixtures, the causal non-finite behaviour, the browser, `lae gen`.
// `npm run test:full` (LAE_TEST_FULL=1) adds the sweeps: the same paths again at more shapes,
// chunk sizes and options. On lavapipe each new (variant, K, V, chunk) compiles its own
// pipelines, seconds each, so a sweep costs minutes and finds what its first case finds.
export const FULL = process.env.LAE_TEST_FULL === '1';

/** `fast`, and in the full tier `more` after it. */
export function sweep<T>(fast: readonly T[], more: readonly T[]): T[] {
  return FULL ? [...fast, ...more] : [...fast];
}
