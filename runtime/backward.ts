// The backward on the GPU: binds the backward plan's kernels to the buffers of the chunked
// forward they follow (which must still be alive: a PreparedForward kept by saveForBackward or
// run just before), uploads the seeds do and dht, dispatches, and reads the gradients back.
import { inputShape, numel, stateRows, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { planBackward, packParams, type KernelPlan } from '../codegen/index.js';
import { GpuTensor } from './tensor.js';
import { InputError } from './errors.js';
import type { PreparedForward, RunContext } from './prepared.js';
import { encodePass, submit, type SizeEnv } from './plan-run.js';
import { timeEncoded } from './timing.js';

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
  engine: RunContext, def: VariantDef, fwd: PreparedForward, seeds: BackwardSeeds, opts: { poisonOutputs?: boolean } = {},
): Promise<PreparedBackward> {
  const size = fwd.size;
  const device = engine.device;
  const hasDht = checkSeeds(def, size, seeds);
  const plan = planBackward(def, fwd.plan.config);
  const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: fwd.NT, S: stateRows(size) };
  const params = packParams({ B: size.B, T: size.T, H: size.H, NT: fwd.NT, has_h0: fwd.hasH0 ? 1 : 0, scale: fwd.scale, has_dht: hasDht ? 1 : 0, G: size.G ?? 1 });
  const toF32 = (a: Float32Array | Float64Array) => (a instanceof Float32Array ? a : Float32Array.from(a));
  // The seeds are uploaded here, before the first await (the pipelines compile meanwhile):
  // editing them after this call returns its promise changes nothing in the run.
  const buffers = engine.runner.allocate(plan, env, {
    params,
    sources: { do: { data: toF32(seeds.do) }, ...(hasDht ? { dht: { data: toF32(seeds.dht!) } } : {}) },
    ...(opts.poisonOutputs ? { fillOutputs: Number.NaN } : {}),
  });
  try {
    // The backward's kernels also read the forward's buffers (inputs, states, WY factors) by name.
    const forward = new Map([...fwd.tensors].map(([name, t]) => [name, t.buffer]));
    const bound = engine.runner.bind(plan, await engine.pipelines.get(plan), buffers, forward);
    const tensors = new Map(plan.buffers.map((b) => [b.name, new GpuTensor(device, buffers.buffers.get(b.name)!, [buffers.bytes.get(b.name)! / 4], b.name)]));
    const execute = async () => {
      engine.assertAlive();
      await submit(device, `${def.name} backward`, (enc) => encodePass(enc, [bound]));
      engine.assertAlive();
    };
    const read = async () => {
      const out: Record<string, Float32Array> = {};
      // A q/k input under grouped heads has H / G heads: its buffer is sized for H and read in part.
      for (const i of def.inputs) out[`d${i.name}`] = (await tensors.get(`grad_in_${i.name}`)!.read()).slice(0, numel(inputShape(def, i, size)));
      if (fwd.hasH0) out.dh0 = await tensors.get('dh0')!.read();
      engine.assertAlive();
      return out;
    };
    const encode = (pass: GPUComputePassEncoder) => bound.encode(pass);
    return { plan, tensors, encode, execute, read, destroy: buffers.release, timeGpu: (repeat: number) => timeEncoded(device, encode, repeat) };
  } catch (e) {
    buffers.release();
    throw e;
  }
}
