// 16-bit storage: bf16/f16 inputs (raw bits or floats) and o, packed two per u32 word on the GPU,
// compute in f32. Checked against the float64 reference run on the same 16-bit-rounded inputs:
// forward, backward and step, for every variant (bf16) and two of them in f16.
import { describe, expect, it } from 'vitest';
import { VARIANT_NAMES, VARIANTS, type VariantName } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, roundTo, toBits, type StorageDtype } from '../runtime/dtypes.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { sweep } from './helpers/tier.js';

describe('bf16 / f16 conversions', () => {
  it('round to nearest even and decode exactly', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // a tie rounds to the even mantissa
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(Number.NaN)))).toBe(true);
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(70000)).toBe(0x7c00);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f32ToF16Bits(2 ** -24)).toBe(1);
    const r = rng(3);
    for (let i = 0; i < 1000; i++) {
      const x = r.normal() * 10;
      expect(Math.abs(bf16BitsToF32(f32ToBf16Bits(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8);
      expect(Math.abs(f16BitsToF32(f32ToF16Bits(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
    }
  });
});

const size = { B: 1, T: 37, H: 2, K: 16, V: 7 }; // odd V: o's rows pack with a padding half

async function check(name: (typeof VARIANT_NAMES)[number], dtype: 'bf16' | 'f16') {
  const engine = await getEngine();
  const def = VARIANTS[name];
  const op = engine.variant(name);
  const raw = sampleInputs(def, size, 3, true);
  const dtypes: Record<string, StorageDtype> = { o: dtype };
  const inputs: Record<string, Float32Array | Uint16Array> = { h0: raw.h0! };
  const rounded: Record<string, Float32Array> = {};
  def.inputs.forEach((d, i) => {
    dtypes[d.name] = dtype;
    // Every other input as raw bits, the rest as floats rounded on upload.
    inputs[d.name] = i % 2 ? toBits(raw[d.name]!, dtype) : raw[d.name]!;
    rounded[d.name] = roundTo(raw[d.name]!, dtype);
  });
  const opts = { ...size, chunkSize: 16 as const, dtypes };
  const got = await op.forward(inputs, { ...opts, poisonOutputs: true });
  const ref = referenceForward(def, rounded, size, { h0: raw.h0 });
  expect(relL2(got.o, ref.o), 'o').toBeLessThan(2e-3);
  expect(relL2(got.ht!, ref.ht), 'ht').toBeLessThan(1e-4);
  expect(Array.from(got.oBits!)).toEqual(Array.from(toBits(got.o, dtype)));
  // o rounded once: the same as rounding the float64 reference, but for ties and near-ties.
  expect(relL2(got.o, roundTo(ref.o, dtype))).toBeLessThan(1e-3);

  const r = rng(4);
  const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
  const grads = await op.backward(inputs, { do: dO }, { ...opts, poisonOutputs: true });
  const want = referenceBackward(def, rounded, size, { do: dO }, { h0: raw.h0 });
  for (const k of Object.keys(want)) expect(relL2(grads[k]!, want[k]!), k).toBeLessThan(5e-3);

  // Two decode steps from h0 with 16-bit token inputs.
  const tokens = Object.fromEntries(def.inputs.map((d) => {
    const a = inputs[d.name]!;
    return [d.name, d.dims.includes('T') ? a.slice(0, 2 * a.length / size.T) : a];
  }));
  const state = raw.h0!.slice();
  const step = await op.step(tokens, state, { B: 1, H: size.H, K: size.K, V: size.V, N: 2, dtypes });
  const first2 = Object.fromEntries(def.inputs.map((d) => {
    const a = rounded[d.name]!;
    return [d.name, d.dims.includes('T') ? a.slice(0, 2 * a.length / size.T) : a];
  }));
  const ref2 = referenceForward(def, first2, { ...size, T: 2 }, { h0: raw.h0 });
  // Only 28 values: bf16's rounding alone can exceed 2e-3 there, so compare with the reference's
  // own rounding to the stored dtype (what a kernel without error would return).
  expect(relL2(step.o, roundTo(ref2.o, dtype)), 'step o').toBeLessThan(1e-3);
  expect(relL2(state, ref2.ht), 'step state').toBeLessThan(1e-4);
}

// 16-bit storage changes only the loads and o's store, so the fast tier takes variants whose
// inputs between them have every shape and role: per-key gates (gla), beta and a scalar gate
// (gated_delta_rule), mamba2's dt, A and D (mamba2_ssd), the bonus u (rwkv6).
// Each compiles its own plans; the full tier runs the other five too.
const BF16_FAST: readonly VariantName[] = ['gla', 'gated_delta_rule', 'mamba2_ssd', 'rwkv6'];
describe.each(sweep(BF16_FAST, VARIANT_NAMES.filter((n) => !BF16_FAST.includes(n))))('%s with bf16 storage', (name) => {
  it('forward, backward and step vs the float64 reference on bf16-rounded inputs', () => check(name, 'bf16'));
});

// f16 differs from bf16 only in the conversion: one variant in the fast tier.
describe.each(sweep(['gated_delta_rule'] as const, ['gla'] as const))('%s with f16 storage', (name) => {
  it('forward, backward and step vs the float64 reference on f16-rounded inputs', () => check(name, 'f16'));
});

describe('dtype errors', () => {
  it('a Uint16Array without a dtype, an unknown tensor or dtype, and a 16-bit h0 are refused', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const raw = sampleInputs(op.def, size, 3, true);
    const s = { ...size, chunkSize: 16 as const };
    await expect(op.forward({ ...raw, q: toBits(raw.q!, 'bf16') }, s)).rejects.toThrow(/input 'q' is a Uint16Array .* dtypes: \{ q: 'bf16' \}/);
    await expect(op.forward(raw, { ...s, dtypes: { x: 'bf16' } })).rejects.toThrow(/dtypes.x: 'x' is not a tensor of 'gla'/);
    await expect(op.forward(raw, { ...s, dtypes: { q: 'fp8' as never } })).rejects.toThrow(/dtypes.q must be one of f32, bf16, f16/);
    await expect(op.forward({ ...raw, h0: toBits(raw.h0!, 'bf16') as never }, s)).rejects.toThrow(/h0 must be float32/);
  });
});
