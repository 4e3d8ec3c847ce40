// lae: the linear attention engine for WebGPU.
export * from './dsl/index.js';
export {
  VARIANTS, VARIANT_NAMES, TOKEN_SEQUENTIAL_VARIANTS, TOKEN_SEQUENTIAL_NAMES, mamba2Ssd, type VariantName, type TokenSequentialVariantName, type Mamba2SsdOptions,
} from './variants/index.js';
export { planForward, planBackward, type KernelPlan, type CodegenConfig, type ForwardMode } from './codegen/index.js';
export { createEngine, Engine, VariantOp, EngineError, type EngineOptions, type VariantOptions, type ForwardOptions, type ForwardResult, type BackwardOptions, type PreparedForward,
  type StepOptions, type EncodeForwardOptions, type EncodeBackwardOptions, type EncodeStepOptions,
  type GpuBinding, type GpuInputs, type ForwardOutputs, type StepOutputs, type GpuSeeds, type GpuGradients } from './runtime/engine.js';
export { NoAdapterError, DEVICE_LIMITS } from './runtime/device.js';
export { InputError } from './runtime/validate.js';
export { NonFiniteError } from './runtime/limits.js';
export { ShaderCompileError } from './runtime/pipelines.js';
export { GpuTensor } from './runtime/tensor.js';
export type { CuSeqlens } from './runtime/varlen.js';
export { referenceForward, defaultScale } from './runtime/reference.js';
export { relL2 } from './runtime/compare.js';
export { referenceBackward, type BackwardSeeds } from './runtime/reference-backward.js';
export { sampleInputs } from './runtime/sample.js';
export { toBits, fromBits, roundTo, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, type StorageDtype } from './runtime/dtypes.js';
export { flaOps, FLA_OPS, FLA_REFUSALS, type FlaOps, type FlaTensor, type FlaOutput, type FlaOptions, type FlaResult, type FlaCuSeqlens } from './runtime/fla.js';
