import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/helpers/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // dist/ is built once here, not inside test files that run in parallel (test/helpers/build-once.ts).
    globalSetup: ['./test/helpers/build-once.ts'],
    // One worker per core: a file alone keeps a 2-core machine 1.85 cores busy on average
    // (backward.test.ts, measured near idle), a second file fills the rest. At most four: a worker
    // holds Dawn, lavapipe and its engines, near 1 GB.
    fileParallelism: true,
    maxWorkers: Math.min(4, availableParallelism()),
    // A worker keeps its modules from one file to the next, so the engines of test/helpers/engine.ts
    // (one device, one pipeline cache per tier) serve every file that worker runs: a plan another
    // file already compiled costs nothing, and Dawn and the device start once per worker.
    // Test files keep no other state in shared modules (no mocks, no globals, no env).
    isolate: false,
    sequence: { sequencer: LongestFirst },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
