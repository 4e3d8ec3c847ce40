// Two conveniences of issue 13: op.step takes a Float64Array state (run in f32, the new state
// written back into the caller's array in place), and the l2norm preamble's epsilon is a spec
// option (`l2norm: { roles, eps }`, 1e-6 by default), in the kernels, the step, the backward and
// the float64 reference.
import { describe, expect, it } from 'vitest';
import { checkVariantDef, defineVariant, sigmoidBeta, withStateLayout, DEFAULT_L2NORM_EPS, type ProblemSize, type VariantSpec } from '../dsl/index.js';
import { VARIANTS } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { flaL2norm } from './helpers/model-formulas.js';

// K = 16, V = 8 here: FLA's first fixture case, whose step, forward and backward kernels other files
// compile (and, for the spec below, those that do not read its inputs).
describe('op.step with a Float64Array state', () => {
  const size: ProblemSize = { B: 2, T: 3, H: 2, K: 16, V: 8 };
  const opts = { B: size.B, H: size.H, K: size.K, V: size.V, N: 3 };

  it('runs like the Float32Array state, and writes the new state into the same Float64Array', async () => {
    const engine = await getEngine();
    const op = engine.variant('gated_delta_rule');
    const { h0, ...tokens } = sampleInputs(VARIANTS.gated_delta_rule, size, 31, true);
    const r = rng(5);
    const state64 = Float64Array.from(h0!, (x) => x + 1e-9 * r.normal()); // not f32 values: converted on the way in
    const start = state64.slice();
    const state32 = Float32Array.from(state64);
    const got64 = await op.step(tokens, state64, opts);
    const got32 = await op.step(tokens, state32, opts);
    expect(state64).toBeInstanceOf(Float64Array);
    expect(Array.from(got64.o)).toEqual(Array.from(got32.o));
    expect(Array.from(state64)).toEqual(Array.from(state32)); // the f32 result, widened, in place
    const ref = referenceForward(VARIANTS.gated_delta_rule, tokens, size, { h0: start });
    expect(relL2(got64.o, ref.o), 'o').toBeLessThan(1e-5);
    expect(relL2(state64, ref.ht), 'state').toBeLessThan(1e-5);
  });

  it('steps on one Float64Array run in call order, each from the state the previous one left', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const { h0, ...tokens } = sampleInputs(VARIANTS.gla, size, 32, true);
    const together = Float64Array.from(h0!);
    const [a, b] = await Promise.all([op.step(tokens, together, opts), op.step(tokens, together, opts)]);
    const apart = Float32Array.from(h0!);
    const a1 = await op.step(tokens, apart, opts);
    const b1 = await op.step(tokens, apart, opts);
    expect(Array.from(a.o)).toEqual(Array.from(a1.o));
    expect(Array.from(b.o)).toEqual(Array.from(b1.o));
    expect(Array.from(together)).toEqual(Array.from(apart));
  });

  it('names the state and its shape when it does not fit, and the accepted types', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const { h0, ...tokens } = sampleInputs(VARIANTS.gla, size, 33, true);
    await expect(op.step(tokens, new Float64Array(h0!.length + 1), opts)).rejects.toThrow(/state has 513 elements; expected shape \[B,H,K,V\] = \[2,2,16,8\] = 512/);
    await expect(op.step(tokens, new Int32Array(h0!.length) as never, opts)).rejects.toThrow(/state must be a Float32Array, a Float64Array or a GpuTensor, got a Int32Array/);
  });
});

