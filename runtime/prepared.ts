// What prepareForward and prepareStep return, and what the backward needs of an engine: types
// shared by engine.ts and backward.ts, so neither imports the other's module for them.
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import type { KernelPlan } from '../codegen/index.js';
import type { GpuTensor } from './tensor.js';
import type { PipelineCache } from './pipelines.js';
import type { PlanRunner } from './plan-run.js';

/** An engine as the runs see it: its device, compiled pipelines and plan runner. */
export interface RunContext {
  readonly device: GPUDevice;
  readonly pipelines: PipelineCache;
  readonly runner: PlanRunner;
  /** Throws once the device is lost. */
  assertAlive(): void;
}

export interface PreparedStep {
  readonly plan: KernelPlan;
  /** The step's output [B,N,H,V] and the device state it advances. */
  readonly o: GpuTensor;
  readonly state: GpuTensor;
  readonly size: ProblemSize;
  /** Reads o back (decoding 16-bit storage when dtypes.o asked for it). */
  readO(): Promise<{ o: Float32Array; oBits?: Uint16Array }>;
  encode(pass: GPUComputePassEncoder): void;
  execute(): Promise<void>;
  /** GPU ms of one step (median of `repeat`; each advances the state). */
  timeGpu(repeat: number): Promise<number>;
  destroy(): void;
}

export interface PreparedForward {
  readonly def: VariantDef;
  readonly plan: KernelPlan;
  readonly scale: number;
  readonly hasH0: boolean;
  /** True once destroy() ran (a backward given it as `saved` destroys it). */
  readonly destroyed: boolean;
  readonly size: ProblemSize;
  /** Chunks over all sequences, and the packed sequences' offsets (when cuSeqlens was given). */
  readonly NT: number;
  readonly cuSeqlens?: readonly number[];
  /** The plan's buffers by id: `in_<name>`, 'h0', 'o', 'ht' and scratch. They belong to the run:
   * destroy() gives them back to the engine's pool for later runs. */
  readonly tensors: ReadonlyMap<string, GpuTensor>;
  /** Records the plan's dispatches into a compute pass. */
  encode(pass: GPUComputePassEncoder): void;
  /** Submits `repeat` forwards in one command buffer and waits for the GPU; with `only`, just
   * that kernel of the plan (for per-kernel timing; its inputs must have been produced). */
  execute(repeat?: number, only?: number): Promise<void>;
  /** GPU time in ms (median over `repeat` passes, each timed by timestamp queries) of one
   * forward, or of kernel `only` alone; `split` puts each kernel in a compute pass of its own.
   * Needs the 'timestamp-query' feature. */
  timeGpu(repeat: number, only?: number, split?: boolean): Promise<number>;
  destroy(): void;
}
