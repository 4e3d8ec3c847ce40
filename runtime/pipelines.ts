// Compiled pipelines, one set per plan key: the spec's hash plus exactly the config the WGSL
// depends on (K, V, chunk, mode). B, T, H and scale are uniforms, so they never recompile.
// Before compiling, a plan is checked against the device's limits (codegen/check.ts).
import { checkLimits, type KernelPlan } from '../codegen/index.js';
import { EngineError } from './errors.js';

export class ShaderCompileError extends Error {
  constructor(kernel: string, messages: string[]) {
    super(`WGSL of kernel '${kernel}' failed to compile:\n${messages.join('\n')}`);
    this.name = 'ShaderCompileError';
  }
}

export class PipelineCache {
  private readonly entries = new Map<string, Promise<GPUComputePipeline[]>>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number { return this.entries.size; }
  has(key: string): boolean { return this.entries.has(key); }

  /** The plan's pipelines, compiling them on first use, after checking the plan against the
   * device's limits: where it does not fit, an EngineError names the kernel, the limit and the
   * count (with `bufferBytes`, the sizes of the buffers it binds, checked against
   * maxStorageBufferBindingSize too, on every call). */
  get(plan: KernelPlan, bufferBytes?: ReadonlyMap<string, number>): Promise<GPUComputePipeline[]> {
    let p = this.entries.get(plan.key);
    // A plan that compiled has passed (its key fixes its WGSL, the device its limits).
    if (!p || bufferBytes) assertFits(plan, this.device.limits, bufferBytes);
    if (!p) {
      p = Promise.all(plan.kernels.map((k) => compile(this.device, k.name, k.wgsl)));
      // A failed compile is not cached: the next call reports the error again.
      p.catch(() => this.entries.delete(plan.key));
      this.entries.set(plan.key, p);
    }
    return p;
  }
}

/** Throws an EngineError listing where `plan` goes past `limits`. */
export function assertFits(plan: KernelPlan, limits: GPUSupportedLimits, bufferBytes?: ReadonlyMap<string, number>): void {
  const found = checkLimits(plan, limits, bufferBytes);
  if (found.length === 1) throw new EngineError(found[0]!.message);
  if (found.length) {
    throw new EngineError(`${found.length} limits of this device are too small for ${plan.variant}'s ${plan.mode} plan:\n` +
      found.map((v) => `  ${v.message}`).join('\n'));
  }
}

export async function compile(device: GPUDevice, name: string, wgsl: string): Promise<GPUComputePipeline> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: name, code: wgsl });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    await device.popErrorScope();
    throw new ShaderCompileError(name, errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`));
  }
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({ label: name, layout: 'auto', compute: { module, entryPoint: 'main' } });
  } catch (e) {
    await device.popErrorScope();
    throw new ShaderCompileError(name, [(e as Error).message]);
  }
  const err = await device.popErrorScope();
  if (err) throw new ShaderCompileError(name, [err.message]);
  return pipeline;
}
