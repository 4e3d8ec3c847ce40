// The generalized delta rule (FLA's DPLR; RWKV-7) on the GPU: the token-sequential forward, the
// decode step and the backward against the float64 reference, on random inputs built as FLA's
// tests build them (runtime/sample.ts), outputs poisoned with NaN first.
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_NAMES, TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { defineVariant, shapeOf, sigmoid, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { sampleInputs, seededRandom } from '../runtime/sample.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

/** Tokens [t0, t1) of every time-major input, as inputs shaped [B, t1 - t0, H, ...]. */
function sliceT(def: VariantDef, inputs: Record<string, Float32Array>, size: ProblemSize, t0: number, t1: number) {
  const out: Record<string, Float32Array> = {};
  for (const d of def.inputs) {
    const shape = shapeOf(d.dims, size);
    const ti = d.dims.indexOf('T');
    const outer = shape.slice(0, ti).reduce((a, b) => a * b, 1);
    const inner = shape.slice(ti + 1).reduce((a, b) => a * b, 1);
    const part = new Float32Array(outer * (t1 - t0) * inner);
    for (let o = 0; o < outer; o++) part.set(inputs[d.name]!.subarray((o * size.T + t0) * inner, (o * size.T + t1) * inner), o * (t1 - t0) * inner);
    out[d.name] = part;
  }
  return out;
}

/** The generalized delta rule's built-in specs. */
const DPLR_NAMES = TOKEN_SEQUENTIAL_NAMES.filter((n) => TOKEN_SEQUENTIAL_VARIANTS[n].correction === 'dplr');

const SIZES: ProblemSize[] = [{ B: 2, T: 9, H: 2, K: 8, V: 6 }, { B: 1, T: 70, H: 2, K: 64, V: 32 }];

describe.each(DPLR_NAMES)('%s', (name) => {
  const def = TOKEN_SEQUENTIAL_VARIANTS[name];
  for (const size of SIZES) {
    it(`forward (token-sequential, the default) matches the float64 reference at ${JSON.stringify(size)}`, async () => {
      const op = (await getEngine()).variant(name);
      const inputs = sampleInputs(def, size, 7, true);
      const want = referenceForward(def, inputs, size, { h0: inputs.h0 });
      const got = await op.forward(inputs, { ...size, poisonOutputs: true });
      expect(relL2(got.o, want.o)).toBeLessThan(1e-5);
      expect(relL2(got.ht!, want.ht)).toBeLessThan(1e-5);
      // Without h0, and with another scale.
      const { h0: _h0, ...noH0 } = inputs;
      const want2 = referenceForward(def, noH0, size, { scale: 0.3 });
      const got2 = await op.forward(noH0, { ...size, scale: 0.3, poisonOutputs: true });
      expect(relL2(got2.o, want2.o)).toBeLessThan(1e-5);
      expect(relL2(got2.ht!, want2.ht)).toBeLessThan(1e-5);
    });
  }

  it('step: token by token, and 4 + 5 tokens at once, reproduce the reference', async () => {
    const op = (await getEngine()).variant(name);
    const size = SIZES[0]!;
    const inputs = sampleInputs(def, size, 21, true);
    const want = referenceForward(def, inputs, size, { h0: inputs.h0 });
    for (const chunks of [[1, 1, 1, 1, 1, 1, 1, 1, 1], [4, 5]]) {
      const state = Float32Array.from(inputs.h0!);
      const o = new Float32Array(want.o.length).fill(Number.NaN);
      let t0 = 0;
      for (const n of chunks) {
        const res = await op.step(sliceT(def, inputs, size, t0, t0 + n), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: n });
        const row = size.H * size.V;
        for (let b = 0; b < size.B; b++) o.set(res.o.subarray(b * n * row, (b + 1) * n * row), (b * size.T + t0) * row);
        t0 += n;
      }
      expect(relL2(o, want.o)).toBeLessThan(1e-5);
      expect(relL2(state, want.ht)).toBeLessThan(1e-5);
    }
  });

  it("mode 'chunked' is refused on the f32 tier, naming the variant, the tier that has it and the mode that runs", async () => {
    const op = (await getEngine()).variant(name);
    const size = SIZES[0]!;
    await expect(op.forward(sampleInputs(def, size, 1, false), { ...size, mode: 'chunked' })).rejects.toThrow(new RegExp(`'${name}'.*tensor-core tier only.*'recurrent'`));
  });
});

