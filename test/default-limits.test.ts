// WebGPU's default limits, on a device created without requiredLimits (8 storage buffers per
// shader stage, 16 KiB of workgroup memory, 256 invocations per workgroup): the variants whose
// kernels used to bind the most buffers run forward (chunked and token-sequential), backward and
// the pooled step against the float64 reference; a plan past the limits is refused before
// compiling, naming the kernel, the limit and the count; the tensor-core tier is not chosen there.
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../runtime/engine.js';
import { EngineError } from '../runtime/errors.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { DEFAULT_LIMITS } from '../codegen/index.js';
import { VARIANTS, TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { relL2, rng } from './helpers/numerics.js';

const TOL = 1e-4;

// Dawn's GPU object must stay referenced while its devices live (runtime/device.ts).
let gpu: GPU | undefined;
const devices: GPUDevice[] = [];

/** A device of the default adapter with WebGPU's default limits: no requiredLimits. */
async function defaultDevice(requiredFeatures: GPUFeatureName[] = []): Promise<GPUDevice> {
  if (!gpu) {
    const mod = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    gpu = mod.create([]);
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no adapter');
  const device = await adapter.requestDevice({ requiredFeatures: requiredFeatures.filter((f) => adapter.features.has(f)) });
  devices.push(device);
  return device;
}

let shared: Promise<Engine> | undefined;
const engine = () => (shared ??= defaultDevice().then((device) => createEngine({ device })));
afterAll(() => { for (const d of devices) d.destroy(); });

describe("WebGPU's default limits", () => {
  it('the device has them, and the engine runs the f32 tier with chunks of 32 by default', async () => {
    const e = await engine();
    const l = e.device.limits;
    expect(l.maxStorageBuffersPerShaderStage).toBe(DEFAULT_LIMITS.maxStorageBuffersPerShaderStage);
    expect(l.maxComputeWorkgroupStorageSize).toBe(DEFAULT_LIMITS.maxComputeWorkgroupStorageSize);
    expect(l.maxComputeInvocationsPerWorkgroup).toBe(DEFAULT_LIMITS.maxComputeInvocationsPerWorkgroup);
    expect(l.maxComputeWorkgroupSizeX).toBe(DEFAULT_LIMITS.maxComputeWorkgroupSizeX);
    expect(e.tier).toBe('f32');
    expect(e.variant('gla').plan({ K: 16, V: 8 }).config.chunk).toBe(32);
  });

  const size = { B: 2, T: 45, H: 2, K: 16, V: 8 };
  describe.each(['gla', 'kda', 'rwkv6', 'mamba2_ssd', 'gated_delta_rule'] as const)('%s', (name) => {
    const def = VARIANTS[name];
    it('forward, chunked and token-sequential, vs the float64 reference', async () => {
      const op = (await engine()).variant(name);
      const inputs = sampleInputs(def, size, 21, true);
      const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
      for (const mode of ['chunked', 'recurrent'] as const) {
        const got = await op.forward(inputs, { ...size, mode, poisonOutputs: true });
        expect(relL2(got.o, ref.o), `${mode} o`).toBeLessThan(TOL);
        expect(relL2(got.ht!, ref.ht), `${mode} ht`).toBeLessThan(TOL);
      }
    });
    it('backward vs the float64 reference', async () => {
      const op = (await engine()).variant(name);
      const inputs = sampleInputs(def, size, 22, true);
      const r = rng(23);
      const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
      const dht = Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
      const grads = await op.backward(inputs, { do: dO, dht }, { ...size, poisonOutputs: true });
      const { h0, ...rest } = inputs;
      const ref = referenceBackward(def, rest, size, { do: dO, dht }, { h0 });
      for (const g of [...def.inputs.map((i) => `d${i.name}`), 'dh0']) expect(relL2(grads[g]!, ref[g]!), g).toBeLessThan(TOL);
    });
  });

  it('rwkv7 (six inputs; token-sequential forward and backward, each kernel fitted into 8 buffers) vs the float64 reference', async () => {
    const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv7;
    const op = (await engine()).variant('rwkv7');
    const inputs = sampleInputs(def, size, 26, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const got = await op.forward(inputs, { ...size, poisonOutputs: true });
    expect(relL2(got.o, ref.o)).toBeLessThan(TOL);
    expect(relL2(got.ht!, ref.ht)).toBeLessThan(TOL);
    const r = rng(27);
    const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const grads = await op.backward(inputs, { do: dO }, { ...size, poisonOutputs: true });
    const { h0, ...rest } = inputs;
    const want = referenceBackward(def, rest, size, { do: dO }, { h0 });
    for (const g of [...def.inputs.map((i) => `d${i.name}`), 'dh0']) expect(relL2(grads[g]!, want[g]!), g).toBeLessThan(TOL);
  });

  it("mamba2_ssd's pooled step (its per-head parameters packed into one buffer) reproduces the forward", async () => {
    const op = (await engine()).variant('mamba2_ssd');
    const def = op.def;
    const inputs = sampleInputs(def, size, 24, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    // The two sequences' states in slots 2 and 0 of a pool of 3.
    const per = size.H * size.K * size.V;
    const pool = new Float32Array(3 * per);
    pool.set(inputs.h0!.subarray(0, per), 2 * per);
    pool.set(inputs.h0!.subarray(per), 0);
    const { h0: _h0, ...tokens } = inputs;
    const { o } = await op.step(tokens, pool, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T, stateIndices: [2, 0] });
    expect(relL2(o, ref.o)).toBeLessThan(TOL);
    expect(relL2(Float32Array.from([...pool.subarray(2 * per), ...pool.subarray(0, per)]), ref.ht)).toBeLessThan(TOL);
  });

  it('a chunk of 64 is refused before compiling, naming the kernel, the limit and the count', async () => {
    const e = await engine();
    const op = e.variant('gla');
    const before = e.pipelines.size;
    const err = await op.forward(sampleInputs(op.def, size, 25, false), { ...size, chunkSize: 64 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toMatch(/kernel 'gla_\w+' \(f32 tier\) needs \d+ bytes of workgroup memory; this device's maxComputeWorkgroupStorageSize is 16384/);
    expect((err as Error).message).toMatch(/smaller chunkSize/);
    expect(e.pipelines.size).toBe(before);
  });

  it("tensorCores: 'portable' on this device is an error that says why and what to do; 'auto' keeps the f32 tier", async () => {
    const device = await defaultDevice(['shader-f16']);
    if (!device.features.has('shader-f16')) return; // the adapter has no f16: the portable tier is refused for that
    await expect(createEngine({ device, tensorCores: 'portable' })).rejects.toThrow(
      /tensorCores: 'portable' cannot run on this device: its kernels need 32768 bytes of workgroup memory; the device grants 16384.*tensorCores: 'off'/);
    expect((await createEngine({ device })).tier).toBe('f32');
  });
});
