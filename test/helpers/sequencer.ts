// The order files start in. Two workers take files from one queue, so the run ends when the last
// long file does: starting the long ones first keeps the other worker busy with short ones at the
// end. vitest's own order is by the last run's durations (node_modules/.vite/vitest/), which a
// fresh clone (CI) does not have; it then goes by file size, which would start the browser test
// (a short file) late and leave forward-fixtures (a shorter one) for the end. So the order here is
// all of it, whatever vitest remembers.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Every file, longest first, by its time in a fresh run (`npm test`, empty Mesa cache, 2-core
 * machine, lavapipe), 2026-12-03. */
const ORDER = [
  'tensor-cores', 'backward', 'cli-gen', 'browser', 'nonfinite', 'preambles',
  // Under 35 s.
  'step', 'default-limits', 'dplr-fixtures', 'dtypes', 'limits', 'model-gates', 'gva', 'tune',
  'packaging', 'mamba2-kernel', 'step-layouts', 'dplr', 'forward-fixtures', 'fla-api', 'forward-random',
  'plan-check', 'varlen', 'model-block', 'conveniences', 'api-contract', 'normalized', 'interop',
  'dplr-chunked', 'errors', 'device', 'reference-backward', 'dplr-reference', 'spec-identity',
  'reference', 'demo-page', 'embed', 'wgsl-template', 'plan-run', 'codegen', 'import-cycles', 'index-expr',
].map((n) => `/test/${n}.test.ts`);
/** A file not in ORDER (a new one) starts after the five longest: it may be long. */
const UNLISTED = 5;

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = ORDER.findIndex((suffix) => f.moduleId.endsWith(suffix));
      return i < 0 ? UNLISTED - 0.5 : i;
    };
    // Array.prototype.sort is stable: unlisted files keep vitest's order among themselves.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
