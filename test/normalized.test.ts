// The normalized form (normalize 'exp') and RWKV-4 as a spec: the float64 reference against
// BlinkDL's wkv written out (RWKV-LM v4's CUDA forward, per channel) and against the plain sum
// it computes; the token-sequential kernel and the step on lavapipe against the reference, with
// keys far past where exp() overflows in f32.
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { defineVariant, stateShape, type ProblemSize } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const rwkv4 = TOKEN_SEQUENTIAL_VARIANTS.rwkv4;

/** BlinkDL's wkv forward (RWKV-LM RWKV-v4/cuda/wkv_cuda.cu, kernel_forward) on [B,T,C], w = -exp(time_decay). */
function blinkWkv(B: number, T: number, C: number, timeDecay: Float64Array, u: Float64Array, k: Float64Array, v: Float64Array) {
  const y = new Float64Array(B * T * C);
  const state = new Float64Array(B * C * 3);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const w = -Math.exp(timeDecay[c]!);
    let aa = 0, bb = 0, pp = -1e38;
    for (let i = 0; i < T; i++) {
      const ii = (b * T + i) * C + c;
      const kk = k[ii]!, vv = v[ii]!;
      let ww = u[c]! + kk;
      let p = Math.max(pp, ww);
      let e1 = Math.exp(pp - p), e2 = Math.exp(ww - p);
      y[ii] = (e1 * aa + e2 * vv) / (e1 * bb + e2);
      ww = w + pp;
      p = Math.max(ww, kk);
      e1 = Math.exp(ww - p); e2 = Math.exp(kk - p);
      aa = e1 * aa + e2 * vv;
      bb = e1 * bb + e2;
      pp = p;
    }
    state.set([aa, bb, pp], (b * C + c) * 3);
  }
  return { y, state };
}

/** RWKV-4's wkv as the paper writes it: the weighted sum, in float64 (moderate keys only). */
function plainWkv(B: number, T: number, C: number, timeDecay: Float64Array, u: Float64Array, k: Float64Array, v: Float64Array) {
  const y = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) {
    const at = (i: number) => (b * T + i) * C + c;
    let num = Math.exp(u[c]! + k[at(t)]!) * v[at(t)]!, den = Math.exp(u[c]! + k[at(t)]!);
    for (let i = 0; i < t; i++) {
      const wt = Math.exp(-(t - 1 - i) * Math.exp(timeDecay[c]!) + k[at(i)]!);
      num += wt * v[at(i)]!; den += wt;
    }
    y[at(t)] = num / den;
  }
  return y;
}

function rwkv4Inputs(size: ProblemSize, seed: number, keyScale: number) {
  const r = rng(seed);
  const n = size.B * size.T * size.H;
  return {
    k: Float64Array.from({ length: n }, () => keyScale * r.normal()),
    v: Float64Array.from({ length: n }, () => r.normal()),
    w: Float64Array.from({ length: size.H }, () => r.normal() - 1),
    u: Float64Array.from({ length: size.H }, () => 0.5 * r.normal()),
  };
}

describe('rwkv4: float64 reference', () => {
  const size = { B: 2, T: 23, H: 5, K: 1, V: 1 };
  it("is BlinkDL's wkv, output and state (aa, bb, pp), with keys up to ~200", () => {
    const x = rwkv4Inputs(size, 1, 60);
    const { o, ht } = referenceForward(rwkv4, x, size);
    const want = blinkWkv(size.B, size.T, size.H, x.w, x.u, x.k, x.v);
    expect(relL2(o, want.y)).toBeLessThan(1e-14);
    expect(relL2(ht, want.state)).toBeLessThan(1e-14);
  });
  it('is the weighted sum it stands for', () => {
    const x = rwkv4Inputs(size, 2, 2);
    expect(relL2(referenceForward(rwkv4, x, size).o, plainWkv(size.B, size.T, size.H, x.w, x.u, x.k, x.v))).toBeLessThan(1e-12);
  });
});

