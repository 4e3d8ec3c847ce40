// The order files start in. Two workers take files from one queue, so the run ends when the last
// long file does: starting the long ones first keeps the other worker busy with short ones at the
// end. vitest's own order is by the last run's durations, which a fresh clone (CI) does not have;
// it then goes by file size, which would start the browser test (the longest, a short file) last.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The longest files of a fresh run on a 2-core machine with lavapipe, longest first. */
const LONGEST = ['browser', 'backward', 'tensor-cores', 'cli-gen', 'nonfinite'].map((n) => `/test/${n}.test.ts`);

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((suffix) => f.moduleId.endsWith(suffix));
      return i < 0 ? LONGEST.length : i;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
