// The fused input preambles (dsl/preambles.ts): each equals its closed form; min/max (the clamp
// of mamba's dt_limit) differentiate; and specs built from them run forward and backward on the
// GPU against the float64 reference, which itself matches central finite differences.
import { describe, expect, it } from 'vitest';
import {
  diff, evaluate, gatedDeltaGate, kdaGate, mambaDt, sigmoidBeta, input, max, min,
  type ProblemSize, type VariantDef,
} from '../dsl/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { PREAMBLE_SPECS } from './helpers/preamble-specs.js';

const softplus64 = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('preambles equal their closed forms', () => {
  const r = rng(1);
  const at = (e: { node: Parameters<typeof evaluate>[0] }, vals: Record<string, number>) => evaluate(e.node, (n) => vals[n]!, 0);
  it('sigmoidBeta, gatedDeltaGate, kdaGate, mambaDt', () => {
    for (let i = 0; i < 50; i++) {
      const v = { b: 3 * r.normal(), A: r.normal(), a: 3 * r.normal(), d: r.normal(), dt: 3 * r.normal() };
      expect(at(sigmoidBeta(input('b')), v)).toBeCloseTo(sigmoid(v.b), 12);
      expect(at(sigmoidBeta(input('b'), { allowNegativeEigenvalues: true }), v)).toBeCloseTo(2 * sigmoid(v.b), 12);
      expect(at(gatedDeltaGate(input('A'), input('a'), input('d')), v)).toBeCloseTo(-Math.exp(v.A) * softplus64(v.a + v.d), 12);
      expect(at(kdaGate(input('A'), input('a'), input('d'), -5), v)).toBeCloseTo(-5 * sigmoid(Math.exp(v.A) * (v.a + v.d)), 12);
      expect(at(mambaDt(input('dt'), input('d'), [0.05, 1.5]), v)).toBeCloseTo(Math.min(Math.max(softplus64(v.dt + v.d), 0.05), 1.5), 12);
    }
  });
  it('refuse bounds that make no sense', () => {
    expect(() => kdaGate(input('A'), input('a'), input('d'), 2)).toThrow(/lowerBound must be negative/);
    expect(() => mambaDt(input('dt'), input('d'), [1, 0])).toThrow(/lo <= hi/);
  });
  it('min and max differentiate to the winning operand', () => {
    const x = input('x'), y = input('y');
    for (const [vx, vy] of [[0.3, 0.7], [0.9, -0.2]] as const) {
      const read = (n: string) => (n === 'x' ? vx : vy);
      expect(evaluate(diff(min(x.mul(2), y).node, 'x'), read, 0)).toBe(2 * vx < vy ? 2 : 0);
      expect(evaluate(diff(max(x.mul(2), y).node, 'y'), read, 0)).toBe(2 * vx > vy ? 0 : 1);
    }
  });
});

/** Random inputs: gate pre-activations and biases normal, per-head A_log small. */
function randomInputs(def: VariantDef, size: ProblemSize, seed: number) {
  const r = rng(seed);
  const out: Record<string, Float64Array> = {};
  for (const d of def.inputs) {
    const n = d.dims.reduce((p, x) => p * size[x], 1);
    out[d.name] = Float64Array.from({ length: n }, () => (d.name === 'A_log' ? 0.3 * r.normal() : r.normal()));
  }
  // Unit keys for the delta rule.
  if (def.correction === 'delta') {
    const k = out.k!;
    for (let i = 0; i < k.length; i += size.K) {
      let s = 0;
      for (let j = 0; j < size.K; j++) s += k[i + j]! ** 2;
      for (let j = 0; j < size.K; j++) k[i + j]! /= Math.sqrt(s);
    }
  }
  return out;
}

async function checkSpec(def: VariantDef, size: ProblemSize, fdInputs: readonly string[]) {
  const engine = await getEngine();
  const op = engine.variant(def);
  const inputs = randomInputs(def, size, 3);
  const r = rng(4);
  const h0 = Float64Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
  const dO = Float64Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
  const dht = Float64Array.from({ length: h0.length }, () => r.normal());
  const ref = referenceForward(def, inputs, size, { h0 });
  const fwd = await op.forward({ ...inputs, h0 }, { ...size, chunkSize: 16, poisonOutputs: true });
  expect(relL2(fwd.o, ref.o)).toBeLessThan(1e-4);
  const grads = await op.backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, chunkSize: 16, poisonOutputs: true });
  const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
  for (const name of Object.keys(want)) expect(relL2(grads[name]!, want[name]!), name).toBeLessThan(1e-4);
  // Three decode steps from h0 (the step plan has the same preambles fused).
  const first = Object.fromEntries(def.inputs.map((d) => {
    const a = inputs[d.name]!;
    return [d.name, d.dims.includes('T') ? Float32Array.from(a.subarray(0, 3 * a.length / size.T)) : Float32Array.from(a)];
  }));
  const state = Float32Array.from(h0);
  const step = await op.step(first, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: 3 });
  const ref3 = referenceForward(def, first, { ...size, T: 3 }, { h0 });
  expect(relL2(step.o, ref3.o), 'step o').toBeLessThan(1e-5);
  expect(relL2(state, ref3.ht), 'step state').toBeLessThan(1e-5);
  // The reference's symbolic gradients of the preamble inputs vs central differences.
  const loss = referenceLoss(def, inputs, size, h0, dO, dht);
  for (const name of fdInputs) {
    const numeric = centralDiff(inputs[name]!, loss);
    expect(relL2(want[`d${name}`]!, numeric), `d${name} vs finite differences`).toBeLessThan(1e-6);
  }
}

describe('specs built from preambles, forward and backward on the GPU', () => {
  // K = 16, V = 8, FLA's first fixture case: the kernels that do not read the spec's inputs
  // (the chunk and state scans, the WY products' backward) are that case's, compiled once per run.
  const size = { B: 1, T: 21, H: 2, K: 16, V: 8 };
  it.each(PREAMBLE_SPECS.map((s) => [s.title, s] as const))('%s', (_title, s) => checkSpec(s.def, size, s.fd));
});
