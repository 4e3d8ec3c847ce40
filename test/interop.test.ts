// The buffer-level API (issue 12): a caller with its own device fills q, k, v and the gates with
// a kernel of its own, records lae's forward and a decode step into its own command encoder,
// consumes o with another kernel of its own, and checks the results against the float64
// reference, while lae makes no host copy of the tensors. Then the backward into the caller's
// gradient buffers, a tensor bound at an offset, and every refusal of a bad binding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type VariantOp } from '../runtime/engine.js';
import { DEVICE_LIMITS } from '../runtime/device.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { inputShape, numel, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { relL2 } from './helpers/numerics.js';

const TOL = 1e-4;
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

// ---- the caller's side: a device, buffers and kernels of its own --------------------------------

let gpu: GPU;
let device: GPUDevice;
let engine: Engine;

async function ownDevice(): Promise<GPUDevice> {
  const mod = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  gpu = mod.create([]);
  const adapter = (await gpu.requestAdapter())!;
  return adapter.requestDevice({ requiredLimits: Object.fromEntries(DEVICE_LIMITS.map((k) => [k, adapter.limits[k]])) });
}

/** The fill kernel's values: a PCG hash of (index, seed) to 24 bits, then u * mul + add with
 * mul and add powers of two (or zero), so the f32 result is exact and the host computes it too. */
function hash(x: number): number {
  let h = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  h = Math.imul(((h >>> ((h >>> 28) + 4)) ^ h) >>> 0, 277803737) >>> 0;
  return ((h >>> 22) ^ h) >>> 0;
}
function hostFill(n: number, seed: number, mul: number, add: number): Float32Array {
  const s = Math.imul(seed, 0x9e3779b9) >>> 0;
  return Float32Array.from({ length: n }, (_, i) => (hash((i ^ s) >>> 0) >>> 8) / 16777216 * mul + add);
}

const FILL_WGSL = /* wgsl */ `
struct P { n: u32, seed: u32, mul: f32, add: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
fn pcg(x: u32) -> u32 {
  var h = x * 747796405u + 2891336453u;
  h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
  return (h >> 22u) ^ h;
}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x >= p.n) { return; }
  let u = f32(pcg(id.x ^ (p.seed * 0x9e3779b9u)) >> 8u) * (1.0 / 16777216.0);
  out[id.x] = u * p.mul + p.add;
}`;

const SCALE_WGSL = /* wgsl */ `
struct P { n: u32, factor: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < p.n) { dst[id.x] = src[id.x] * p.factor; }
}`;

let fillPipe: GPUComputePipeline;
let scalePipe: GPUComputePipeline;
type Range = { buffer: GPUBuffer; offset?: number; size?: number };

/** Records the fill kernel writing n values into `dst` (a buffer or a range of one). */
function fill(enc: GPUCommandEncoder, dst: Range, n: number, seed: number, mul: number, add: number): void {
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const bytes = new ArrayBuffer(16);
  new Uint32Array(bytes, 0, 2).set([n, seed]);
  new Float32Array(bytes, 8, 2).set([mul, add]);
  device.queue.writeBuffer(u, 0, bytes);
  const pass = enc.beginComputePass();
  pass.setPipeline(fillPipe);
  pass.setBindGroup(0, device.createBindGroup({ layout: fillPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { ...dst, size: dst.size ?? n * 4 } }] }));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
}

/** Records dst = src * factor (the caller consuming lae's o). */
function scale(enc: GPUCommandEncoder, src: Range, dst: GPUBuffer, n: number, factor: number): void {
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const bytes = new ArrayBuffer(16);
  new Uint32Array(bytes, 0, 1).set([n]);
  new Float32Array(bytes, 4, 1).set([factor]);
  device.queue.writeBuffer(u, 0, bytes);
  const pass = enc.beginComputePass();
  pass.setPipeline(scalePipe);
  pass.setBindGroup(0, device.createBindGroup({ layout: scalePipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: u } }, { binding: 1, resource: { ...src, size: src.size ?? n * 4 } }, { binding: 2, resource: { buffer: dst } }] }));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
}

const buffer = (n: number, usage = STORAGE()) => device.createBuffer({ size: Math.max(16, n * 4), usage });