describe('packed sequences (cuSeqlens)', () => {
  it('rwkv7: each sequence runs from its own h0 row', async () => {
    const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv7;
    const op = (await getEngine()).variant('rwkv7');
    const cu = [0, 5, 5, 17];
    const size = { B: 1, T: 17, H: 2, K: 8, V: 4 };
    const inputs = sampleInputs(def, size, 3, false);
    const r = seededRandom(9);
    const h0 = Float32Array.from({ length: 3 * size.H * size.K * size.V }, () => r.normal());
    const got = await op.forward({ ...inputs, h0 }, { ...size, cuSeqlens: Int32Array.from(cu), poisonOutputs: true });
    const o = new Float32Array(got.o.length), ht = new Float32Array(h0.length);
    for (let s = 0; s < 3; s++) {
      const n = cu[s + 1]! - cu[s]!;
      const per = size.H * size.K * size.V;
      const rowH0 = h0.subarray(s * per, (s + 1) * per);
      if (n === 0) { ht.set(rowH0, s * per); continue; }
      const part = sliceT(def, inputs, size, cu[s]!, cu[s + 1]!);
      const ref = referenceForward(def, part, { ...size, T: n }, { h0: rowH0 });
      o.set(ref.o, cu[s]! * size.H * size.V);
      ht.set(ref.ht, s * per);
    }
    expect(relL2(got.o, o)).toBeLessThan(1e-5);
    expect(relL2(got.ht!, ht)).toBeLessThan(1e-5);
    // The backward, sequence by sequence.
    const r2 = seededRandom(4);
    const dO = Float32Array.from({ length: got.o.length }, () => r2.normal());
    const dht = Float32Array.from({ length: h0.length }, () => r2.normal());
    const grads = await op.backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, cuSeqlens: Int32Array.from(cu), poisonOutputs: true });
    const per = size.H * size.K * size.V;
    const want: Record<string, Float64Array> = Object.fromEntries([...def.inputs.map((d) => [`d${d.name}`, new Float64Array(inputs[d.name]!.length)]), ['dh0', new Float64Array(h0.length)]]);
    for (let s = 0; s < 3; s++) {
      const n = cu[s + 1]! - cu[s]!;
      if (n === 0) { want.dh0!.set(dht.subarray(s * per, (s + 1) * per), s * per); continue; }
      const part = sliceT(def, inputs, size, cu[s]!, cu[s + 1]!);
      const seeds = { do: dO.subarray(cu[s]! * size.H * size.V, cu[s + 1]! * size.H * size.V), dht: dht.subarray(s * per, (s + 1) * per) };
      const g = referenceBackward(def, part, { ...size, T: n }, seeds, { h0: h0.subarray(s * per, (s + 1) * per) });
      for (const d of def.inputs) want[`d${d.name}`]!.set(g[`d${d.name}`]!, cu[s]! * size.H * (d.dims.includes('V') ? size.V : size.K));
      want.dh0!.set(g.dh0!, s * per);
    }
    for (const [name, w] of Object.entries(want)) expect(relL2(grads[name]!, w), name).toBeLessThan(1e-4);
  });
});

