// The backward on the GPU: binds the backward plan's kernels to the buffers of the chunked
// forward they follow (which must still be alive: a PreparedForward kept by saveForBackward or
// run just before), uploads the seeds do and dht, dispatches, and reads the gradients back.
import { inputShape, numel, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { planBackward, packParams, type KernelPlan } from '../codegen/index.js';
import { GpuTensor } from './tensor.js';
import { InputError } from './validate.js';
import type { Engine, PreparedForward } from './engine.js';
import { EngineError } from './errors.js';
import { submitChecked, timeEncoded } from './timing.js';
import { resolveGrids, resolveSize } from './sizes.js';

export interface BackwardSeeds {
  /** Gradient of the loss w.r.t. o, [B,T,H,V]. */
  do: Float32Array | Float64Array;
  /** Gradient w.r.t. the final state ht, laid out like h0 (optional). */
  dht?: Float32Array | Float64Array | null;
}


export interface PreparedBackward {
  readonly plan: KernelPlan;
  readonly tensors: ReadonlyMap<string, GpuTensor>;
  encode(pass: GPUComputePassEncoder): void;
  execute(): Promise<void>;
  /** GPU ms of the backward alone (its inputs from the forward must exist), median of `repeat`. */
  timeGpu(repeat: number): Promise<number>;
  /** The gradients: 'd' + each input name, plus dh0 when the forward had h0. */
  read(): Promise<Record<string, Float32Array>>;
  destroy(): void;
}

/** Checks the seeds' types and shapes; returns whether dht was given. */
export function checkSeeds(def: VariantDef, size: ProblemSize, seeds: BackwardSeeds): boolean {
  if (!seeds || typeof seeds !== 'object') throw new InputError('backward needs the seeds { do, dht? }');
  const doShape = [size.B, size.T, size.H, size.V];
  const checkSeed = (name: string, a: unknown, n: number, shape: string) => {
    if (!(a instanceof Float32Array) && !(a instanceof Float64Array)) {
      throw new InputError(`seed '${name}' must be a Float32Array (or Float64Array) of shape ${shape}`);
    }
    if (a.length !== n) throw new InputError(`seed '${name}' has ${a.length} elements; expected shape ${shape} = ${n} elements`);
  };
  checkSeed('do', seeds.do, numel(doShape), `[${doShape.join(',')}]`);
  const hasDht = seeds.dht !== undefined && seeds.dht !== null;
  const state = stateShape(def, size);
  if (hasDht) checkSeed('dht', seeds.dht, numel(state), `[${state.join(',')}] (${def.stateLayout === 'kv' ? 'K' : 'V'}-first${size.S !== undefined ? ', one state per sequence of cuSeqlens' : ''})`);
  return hasDht;
}

export async function prepareBackward(
  engine: Engine, def: VariantDef, fwd: PreparedForward, seeds: BackwardSeeds, opts: { poisonOutputs?: boolean } = {},
): Promise<PreparedBackward> {
  const size = fwd.size;
  const device = engine.device;
  const hasDht = checkSeeds(def, size, seeds);

  const plan = planBackward(def, fwd.plan.config);
  const NT = fwd.NT;
  const limits = device.limits;
  const sizes = new Map<string, number>();
  for (const b of plan.buffers) {
    const n = resolveSize(b.elems, size, NT);
    if (n * 4 > limits.maxStorageBufferBindingSize) {
      throw new EngineError(`backward buffer '${b.name}' needs ${n * 4} bytes, past this device's maxStorageBufferBindingSize ` +
        `of ${limits.maxStorageBufferBindingSize}; split the batch (B) or the heads (H)`);
    }
    sizes.set(b.name, n);
  }
  const grids = resolveGrids(plan, size, NT, limits);
  // The seeds are uploaded before the first await (while the pipelines compile): editing them
  // after this call returns its promise changes nothing in the run.
  const compiled = engine.pipelines.get(plan);

  const tensors = new Map<string, GpuTensor>();
  let uniform: GPUBuffer | undefined;
  // An aliased gradient shares its role's buffer: destroy each buffer once.
  const destroy = () => { for (const t of new Set(tensors.values())) t.destroy(); uniform?.destroy(); };
  try {
    const toF32 = (a: Float32Array | Float64Array) => (a instanceof Float32Array ? a : Float32Array.from(a));
    for (const b of plan.buffers) {
      const n = sizes.get(b.name)!;
      if (b.aliasOf) tensors.set(b.name, tensors.get(b.aliasOf)!);
      else if (b.kind === 'seed') tensors.set(b.name, GpuTensor.upload(device, b.name, toF32(seeds.do), [n]));
      else if (b.kind === 'state-in') tensors.set(b.name, hasDht ? GpuTensor.upload(device, b.name, toF32(seeds.dht!), [n]) : GpuTensor.empty(device, b.name, [4]));
      else tensors.set(b.name, GpuTensor.empty(device, b.name, [n], b.kind === 'output' && opts.poisonOutputs ? Number.NaN : undefined));
    }
    const hasH0 = fwd.hasH0;
    const params = packParams({ B: size.B, T: size.T, H: size.H, NT, has_h0: hasH0 ? 1 : 0, scale: fwd.scale, has_dht: hasDht ? 1 : 0, G: size.G ?? 1 });
    uniform = device.createBuffer({ size: params.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniform, 0, params);
    const pipelines = await compiled;
    const bindGroups = plan.kernels.map((k, i) => {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform! } }];
      k.bindings.forEach((b, j) => {
        const t = tensors.get(b.buffer) ?? fwd.tensors.get(b.buffer);
        if (!t) throw new EngineError(`internal: backward kernel ${k.name} reads '${b.buffer}', which neither the forward nor the backward has`);
        entries.push({ binding: j + 1, resource: { buffer: t.buffer } });
      });
      return device.createBindGroup({ layout: pipelines[i]!.getBindGroupLayout(0), entries });
    });
    const encode = (pass: GPUComputePassEncoder) => plan.kernels.forEach((_, i) => {
      pass.setPipeline(pipelines[i]!);
      pass.setBindGroup(0, bindGroups[i]!);
      pass.dispatchWorkgroups(...grids[i]!);
    });
    const execute = async () => {
      engine.assertAlive();
      await submitChecked(device, `${def.name} backward`, (enc) => {
        const pass = enc.beginComputePass();
        encode(pass);
        pass.end();
      });
      engine.assertAlive();
    };
    const read = async () => {
      const out: Record<string, Float32Array> = {};
      // A q/k input under grouped heads has H / G heads: its buffer is sized for H and read in part.
      for (const i of def.inputs) out[`d${i.name}`] = (await tensors.get(`grad_in_${i.name}`)!.read()).slice(0, numel(inputShape(def, i, size)));
      if (hasH0) out.dh0 = await tensors.get('dh0')!.read();
      engine.assertAlive();
      return out;
    };
    return { plan, tensors, encode, execute, read, destroy, timeGpu: (repeat: number) => timeEncoded(device, encode, repeat) };
  } catch (e) {
    destroy();
    throw e;
  }
}