async function read(b: GPUBuffer, n: number, offset = 0): Promise<Float32Array> {
  const staging = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(b, offset, staging, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/** How the test fills each input: gates as negative log-decays, beta in [0, 1), keys small. */
function recipe(name: string, K: number): { mul: number; add: number } {
  if (name === 'g') return { mul: -0.5, add: 0 };
  if (name === 'beta') return { mul: 1, add: 0 };
  if (name === 'k') return { mul: K >= 16 ? 0.5 : 1, add: -(K >= 16 ? 0.25 : 0.5) };
  return { mul: 2, add: -1 };
}

interface Tensors { gpu: Record<string, GPUBuffer>; host: Record<string, Float32Array> }

/** Buffers for every input of `def` at `size`, filled by the caller's kernel into `enc`. */
function inputs(enc: GPUCommandEncoder, def: VariantDef, size: ProblemSize, seed: number): Tensors {
  const out: Tensors = { gpu: {}, host: {} };
  def.inputs.forEach((d, i) => {
    const n = numel(inputShape(def, d, size));
    const { mul, add } = recipe(d.name, size.K);
    out.gpu[d.name] = buffer(n);
    fill(enc, { buffer: out.gpu[d.name]! }, n, seed * 16 + i, mul, add);
    out.host[d.name] = hostFill(n, seed * 16 + i, mul, add);
  });
  return out;
}

/** Records what lae does on the queue and to the given buffers while `fn` runs. */
async function watching<T>(watched: readonly GPUBuffer[], fn: () => Promise<T>): Promise<{ result: T; hostCopies: string[] }> {
  const hostCopies: string[] = [];
  const queue = device.queue;
  const { writeBuffer, submit } = queue;
  queue.writeBuffer = ((b: GPUBuffer, ...rest: unknown[]) => {
    if (watched.includes(b)) hostCopies.push(`writeBuffer(${b.label})`);
    return (writeBuffer as (...a: unknown[]) => void).call(queue, b, ...rest);
  }) as typeof queue.writeBuffer;
  queue.submit = ((cbs: GPUCommandBuffer[]) => {
    hostCopies.push('queue.submit');
    return submit.call(queue, cbs);
  }) as typeof queue.submit;
  const maps = watched.map((b) => b.mapAsync);
  watched.forEach((b, i) => {
    b.mapAsync = ((...a: unknown[]) => {
      hostCopies.push(`mapAsync(${b.label})`);
      return (maps[i] as (...x: unknown[]) => Promise<undefined>).apply(b, a);
    }) as typeof b.mapAsync;
  });
  try {
    return { result: await fn(), hostCopies };
  } finally {
    queue.writeBuffer = writeBuffer;
    queue.submit = submit;
    watched.forEach((b, i) => { b.mapAsync = maps[i]!; });
  }
}

beforeAll(async () => {
  device = await ownDevice();
  engine = await createEngine({ device, compactLoops: true });
  fillPipe = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: FILL_WGSL }), entryPoint: 'main' } });
  scalePipe = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SCALE_WGSL }), entryPoint: 'main' } });
});

afterAll(() => {
  engine?.destroy();
  device?.destroy();
});

// ---- the zero-copy path: forward then step in one encoder ---------------------------------------

// K = 16, V = 8, chunks of 16: the forward and backward plans of FLA's first fixture case
// (test/backward.test.ts), so lavapipe compiles them once per run.
const size = { B: 2, T: 40, H: 2, K: 16, V: 8 };
const opts = { ...size, chunkSize: 16 as const };

