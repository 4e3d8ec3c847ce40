// Which compute tier an engine runs: the f32 kernels everywhere, or the tensor-core tier, whose
// matrix products go through the fragment layer (codegen/kernels/fragments.ts), lowered to
// WebGPU subgroup matrices where the adapter offers f16 x f16 -> f32 ones of 16 x 16 x 16 with
// 32-wide subgroups (the tensor cores of NVIDIA cards under Dawn), or to plain WGSL ('portable',
// for testing the tier's tiling on any adapter with shader-f16; slow).
// The tier's kernels need more than WebGPU's default limits (32 KiB of workgroup memory; 9
// storage buffers in the delta rule's WY factors with packed sequences), so it is chosen only where the device grants them.
import { checkLimits, memoryTierFor, planForward, type DeviceLimits, type FragmentLowering } from '../codegen/index.js';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';
import { EngineError } from './errors.js';

/** 'auto': the tensor cores where the adapter has them, else f32; 'off': f32; 'portable': the
 * tensor-core tier's tiles in plain WGSL (needs shader-f16). */
export type TensorCoreOption = 'auto' | 'off' | 'portable';
export const TENSOR_CORE_OPTIONS: readonly TensorCoreOption[] = ['auto', 'off', 'portable'];

export type Tier = 'f32' | FragmentLowering;

/** Features the subgroup-matrix lowering needs on the device. */
export const SUBGROUP_MATRIX_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as const;

interface MatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

/** The adapter's subgroup-matrix configurations (Dawn exposes them as objects with getters). */
export function matrixConfigs(adapter: GPUAdapter): MatrixConfig[] {
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: Iterable<MatrixConfig> };
  return [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({
    componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
  }));
}

/** Why the subgroup-matrix lowering cannot run on this adapter, or null when it can. */
export function subgroupMatrixBlocker(adapter: GPUAdapter): string | null {
  const missing = SUBGROUP_MATRIX_FEATURES.filter((f) => !adapter.features.has(f as GPUFeatureName));
  if (missing.length) return `the adapter lacks ${missing.join(', ')}`;
  if (!matrixConfigs(adapter).some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16)) {
    return 'the adapter has no f16 x f16 -> f32 subgroup-matrix configuration of 16 x 16 x 16';
  }
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  if (info.subgroupMinSize !== 32 || info.subgroupMaxSize !== 32) {
    return `the kernels assume 32-wide subgroups; the adapter's are ${info.subgroupMinSize}..${info.subgroupMaxSize}`;
  }
  return null;
}

const limitBlockers = new Map<string, string | null>();

/** Why the tensor-core tier's kernels do not fit `limits` (the first one past a limit, over the
 * nine variants' chunked forwards, with and without packed sequences), or null where they fit. */
export function tensorCoreLimitBlocker(limits: DeviceLimits, lowering: FragmentLowering = 'subgroup-matrix'): string | null {
  const key = `${lowering}:${limits.maxStorageBuffersPerShaderStage}:${limits.maxComputeWorkgroupStorageSize}:${limits.maxComputeInvocationsPerWorkgroup}:${limits.maxComputeWorkgroupSizeX}`;
  if (limitBlockers.has(key)) return limitBlockers.get(key)!;
  let blocker: string | null = null;
  const wgMemory = memoryTierFor(limits.maxComputeWorkgroupStorageSize);
  if (wgMemory === null || wgMemory < 32768) {
    blocker = `its kernels need 32768 bytes of workgroup memory; the device grants ${limits.maxComputeWorkgroupStorageSize} (maxComputeWorkgroupStorageSize)`;
  }
  for (const name of blocker ? [] : VARIANT_NAMES) {
    for (const varlen of [false, true]) {
      const plan = planForward(VARIANTS[name], { K: 128, V: 128, chunk: 64, wgMemory: wgMemory!, fragments: lowering, ...(varlen ? { varlen: true as const } : {}) });
      const v = checkLimits(plan, limits)[0];
      if (v) {
        blocker = `its kernel '${v.kernel}' needs ${v.count} (${v.limit}); the device grants ${v.max}`;
        break;
      }
    }
    if (blocker) break;
  }
  limitBlockers.set(key, blocker);
  return blocker;
}

/** The tier for an option on an adapter, and the features to request for it. */
export function chooseTier(option: TensorCoreOption, adapter: GPUAdapter): { tier: Tier; features: GPUFeatureName[]; note: string } {
  if (option === 'off') return { tier: 'f32', features: [], note: 'tensor cores off' };
  if (option === 'portable') {
    if (!adapter.features.has('shader-f16')) {
      throw new EngineError("tensorCores: 'portable' needs the adapter's shader-f16 feature, which it lacks");
    }
    const limits = tensorCoreLimitBlocker(adapter.limits, 'portable');
    if (limits) throw new EngineError(`tensorCores: 'portable' cannot run on this adapter: ${limits}. Use tensorCores: 'off' (the f32 tier fits WebGPU's default limits)`);
    return { tier: 'portable', features: ['shader-f16'], note: 'tensor-core tiles in plain WGSL' };
  }
  const blocker = subgroupMatrixBlocker(adapter) ?? tensorCoreLimitBlocker(adapter.limits);
  if (blocker) return { tier: 'f32', features: [], note: `no tensor cores: ${blocker}` };
  // The experimental feature is not in @webgpu/types' GPUFeatureName union.
  return { tier: 'subgroup-matrix', features: [...SUBGROUP_MATRIX_FEATURES] as GPUFeatureName[], note: 'f16 subgroup matrices (tensor cores)' };
}
