import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/helpers/sequencer.js';

// lavapipe (Mesa's software Vulkan, the adapter of CI and of this suite's figures) spends most of
// the suite compiling pipelines: LLVM, at each pipeline's first dispatch. Two of llvmpipe's own
// settings halve that, measured over 198 of the suite's kernels on an empty Mesa cache (110 s of
// CPU; 74 with the first, 65 with the second, 49 with both) and in `npm test` (9 min 22 s wall,
// 893 s user CPU without them; 5 min 40 s, 511 s with them). GALLIVM_PERF=nopt skips LLVM's
// optimization passes: the kernels run the same IEEE operations, unoptimized, and the tests'
// problems are small. LP_NATIVE_VECTOR_WIDTH=128 vectorizes over 4 invocations instead of 8:
// lavapipe then reports subgroups of 4, not 8, which lae's kernels do not depend on (only the
// subgroup-matrix lowering, which lavapipe never gets, asks for 32-wide subgroups). Neither
// changes the adapter's limits or features, nor any other adapter (a GPU, Chromium's SwiftShader
// in test/browser.test.ts). Set here, before the workers start, so the workers and the examples
// they run inherit them; a value already in the environment wins (`GALLIVM_PERF=
// LP_NATIVE_VECTOR_WIDTH=256 npm test` runs lavapipe as it comes). The number of lavapipe's
// threads is left alone: with more than one, the workgroups of a dispatch run concurrently.
process.env.GALLIVM_PERF ??= 'nopt';
process.env.LP_NATIVE_VECTOR_WIDTH ??= '128';

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