describe('forward and step recorded into the caller\'s encoder', () => {
  for (const name of ['gla', 'gated_delta_rule']) {
    it(`${name}: the caller's kernels fill and consume; lae makes no host copy of q, k, v, o`, async () => {
      const op = engine.variant(name);
      const { def } = op;
      const stateN = numel(stateShape(def, size));
      const oN = size.B * size.T * size.H * size.V;
      const stepSize = { ...size, T: 1 };
      const oN1 = size.B * size.H * size.V;
      const enc = device.createCommandEncoder();
      // Two rounds at the same size in one encoder: the second reuses lae's scratch.
      const rounds = [1, 2].map((seed) => ({
        x: inputs(enc, def, size, seed), tok: inputs(enc, def, stepSize, seed + 10),
        o: buffer(oN), state: buffer(stateN), o1: buffer(oN1), y: buffer(oN), y1: buffer(oN1),
      }));
      rounds.forEach((r, i) => { r.o.label = `o${i}`; Object.entries(r.x.gpu).forEach(([n, b]) => { b.label = `${n}${i}`; }); });
      const watched = rounds.flatMap((r) => [...Object.values(r.x.gpu), ...Object.values(r.tok.gpu), r.o, r.o1, r.state]);
      const { hostCopies } = await watching(watched, async () => {
        for (const r of rounds) {
          await op.encodeForward(enc, r.x.gpu, { o: r.o, ht: r.state }, opts);
          await op.encodeStep(enc, r.tok.gpu, r.state, { o: r.o1 }, { B: size.B, H: size.H, K: size.K, V: size.V });
          scale(enc, { buffer: r.o }, r.y, oN, 2);
          scale(enc, { buffer: r.o1 }, r.y1, oN1, 2);
        }
      });
      expect(hostCopies).toEqual([]);
      device.queue.submit([enc.finish()]);
      for (const r of rounds) {
        const want = referenceForward(def, r.x.host, size);
        const want1 = referenceForward(def, r.tok.host, stepSize, { h0: want.ht });
        expect(relL2(await read(r.y, oN), want.o.map((v) => 2 * v)), 'o * 2').toBeLessThan(TOL);
        expect(relL2(await read(r.y1, oN1), want1.o.map((v) => 2 * v)), 'step o * 2').toBeLessThan(TOL);
        expect(relL2(await read(r.state, stateN), want1.ht), 'state after the step').toBeLessThan(TOL);
      }
    });
  }
});

// ---- the backward into the caller's gradient buffers ---------------------------------------------

describe('backward recorded into the caller\'s encoder', () => {
  for (const name of ['gla', 'gated_delta_rule']) {
    it(`${name}: gradients written into the caller's buffers (filled with NaN first), dh0 included`, async () => {
      const op = engine.variant(name);
      const { def } = op;
      const stateN = numel(stateShape(def, size));
      const oN = size.B * size.T * size.H * size.V;
      const enc = device.createCommandEncoder();
      const x = inputs(enc, def, size, 5);
      const h0 = buffer(stateN);
      const dO = buffer(oN);
      const dht = buffer(stateN);
      fill(enc, { buffer: h0 }, stateN, 90, 1, -0.5);
      fill(enc, { buffer: dO }, oN, 91, 2, -1);
      fill(enc, { buffer: dht }, stateN, 92, 2, -1);
      const grads: Record<string, GPUBuffer> = {};
      for (const d of def.inputs) {
        const n = numel(inputShape(def, d, size));
        grads[`d${d.name}`] = buffer(n);
        fill(enc, { buffer: grads[`d${d.name}`]! }, n, 0, 0, Number.NaN);
      }
      grads.dh0 = buffer(stateN);
      fill(enc, { buffer: grads.dh0 }, stateN, 0, 0, Number.NaN);
      const { hostCopies } = await watching([...Object.values(x.gpu), h0, dO, dht, ...Object.values(grads)], () =>
        op.encodeBackward(enc, { ...x.gpu, h0 }, { do: dO, dht }, grads, opts));
      expect(hostCopies).toEqual([]);
      device.queue.submit([enc.finish()]);
      const hostH0 = hostFill(stateN, 90, 1, -0.5);
      const want = referenceBackward(def, x.host, size, { do: hostFill(oN, 91, 2, -1), dht: hostFill(stateN, 92, 2, -1) }, { h0: hostH0 });
      for (const [g, b] of Object.entries(grads)) {
        const n = g === 'dh0' ? stateN : numel(inputShape(def, def.inputs.find((d) => `d${d.name}` === g)!, size));
        expect(relL2(await read(b, n), want[g]!), g).toBeLessThan(TOL);
      }
    });
  }
});

// ---- bindings at offsets, and refusals ------------------------------------------------------------