describe('rwkv4 on the GPU', () => {
  const size = { B: 2, T: 37, H: 24, K: 1, V: 1 };
  it('forward (token-sequential) matches the reference, keys far past exp overflow in f32, with and without h0', async () => {
    const op = (await getEngine()).variant('rwkv4');
    const x = rwkv4Inputs(size, 3, 60);
    const f32 = Object.fromEntries(Object.entries(x).map(([n, a]) => [n, Float32Array.from(a)]));
    const want = referenceForward(rwkv4, f32, size);
    const got = await op.forward(f32, { ...size, poisonOutputs: true });
    expect(relL2(got.o, want.o)).toBeLessThan(1e-5);
    expect(relL2(got.ht!, want.ht)).toBeLessThan(1e-5);
    expect(got.ht!.length).toBe(size.B * size.H * 3);
    // From that state on: a second forward from h0 = ht is the reference's continuation.
    const x2 = rwkv4Inputs(size, 4, 60);
    const f32b = Object.fromEntries(Object.entries(x2).map(([n, a]) => [n, Float32Array.from(a)]));
    const want2 = referenceForward(rwkv4, f32b, size, { h0: got.ht! });
    const got2 = await op.forward({ ...f32b, h0: got.ht! }, { ...size, poisonOutputs: true });
    expect(relL2(got2.o, want2.o)).toBeLessThan(1e-5);
    expect(relL2(got2.ht!, want2.ht)).toBeLessThan(1e-5);
  });
  it('step, token by token, reproduces the forward; the backward and the chunked mode are refused by name', async () => {
    const op = (await getEngine()).variant('rwkv4');
    const s = { ...size, T: 6 };
    const x = rwkv4Inputs(s, 5, 30);
    const f32 = Object.fromEntries(Object.entries(x).map(([n, a]) => [n, Float32Array.from(a)]));
    const want = referenceForward(rwkv4, f32, s);
    const state = new Float32Array(s.B * s.H * 3);
    for (let i = 0; i < state.length; i += 3) state[i + 2] = -1e38; // the empty state: aa = bb = 0, pp = -1e38
    const o = new Float32Array(want.o.length);
    for (let t = 0; t < s.T; t++) {
      const tok = (a: Float32Array) => Float32Array.from({ length: s.B * s.H }, (_, i) => a[(Math.floor(i / s.H) * s.T + t) * s.H + (i % s.H)]!);
      const res = await op.step({ k: tok(f32.k!), v: tok(f32.v!), w: f32.w!, u: f32.u! }, state, { B: s.B, H: s.H, K: 1, V: 1 });
      for (let i = 0; i < s.B * s.H; i++) o[(Math.floor(i / s.H) * s.T + t) * s.H + (i % s.H)] = res.o[i]!;
    }
    expect(relL2(o, want.o)).toBeLessThan(1e-5);
    expect(relL2(state, want.ht)).toBeLessThan(1e-5);
    await expect(op.forward(f32, { ...s, mode: 'chunked' })).rejects.toThrow(/'rwkv4'.*no chunked forward yet/);
  });
  it('backward matches the float64 reference backward, keys past f32 exp overflow, with h0 and dht', async () => {
    const op = (await getEngine()).variant('rwkv4');
    const x = rwkv4Inputs(size, 11, 40);
    const f32 = Object.fromEntries(Object.entries(x).map(([n, a]) => [n, Float32Array.from(a)]));
    const r = rng(12);
    const h0 = new Float32Array(size.B * size.H * 3);
    for (let i = 0; i < h0.length; i += 3) { h0[i] = r.normal(); h0[i + 1] = 0.5 + r.uniform(); h0[i + 2] = 30 * r.normal(); }
    const dO = Float32Array.from({ length: size.B * size.T * size.H }, () => r.normal());
    const dht = Float32Array.from({ length: h0.length }, () => r.normal());
    const want = referenceBackward(rwkv4, f32, size, { do: dO, dht }, { h0 });
    const got = await op.backward({ ...f32, h0 }, { do: dO, dht }, { ...size, poisonOutputs: true });
    for (const g of ['dk', 'dv', 'dw', 'du', 'dh0']) expect(relL2(got[g]!, want[g]!), g).toBeLessThan(1e-4);
    // Without h0 and dht.
    const want2 = referenceBackward(rwkv4, f32, size, { do: dO }, {});
    const got2 = await op.backward(f32, { do: dO }, { ...size, poisonOutputs: true });
    for (const g of ['dk', 'dv', 'dw', 'du']) expect(relL2(got2[g]!, want2[g]!), g).toBeLessThan(1e-4);
  });
});

