// One engine per test file, on whatever adapter the machine has (lavapipe in CI).
import { createEngine, type Engine } from '../../runtime/engine.js';

let shared: Promise<Engine> | undefined;
export function getEngine(): Promise<Engine> {
  shared ??= createEngine();
  return shared;
}