describe.each(DPLR_NAMES)('%s backward', (name) => {
  const def = TOKEN_SEQUENTIAL_VARIANTS[name];
  // The larger size for rwkv7 only: lavapipe's compile time per config dominates the suite's.
  for (const size of name === 'rwkv7' ? SIZES : SIZES.slice(0, 1)) {
    it(`matches the float64 reference backward at ${JSON.stringify(size)}`, async () => {
      const op = (await getEngine()).variant(name);
      const inputs = sampleInputs(def, size, 5, true);
      const r = seededRandom(17);
      const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
      const dht = Float32Array.from({ length: inputs.h0!.length }, () => r.normal());
      const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0: inputs.h0 });
      const got = await op.backward(inputs, { do: dO, dht }, { ...size, poisonOutputs: true });
      for (const g of [...def.inputs.map((d) => `d${d.name}`), 'dh0']) {
        expect(relL2(got[g]!, want[g]!), g).toBeLessThan(1e-4);
      }
    });
  }
});

describe('rwkv7 saveForBackward', () => {
  it('the backward reads the saved token-sequential forward; mode chunked is refused for it', async () => {
    const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv7;
    const op = (await getEngine()).variant('rwkv7');
    const size = SIZES[0]!;
    const inputs = sampleInputs(def, size, 8, true);
    const r = seededRandom(19);
    const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const fwd = await op.forward(inputs, { ...size, saveForBackward: true });
    const got = await op.backward(inputs, { do: dO }, { ...size, saved: fwd.saved });
    const want = referenceBackward(def, inputs, size, { do: dO }, { h0: inputs.h0 });
    for (const g of [...def.inputs.map((d) => `d${d.name}`), 'dh0']) expect(relL2(got[g]!, want[g]!), g).toBeLessThan(1e-4);
    await expect(op.forward(inputs, { ...size, mode: 'chunked', saveForBackward: true })).rejects.toThrow(/saveForBackward needs mode 'recurrent' for 'rwkv7'/);
  });
});

describe('a DPLR spec with a scalar decay, l2norm on k and an outputAdd', () => {
  const def = defineVariant({
    name: 'dplr_scalar_test',
    inputs: {
      q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H'],
      kk: ['B', 'T', 'H', 'K'], lr: ['B', 'T', 'H', 'K'], D: ['H'],
    },
    q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
    decay: 'scalar', logDecay: ({ g }) => g,
    correction: 'dplr', a: ({ kk }) => kk.neg(), b: ({ kk, lr }) => kk.mul(sigmoid(lr)),
    outputAdd: ({ D, v }) => D.mul(v),
    l2norm: ['k'],
  });
  const size = { B: 2, T: 11, H: 2, K: 8, V: 4 };
  it('forward, step and backward match the float64 reference (and central differences there)', async () => {
    const op = (await getEngine()).variant(def);
    const inputs = sampleInputs(def, size, 2, true);
    const r = seededRandom(3);
    const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const dht = Float32Array.from({ length: inputs.h0!.length }, () => r.normal());
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const fwd = await op.forward(inputs, { ...size, poisonOutputs: true });
    expect(relL2(fwd.o, ref.o)).toBeLessThan(1e-5);
    expect(relL2(fwd.ht!, ref.ht)).toBeLessThan(1e-5);
    const state = Float32Array.from(inputs.h0!);
    const stepped = await op.step(Object.fromEntries(def.inputs.map((d) => [d.name, inputs[d.name]!])), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T });
    expect(relL2(stepped.o, ref.o)).toBeLessThan(1e-5);
    expect(relL2(state, ref.ht)).toBeLessThan(1e-5);
    const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0: inputs.h0 });
    const got = await op.backward(inputs, { do: dO, dht }, { ...size, poisonOutputs: true });
    for (const g of [...def.inputs.map((d) => `d${d.name}`), 'dh0']) expect(relL2(got[g]!, want[g]!), g).toBeLessThan(1e-4);
    // The reference itself, here where l2norm, the scalar decay and outputAdd meet the DPLR term.
    const x = Float64Array.from(inputs.lr!);
    const loss = referenceLoss(def, { ...Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, Float64Array.from(a)])), lr: x },
      size, Float64Array.from(inputs.h0!), dO, dht);
    const numeric = centralDiff(x, loss);
    expect(relL2(referenceBackward(def, { ...inputs, lr: x }, size, { do: dO, dht }, { h0: inputs.h0 }).dlr!, numeric)).toBeLessThan(1e-6);
  });
});
