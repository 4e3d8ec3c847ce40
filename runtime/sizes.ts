// Plan sizes to numbers: symbolic buffer sizes and dispatch grids, checked against the device.
import { stateRows, type ProblemSize } from '../dsl/index.js';
import type { KernelPlan, SizeExpr } from '../codegen/index.js';
import { EngineError } from './errors.js';

export function resolveSize(expr: SizeExpr, size: ProblemSize, NT: number): number {
  let n = 1;
  for (const s of expr) {
    n *= typeof s === 'number' ? s
      : s === 'NT' ? NT : s === 'BH' ? size.B * size.H : s === 'S' ? stateRows(size) : s === 'SH' ? stateRows(size) * size.H : size[s];
  }
  return n;
}

/** Every kernel's workgroup counts, refusing any past maxComputeWorkgroupsPerDimension. */
export function resolveGrids(plan: KernelPlan, size: ProblemSize, NT: number, limits: GPUSupportedLimits): [number, number, number][] {
  return plan.kernels.map((k) => k.grid.map((expr, axis) => {
    const n = resolveSize(expr, size, NT);
    if (n > limits.maxComputeWorkgroupsPerDimension) {
      throw new EngineError(`kernel ${k.name}: ${n} workgroups along axis ${axis} exceed the device's ` +
        `maxComputeWorkgroupsPerDimension (${limits.maxComputeWorkgroupsPerDimension}); reduce B*H or T`);
    }
    return n;
  }) as [number, number, number]);
}
