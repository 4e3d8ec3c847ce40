// The engines the tests share: one per tier, made on first use, on whatever adapter the machine
// has (lavapipe in CI). With vitest's isolate: false (vitest.config.ts) a worker keeps them from
// one test file to the next, so a plan compiled for one file serves the others. They read no
// tuning cache (tuningCache: 'off'): what a user's `lae tune` wrote never changes the tests' kernels.
import { createEngine, type Engine } from '../../runtime/engine.js';

let shared: Promise<Engine> | undefined;
export function getEngine(): Promise<Engine> {
  shared ??= createEngine({ tuningCache: 'off' });
  return shared;
}

let tensorCores: Promise<Engine> | undefined;
/** The engine of the tensor-core tier's portable lowering (its tiles and staging in
 * plain WGSL, so it runs on lavapipe). */
export function getTensorCoreEngine(): Promise<Engine> {
  tensorCores ??= createEngine({ tensorCores: 'portable', tuningCache: 'off' });
  return tensorCores;
}