describe('the normalized form with several key rows (q mixing them), per-key decay, no bonus, V-first state', () => {
  const def = defineVariant({
    name: 'normalized_test',
    inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
    q: ({ q }) => q.exp(), k: ({ k }) => k, v: ({ v }) => v,
    decay: 'diagonal', logDecay: ({ g }) => g,
    correction: 'none', normalize: 'exp', stateLayout: 'vk',
  });
  const size = { B: 2, T: 19, H: 2, K: 8, V: 40 };
  it('forward and step (in place, 40 columns in one workgroup) match the reference, keys scaled past f32 exp', async () => {
    const op = (await getEngine()).variant(def);
    const x = sampleInputs(def, size, 6, true);
    for (let i = 0; i < x.k!.length; i++) x.k![i]! *= 50;
    expect(x.h0!.length).toBe(stateShape(def, size).reduce((a, b) => a * b, 1));
    const want = referenceForward(def, x, size, { h0: x.h0 });
    const got = await op.forward(x, { ...size, poisonOutputs: true });
    expect(relL2(got.o, want.o)).toBeLessThan(1e-5);
    expect(relL2(got.ht!, want.ht)).toBeLessThan(1e-5);
    const state = Float32Array.from(x.h0!);
    const { h0: _h0, ...tokens } = x;
    const res = await op.step(tokens, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T });
    expect(relL2(res.o, want.o)).toBeLessThan(1e-5);
    expect(relL2(state, want.ht)).toBeLessThan(1e-5);
    await expect(op.backward(x, { do: new Float32Array(want.o.length) }, size)).rejects.toThrow(/'normalized_test'.*takes K = V = 1 for now.*K = 8, V = 40/);
  });
});

describe('the normalized form: float64 reference backward vs central differences', () => {
  const multiRow = defineVariant({
    name: 'normalized_fd',
    inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'], u: ['H', 'K'], z: ['B', 'T', 'H', 'V'] },
    q: ({ q }) => q.exp(), k: ({ k }) => k, v: ({ v }) => v,
    decay: 'diagonal', logDecay: ({ g }) => g.exp().neg(),
    correction: 'none', bonus: 'u', u: ({ u }) => u, normalize: 'exp', stateLayout: 'vk',
    outputGate: ({ z }) => z.exp(),
  });
  const cases = [
    { def: rwkv4, size: { B: 2, T: 7, H: 3, K: 1, V: 1 } },
    { def: multiRow, size: { B: 1, T: 6, H: 2, K: 3, V: 2 } },
  ];
  for (const { def, size } of cases) {
    const x = Object.fromEntries(Object.entries(sampleInputs(def, size, 9, true)).map(([n, a]) => [n, Float64Array.from(a)]));
    const h0 = x.h0!;
    delete x.h0;
    const r = rng(10);
    const dO = Float64Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const dht = Float64Array.from({ length: h0.length }, () => r.normal());
    const grads = referenceBackward(def, x, size, { do: dO, dht }, { h0 });
    const loss = referenceLoss(def, x, size, h0, dO, dht);
    for (const name of [...def.inputs.map((d) => d.name), 'h0']) {
      it(`${def.name}: d${name}`, () => {
        expect(relL2(grads[`d${name}`]!, centralDiff(name === 'h0' ? h0 : x[name]!, loss))).toBeLessThan(1e-6);
      });
    }
  }
});