describe('bindings', () => {
  it('takes q, k, v, g from ranges of one arena buffer and writes o and ht at offsets of another', async () => {
    const op = engine.variant('gla');
    const { def } = op;
    const align = device.limits.minStorageBufferOffsetAlignment;
    const at = (bytes: number) => Math.ceil(bytes / align) * align;
    const sizes = def.inputs.map((d) => numel(inputShape(def, d, size)) * 4);
    const offsets: number[] = [];
    let end = align; // nothing at offset 0: every tensor sits at a non-zero offset
    for (const s of sizes) { offsets.push(end); end = at(end + s); }
    const arena = device.createBuffer({ size: end, usage: STORAGE() });
    const oN = size.B * size.T * size.H * size.V;
    const stateN = numel(stateShape(def, size));
    const outArena = device.createBuffer({ size: at(align + oN * 4) + stateN * 4 + 64, usage: STORAGE() });
    const oAt = align;
    const htAt = at(align + oN * 4);
    const enc = device.createCommandEncoder();
    const host: Record<string, Float32Array> = {};
    const bindings: Record<string, Range> = {};
    def.inputs.forEach((d, i) => {
      const { mul, add } = recipe(d.name, size.K);
      bindings[d.name] = { buffer: arena, offset: offsets[i]!, size: sizes[i]! };
      fill(enc, bindings[d.name]!, sizes[i]! / 4, 40 + i, mul, add);
      host[d.name] = hostFill(sizes[i]! / 4, 40 + i, mul, add);
    });
    await op.encodeForward(enc, bindings, { o: { buffer: outArena, offset: oAt, size: oN * 4 }, ht: { buffer: outArena, offset: htAt } }, opts);
    device.queue.submit([enc.finish()]);
    const want = referenceForward(def, host, size);
    expect(relL2(await read(outArena, oN, oAt), want.o)).toBeLessThan(TOL);
    expect(relL2(await read(outArena, stateN, htAt), want.ht)).toBeLessThan(TOL);
  });

  it('refuses each bad binding, naming the tensor and what to do', async () => {
    const op: VariantOp = engine.variant('gated_delta_rule');
    const { def } = op;
    const enc = device.createCommandEncoder();
    const x = inputs(enc, def, size, 7);
    const oN = size.B * size.T * size.H * size.V;
    const stateN = numel(stateShape(def, size));
    const o = buffer(oN);
    const fwd = (inp: Record<string, unknown>, out: Record<string, unknown> = { o }, o2: Record<string, unknown> = opts) =>
      op.encodeForward(enc, inp as never, out as never, o2 as never);
    const qBytes = numel(inputShape(def, def.inputs[0]!, size)) * 4;
    const big = buffer(qBytes / 4 + 256);

    await expect(fwd({ ...x.gpu, q: { buffer: big, offset: 100 } })).rejects.toThrow(
      /input 'q': offset 100 is not a multiple of this device's minStorageBufferOffsetAlignment \(256\), so the tensor cannot be bound where it is.*lae does not copy silently/);
    await expect(fwd({ ...x.gpu, q: buffer(qBytes / 4 - 1) })).rejects.toThrow(/input 'q': the binding has \d+ bytes; the tensor needs \d+: give a larger buffer or range/);
    await expect(fwd({ ...x.gpu, q: { buffer: big, offset: 256, size: qBytes + 1024 } })).rejects.toThrow(/input 'q': offset 256 \+ size \d+ = \d+ bytes is past the end of its \d+-byte buffer/);
    await expect(fwd({ ...x.gpu, q: { buffer: big, size: qBytes + 2 } })).rejects.toThrow(/input 'q': size \d+ is not a multiple of 4 bytes/);
    const noStorage = device.createBuffer({ size: qBytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    await expect(fwd({ ...x.gpu, k: noStorage })).rejects.toThrow(/input 'k': its buffer lacks the usage GPUBufferUsage.STORAGE, which lae needs to bind it; create it with usage including GPUBufferUsage.STORAGE/);
    await expect(fwd({ ...x.gpu, v: new Float32Array(oN) })).rejects.toThrow(/input 'v' must be a GPUBuffer or a binding \{ buffer, offset\?, size\? \} on the engine's device, got a Float32Array \(host memory\)/);
    const { beta: _b, ...noBeta } = x.gpu;
    await expect(fwd(noBeta)).rejects.toThrow(/missing input 'beta' \[2,40,2\]: inputs needs it/);
    await expect(fwd({ ...x.gpu, z: o })).rejects.toThrow(/unknown input 'z'; inputs takes q\[2,40,2,16\], k.*h0/);
    await expect(fwd(x.gpu, { o: buffer(oN - 4) })).rejects.toThrow(/output 'o': the binding has \d+ bytes; the tensor needs 5120/);
    await expect(fwd(x.gpu, { o, ht: buffer(stateN / 2) })).rejects.toThrow(/output 'ht': the binding has \d+ bytes; the tensor needs 2048/);
    await expect(fwd(x.gpu, {})).rejects.toThrow(/missing output 'o'/);
    await expect(fwd(x.gpu, { o }, { ...opts, checkFinite: true })).rejects.toThrow(/'checkFinite' needs host copies of the tensors.*use op.forward with host arrays/);
    await expect(fwd(x.gpu, { o }, { ...opts, outputFinalState: true })).rejects.toThrow(/give outputs.ht/);
    await expect(op.encodeForward({} as GPUCommandEncoder, x.gpu, { o }, opts)).rejects.toThrow(/encodeForward records into a GPUCommandEncoder/);

    // A buffer of another device: named, not Dawn's message.
    const other = await (await gpu.requestAdapter())!.requestDevice();
    const foreign = other.createBuffer({ size: qBytes, usage: STORAGE() });
    await expect(fwd({ ...x.gpu, q: foreign })).rejects.toThrow(/input 'q': its GPUBuffer was created on another GPUDevice; lae binds buffers of the engine's device only/);
    other.destroy();

    // o and q in one buffer: the output kernel would write o while reading q.
    const shared = device.createBuffer({ size: 2 * 4096 + oN * 4, usage: STORAGE() });
    await expect(fwd({ ...x.gpu, q: { buffer: shared, offset: 0, size: qBytes } }, { o: { buffer: shared, offset: 4096 * 2, size: oN * 4 } }))
      .rejects.toThrow(/output 'o' and input 'q' are in one GPUBuffer, and kernel \S+ writes output 'o' while it reads input 'q'.*give output 'o' a buffer of its own/);

    // The step: the state's size, a pool's slots, the state given as an input.
    const tok = inputs(enc, def, { ...size, T: 1 }, 8);
    const o1 = buffer(size.B * size.H * size.V);
    const step = { B: size.B, H: size.H, K: size.K, V: size.V };
    await expect(op.encodeStep(enc, tok.gpu, buffer(stateN - 4), { o: o1 }, step)).rejects.toThrow(/state \[2,2,16,8\]: the binding has \d+ bytes; the tensor needs 2048/);
    await expect(op.encodeStep(enc, tok.gpu, buffer(stateN), { o: o1 }, { ...step, stateIndices: [0, 2] })).rejects.toThrow(/stateIndices\[1\] = 2 is outside the pool's 2 slots/);
    await expect(op.encodeStep(enc, { ...tok.gpu, h0: o1 }, buffer(stateN), { o: o1 }, step)).rejects.toThrow(/state as its own argument/);
    await expect(op.encodeStep(enc, tok.gpu, buffer(stateN), { o: o1 }, { ...step, T: 1 } as never)).rejects.toThrow(/encodeStep takes N/);

    // The backward: dh0 without h0, a seed among the gradients.
    const dO = buffer(oN);
    await expect(op.encodeBackward(enc, x.gpu, { do: dO }, { dh0: buffer(stateN) }, opts)).rejects.toThrow(/gradient 'dh0' is given, but inputs have no h0/);
    await expect(op.encodeBackward(enc, x.gpu, { do: dO }, { do: dO }, opts)).rejects.toThrow(/unknown grad 'do': 'do' is a seed/);
    await expect(op.encodeBackward(enc, x.gpu, {} as never, {}, opts)).rejects.toThrow(/missing seed 'do'/);
    enc.finish();
  });
});
