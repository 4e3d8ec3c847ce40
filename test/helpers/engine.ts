// One engine per test file, on whatever adapter the machine has (lavapipe in CI).
import { createEngine, type Engine } from '../../runtime/engine.js';

let shared: Promise<Engine> | undefined;
export function getEngine(): Promise<Engine> {
  shared ??= createEngine();
  return shared;
}

let tensorCores: Promise<Engine> | undefined;
/** One engine per test file on the tensor-core tier's portable lowering (its tiles and staging in
 * plain WGSL, so it runs on lavapipe). */
export function getTensorCoreEngine(): Promise<Engine> {
  tensorCores ??= createEngine({ tensorCores: 'portable' });
  return tensorCores;
}
