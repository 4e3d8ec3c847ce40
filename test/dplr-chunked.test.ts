// The generalized delta rule's chunked forward (RWKV-7, FLA's chunk_dplr_delta_rule) on the
// tensor-core tier's portable lowering: the same tiles, anchored scores, inverse, WY factors,
// scan and output as on the tensor cores, in plain WGSL on lavapipe. Against the float64
// reference within the tier's bound (operands rounded to f16, sums f32), outputs poisoned first;
// packed sequences against each sequence's reference run alone. The token-sequential forward
// stays the f32 tier's and the backward's (test/dplr.test.ts).
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { inputShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { planForward } from '../codegen/index.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine, getTensorCoreEngine } from './helpers/engine.js';
import { createEngine } from '../runtime/engine.js';
import { DEVICE_LIMITS } from '../runtime/device.js';
import { FULL } from './helpers/tier.js';

const TOL = 3e-3;
const { rwkv7, dplr_delta_rule } = TOKEN_SEQUENTIAL_VARIANTS;

let gpu: GPU | undefined;

describe('the generalized delta rule, chunked on the tensor-core tier (portable lowering)', () => {
  it('rwkv7: the chunked plan is the default forward on the tier', async () => {
    const op = (await getTensorCoreEngine()).variant('rwkv7');
    expect(op.inferenceMode).toBe('chunked');
    const plan = op.plan({ K: 48, V: 40, chunkSize: 64 });
    expect(plan.mode).toBe('chunked');
    expect(plan.kernels.map((k) => k.stage)).toEqual(['prep', 'chunkState', 'inverse', 'wyFactors', 'deltaScan', 'output']);
  });

  // Chunk 64 at K and V padded to whole fragments, several chunks, the last partial. The fast
  // tier runs chunk 64 on FLA's rwkv7 fixture (test/dplr-fixtures.test.ts: T = 37, V = 8 padded).
  if (FULL) it('rwkv7 C=64 (B,T,H,K,V)=(1,150,2,48,40) with h0: o and ht', async () => {
    const op = (await getTensorCoreEngine()).variant('rwkv7');
    const size: ProblemSize = { B: 1, T: 150, H: 2, K: 48, V: 40 };
    const inputs = sampleInputs(rwkv7, size, 21, true);
    const want = referenceForward(rwkv7, inputs, size, { h0: inputs.h0 });
    const got = await op.forward(inputs, { ...size, chunkSize: 64, poisonOutputs: true });
    expect(relL2(got.o, want.o), 'o').toBeLessThan(TOL);
    expect(relL2(got.ht!, want.ht), 'ht').toBeLessThan(TOL);
  });

  it('dplr_delta_rule C=16 on packed sequences, K = 18 (scalar staging), another scale: each sequence as if alone', async () => {
    const lens = [5, 16, 0, 40, 9];
    const cu = Int32Array.from(lens.reduce((acc, n) => [...acc, acc[acc.length - 1]! + n], [0]));
    const S = lens.length;
    const T = cu[S]!;
    const H = 1, K = 18, V = 10;
    const packed: ProblemSize = { B: 1, T, H, K, V, S };
    const def = dplr_delta_rule;
    const inputs = sampleInputs(def, packed, 23, true);
    const op = (await getTensorCoreEngine()).variant(def.name);
    const got = await op.forward(inputs, { B: 1, T, H, K, V, cuSeqlens: cu, chunkSize: 16, scale: 0.4, poisonOutputs: true });
    const state = H * K * V;
    for (let s = 0; s < S; s++) {
      const [t0, t1] = [cu[s]!, cu[s + 1]!];
      const alone = sliceTokens(def, inputs, packed, t0, t1);
      const size: ProblemSize = { B: 1, T: t1 - t0, H, K, V };
      const h0 = inputs.h0!.slice(s * state, (s + 1) * state);
      const want = referenceForward(def, alone, size, { h0, scale: 0.4 });
      expect(relL2(got.ht!.slice(s * state, (s + 1) * state), want.ht), `ht of sequence ${s}`).toBeLessThan(TOL);
      if (t1 > t0) expect(relL2(got.o.slice(t0 * H * V, t1 * H * V), want.o), `o of sequence ${s}`).toBeLessThan(TOL);
    }
  });

  // The scores' other place (the tuning knob kept for timing both on a GPU); plan-check covers its bindings in the fast tier.
  if (FULL) it("tuning.outputScores 'output': the output stage's own scores (the prep's left out) give the same o and ht", async () => {
    const size: ProblemSize = { B: 1, T: 80, H: 1, K: 32, V: 16 };
    const inputs = sampleInputs(rwkv7, size, 29, true);
    const want = referenceForward(rwkv7, inputs, size, { h0: inputs.h0 });
    const opts = { ...size, chunkSize: 64 as const, poisonOutputs: true };
    const prep = await (await getTensorCoreEngine()).variant('rwkv7').forward(inputs, opts);
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: 'off', tuning: { outputScores: 'output' } });
    try {
      const op = engine.variant('rwkv7');
      expect(op.plan({ K: 32, V: 16, chunkSize: 64 }).kernels.find((k) => k.stage === 'output')!.bindings.some((b) => b.buffer === 'aqk16')).toBe(false);
      const got = await op.forward(inputs, opts);
      expect(relL2(got.o, want.o), 'o').toBeLessThan(TOL);
      expect(relL2(got.ht!, want.ht), 'ht').toBeLessThan(TOL);
      // The same products in the same order, rounded to f16 at the same points.
      expect(relL2(got.o, prep.o), 'o against the prep\'s scores').toBeLessThan(1e-5);
    } finally {
      engine.destroy();
    }
  });

  it('on a device granting the tier but fewer storage buffers than the chunked prep binds (10 < 11), the default stays token by token', async () => {
    const mod = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    // The GPU object is kept for the test's length: Dawn's instance must outlive its devices.
    gpu = mod.create([]);
    const adapter = (await gpu.requestAdapter())!;
    const requiredLimits = Object.fromEntries(DEVICE_LIMITS.map((k) => [k, adapter.limits[k]]));
    const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16'], requiredLimits: { ...requiredLimits, maxStorageBuffersPerShaderStage: 10 } });
    const engine = await createEngine({ device, tensorCores: 'portable', tuningCache: 'off' });
    try {
      expect(engine.tier).toBe('portable');
      const op = engine.variant('rwkv7');
      expect(op.inferenceMode).toBe('recurrent');
      const size: ProblemSize = { B: 1, T: 20, H: 1, K: 8, V: 8 };
      const inputs = sampleInputs(rwkv7, size, 27, false);
      const got = await op.forward(inputs, size);
      expect(relL2(got.o, referenceForward(rwkv7, inputs, size).o)).toBeLessThan(1e-5);
    } finally {
      engine.destroy();
      device.destroy();
    }
  });

  it("on the f32 tier the chunked form is refused by name, and saveForBackward keeps the token-sequential forward", async () => {
    const size: ProblemSize = { B: 1, T: 20, H: 1, K: 8, V: 8 };
    const inputs = sampleInputs(rwkv7, size, 25, false);
    const f32 = (await getEngine()).variant('rwkv7');
    expect(f32.inferenceMode).toBe('recurrent');
    await expect(f32.forward(inputs, { ...size, mode: 'chunked' })).rejects.toThrow(/tensor-core tier only/);
    expect(() => planForward(rwkv7, { K: 8, V: 8, chunk: 16 })).toThrow(/tensor-core tier only/);
    // On the tier, a forward kept for the backward is the token-sequential one (the backward
    // follows it), and a chunked one with saveForBackward is refused.
    const tc = (await getTensorCoreEngine()).variant('rwkv7');
    await expect(tc.forward(inputs, { ...size, mode: 'chunked', saveForBackward: true })).rejects.toThrow(/saveForBackward needs mode 'recurrent'/);
    const kept = await tc.forward(inputs, { ...size, saveForBackward: true });
    const want = referenceForward(rwkv7, inputs, size);
    expect(relL2(kept.o, want.o)).toBeLessThan(1e-5);
    kept.saved?.destroy();
  });
});

/** Tokens [t0, t1) of every time-major input of a packed (B = 1) run. */
function sliceTokens(def: VariantDef, inputs: Record<string, Float32Array | Float64Array | undefined>, packed: ProblemSize, t0: number, t1: number) {
  const out: Record<string, Float32Array> = {};
  for (const d of def.inputs) {
    const shape = inputShape(def, d, packed);
    const row = shape.slice(d.dims.indexOf('T') + 1).reduce((p, x) => p * x, 1);
    out[d.name] = Float32Array.from(inputs[d.name]!.slice(t0 * row, t1 * row));
  }
  return out;
}