describe('the l2norm epsilon as a spec option', () => {
  const size: ProblemSize = { B: 2, T: 21, H: 2, K: 16, V: 8 };
  const spec = (l2norm: VariantSpec['l2norm']) => defineVariant({
    name: 'gdn_l2', l2norm,
    inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H'], b: ['B', 'T', 'H'] },
    q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
    decay: 'scalar', logDecay: ({ g }) => g,
    correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
  });
  const eps = 1e-2;
  const def = spec({ roles: ['q', 'k'], eps });
  // Small rows (sum of squares ~ 0.02), so eps = 1e-2 changes the norm by a third and 1e-6 does not.
  const r = rng(41);
  const small = (n: number) => Float64Array.from({ length: n }, () => Math.fround(0.05 * r.normal()));
  const qk = size.B * size.T * size.H * size.K;
  const bth = size.B * size.T * size.H;
  const inputs = {
    q: small(qk), k: small(qk), v: Float64Array.from({ length: bth * size.V }, () => Math.fround(r.normal())),
    g: Float64Array.from({ length: bth }, () => Math.fround(-0.3 * r.uniform())), b: Float64Array.from({ length: bth }, () => Math.fround(r.normal())),
  };
  const h0 = Float64Array.from({ length: size.B * size.H * size.K * size.V }, () => Math.fround(r.normal()));

  it("defaults to 1e-6; the default spelled out is the same spec (same hash); another eps is another spec", () => {
    expect(DEFAULT_L2NORM_EPS).toBe(1e-6);
    expect(spec(['q', 'k']).l2normEps).toBe(1e-6);
    expect(spec({ roles: ['k', 'q'], eps: 1e-6 }).hash).toBe(spec(['q', 'k']).hash);
    expect(def.l2normEps).toBe(eps);
    expect(def.hash).not.toBe(spec(['q', 'k']).hash);
    // The def as data keeps it, and so does a change of state layout.
    expect(checkVariantDef(JSON.parse(JSON.stringify(def))).hash).toBe(def.hash);
    expect(withStateLayout(def, 'vk').l2normEps).toBe(eps);
  });

  it('forward, step and backward on the GPU use it: against FLA l2norm(x, eps) fed to the built-in', async () => {
    const builtin = { q: flaL2norm(inputs.q, size.K, eps), k: flaL2norm(inputs.k, size.K, eps), v: inputs.v, g: inputs.g, beta: inputs.b.map((x) => 1 / (1 + Math.exp(-x))) };
    const want = referenceForward(VARIANTS.gated_delta_rule, builtin, size, { h0 });
    const ref = referenceForward(def, inputs, size, { h0 });
    expect(relL2(ref.o, want.o), 'reference o').toBeLessThan(1e-12);
    // The same inputs at the default epsilon give a visibly different output.
    expect(relL2(referenceForward(spec(['q', 'k']), inputs, size, { h0 }).o, want.o)).toBeGreaterThan(1e-2);

    const engine = await getEngine();
    const op = engine.variant(def);
    const got = await op.forward({ ...inputs, h0 }, { ...size, chunkSize: 16, outputFinalState: true, poisonOutputs: true });
    expect(relL2(got.o, want.o), 'GPU o').toBeLessThan(1e-4);
    expect(relL2(got.ht!, want.ht), 'GPU ht').toBeLessThan(1e-4);

    const state = Float32Array.from(h0);
    const first3 = Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, Float32Array.from(a.subarray(0, (3 * a.length) / size.T))]));
    const step = await op.step(first3, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: 3 });
    const ref3 = referenceForward(def, first3, { ...size, T: 3 }, { h0 });
    expect(relL2(step.o, ref3.o), 'step o').toBeLessThan(1e-5);
    expect(relL2(state, ref3.ht), 'step state').toBeLessThan(1e-5);

    const r2 = rng(42);
    const dO = Float64Array.from(want.o, () => r2.normal());
    const dht = Float64Array.from(h0, () => r2.normal());
    const grads = await op.backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, chunkSize: 16, poisonOutputs: true });
    const wantGrads = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
    for (const name of Object.keys(wantGrads)) expect(relL2(grads[name]!, wantGrads[name]!), name).toBeLessThan(1e-4);
    const loss = referenceLoss(def, inputs, size, h0, dO, dht);
    for (const name of ['q', 'k'] as const) {
      expect(relL2(wantGrads[`d${name}`]!, centralDiff(inputs[name], loss)), `d${name} vs finite differences`).toBeLessThan(1e-6);
    }
  });

  it('refuses an epsilon that is not a usable number, naming the field and the limit', () => {
    expect(() => spec({ roles: ['q'], eps: 0 })).toThrow(/field 'l2norm.eps': must be a finite number >= 1e-30 .*got 0/);
    expect(() => spec({ roles: ['q'], eps: -1e-6 })).toThrow(/'l2norm.eps'.*got -0.000001/);
    expect(() => spec({ roles: ['q'], eps: Number.NaN })).toThrow(/'l2norm.eps'.*got NaN/);
    expect(() => spec({ roles: ['q'], eps: '1e-6' as never })).toThrow(/'l2norm.eps'.*got "1e-6"/);
    expect(() => spec({ roles: [], eps: 1e-5 })).toThrow(/'l2norm.eps': is given, but no role is normalized/);
    expect(() => spec({ eps: 1e-5 } as never)).toThrow(/'l2norm.roles': is required/);
    expect(() => spec({ roles: ['q'], epsilon: 1e-5 } as never)).toThrow(/'l2norm.epsilon': unknown field; l2norm takes \{ roles, eps \}/);
    expect(() => spec({ roles: ['v'] } as never)).toThrow(/'l2norm.roles': must list distinct roles among 'q' and 'k'/);
    const data = JSON.parse(JSON.stringify(spec(['q']))) as Record<string, unknown>;
    expect(() => checkVariantDef({ ...data, l2norm: [], l2normEps: 1e-3 })).toThrow(/field 'l2normEps': is 0.001, but no role is normalized/);
    expect(() => checkVariantDef({ ...data, l2normEps: -1 })).toThrow(/'l2norm.eps'.*got -1/);
  });
});
