// Bad input gets a clear error naming the tensor, field or limit; nothing runs on a wrong shape.
import { describe, expect, it } from 'vitest';
import { defineVariant, SpecError, type VariantSpec } from '../dsl/index.js';
import { VARIANTS } from '../variants/index.js';
import { sampleInputs } from '../runtime/sample.js';
import { getEngine } from './helpers/engine.js';

const size = { B: 1, T: 10, H: 2, K: 8, V: 8 };

describe('host API input errors', () => {
  it('an unknown variant lists the known ones', async () => {
    const engine = await getEngine();
    expect(() => engine.variant('glaa')).toThrow(/unknown variant 'glaa'.*linear_attn, simple_gla, retention, gla, delta_rule/);
  });
  it('a missing tensor is named with its shape', async () => {
    const op = (await getEngine()).variant('gla');
    const { g: _g, ...inputs } = sampleInputs(op.def, size);
    await expect(op.forward(inputs, size)).rejects.toThrow(/missing input 'g' \[1,10,2,8\]/);
  });
  it('a wrong length names the tensor, its expected shape and what came', async () => {
    const op = (await getEngine()).variant('delta_rule');
    const inputs = sampleInputs(op.def, size);
    inputs.beta = new Float32Array(19);
    await expect(op.forward(inputs, size)).rejects.toThrow(/input 'beta' has 19 elements; expected shape \[1,10,2\] = 20/);
  });
  it('a wrong h0 length uses the variant state layout in the message', async () => {
    const op = (await getEngine()).variant('mamba2_ssd');
    const inputs = sampleInputs(op.def, { ...size, V: 4 });
    inputs.h0 = new Float32Array(3);
    await expect(op.forward(inputs, { ...size, V: 4 })).rejects.toThrow(/input 'h0' has 3 elements; expected shape \[1,2,4,8\]/);
  });
  it('an unknown tensor name is refused, not ignored', async () => {
    const op = (await getEngine()).variant('linear_attn');
    const inputs = { ...sampleInputs(op.def, size), gate: new Float32Array(20) };
    await expect(op.forward(inputs, size)).rejects.toThrow(/unknown input 'gate'/);
  });
  it('a non-float array is refused', async () => {
    const op = (await getEngine()).variant('linear_attn');
    const inputs = { ...sampleInputs(op.def, size), q: new Int32Array(160) as unknown as Float32Array };
    await expect(op.forward(inputs, size)).rejects.toThrow(/input 'q' must be a Float32Array/);
  });
  it('bad sizes and head dims past the kernel limit are named', async () => {
    const op = (await getEngine()).variant('linear_attn');
    const inputs = sampleInputs(op.def, size);
    await expect(op.forward(inputs, { ...size, T: 0 })).rejects.toThrow(/option T must be a positive integer/);
    await expect(op.forward(inputs, { ...size, T: 2.5 })).rejects.toThrow(/option T must be a positive integer/);
    const big = { ...size, T: 1, K: 300 };
    await expect(op.forward(sampleInputs(op.def, big), big)).rejects.toThrow(/K = 300 exceeds the largest head dim the kernels support \(256\)/);
  });
  it('an unsupported chunk size is refused', async () => {
    const op = (await getEngine()).variant('linear_attn');
    await expect(op.forward(sampleInputs(op.def, size), { ...size, chunkSize: 48 as 64 })).rejects.toThrow(/chunkSize 48 is not supported; use one of 16, 32, 64/);
  });
  it('a tensor past the device binding limit is refused with the limit named', async () => {
    const engine = await getEngine();
    const op = engine.variant('linear_attn');
    const limit = engine.limits.maxStorageBufferBindingSize;
    // T large enough that q alone exceeds the limit; the check runs before any upload.
    const T = Math.ceil(limit / (4 * 256)) + 1;
    const huge = { B: 1, T, H: 1, K: 256, V: 1 };
    const q = new Float32Array(T * 256);
    const inputs = { q, k: q, v: new Float32Array(T) };
    await expect(op.forward(inputs, huge)).rejects.toThrow(new RegExp(`tensor 'q' needs \\d+ bytes, past this device's maxStorageBufferBindingSize of ${limit}`));
  });
  it('the pipeline cache compiles once per config and reuses it', async () => {
    const engine = await getEngine();
    const op = engine.variant('retention');
    const key = op.plan({ K: 8, V: 8, chunkSize: 16 }).key;
    await op.forward(sampleInputs(op.def, size), { ...size, chunkSize: 16 });
    expect(engine.pipelines.has(key)).toBe(true);
    const n = engine.pipelines.size;
    await op.forward(sampleInputs(op.def, { ...size, T: 33, B: 2 }), { ...size, T: 33, B: 2, chunkSize: 16 });
    expect(engine.pipelines.size).toBe(n);
  });
});

describe('spec validation', () => {
  const base = VARIANTS.gla;
  const spec = (over: Record<string, unknown>) => ({
    name: 'x', inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
    q: ({ q }: any) => q, k: ({ k }: any) => k, v: ({ v }: any) => v,
    decay: 'diagonal', logDecay: ({ g }: any) => g, correction: 'none', ...over,
  }) as unknown as VariantSpec;
  it('accepts a valid spec and hashes it stably', () => {
    expect(defineVariant(spec({})).hash).toBe(defineVariant(spec({})).hash);
    expect(base.hash).toMatch(/^[0-9a-f]{16}$/);
  });
  it('names the field and lists what is allowed', () => {
    expect(() => defineVariant(spec({ decay: 'bogus' }))).toThrow(SpecError);
    expect(() => defineVariant(spec({ decay: 'bogus' }))).toThrow(/field 'decay': got "bogus"; allowed: 'none' \| 'scalar' \| 'fixed' \| 'diagonal'/);
    expect(() => defineVariant(spec({ correction: 'delta' }))).toThrow(/field 'beta': is required when correction is 'delta'/);
    expect(() => defineVariant(spec({ decay: 'none' }))).toThrow(/field 'logDecay': must not be given when decay is 'none'/);
    expect(() => defineVariant(spec({ Name: 'y' }))).toThrow(/field 'Name': unknown field/);
    expect(() => defineVariant(spec({ name: 'Bad Name' }))).toThrow(/field 'name'/);
  });
  it('rejects an input read outside its role index space', () => {
    // A per-key gate where the decay is scalar: g has a K axis the scalar decay does not.
    expect(() => defineVariant(spec({ decay: 'scalar' }))).toThrow(/field 'logDecay': reads input 'g' \[B,T,H,K\], whose axis K is not in this role's index space \[B,T,H\]/);
    expect(() => defineVariant(spec({ v: ({ q }: any) => q }))).toThrow(/field 'v': reads input 'q'.*axis K/);
  });
  it('rejects bad input declarations and unused inputs', () => {
    expect(() => defineVariant(spec({ inputs: { q: ['T', 'B'] } }))).toThrow(/inputs.q.*order B, T, H, K, V/);
    expect(() => defineVariant(spec({ inputs: { ...(spec({}) as any).inputs, z: ['B', 'T', 'H'] } }))).toThrow(/inputs.z.*no role/);
    expect(() => defineVariant(spec({ inputs: { ...(spec({}) as any).inputs, h0: ['H'] } }))).toThrow(/inputs.h0/);
  });
});
