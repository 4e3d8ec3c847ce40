// Grouped value heads (FLA's GVA, HV > H): q and k have H heads, everything else HV; value
// head h reads query/key head floor(h / (HV/H)). The same problem with q and k repeated per
// group is the ungrouped one, so forward, backward (dq, dk summed over each group) and step
// are checked against the float64 reference run on the repeated inputs.
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import { inputShape, qkHeaded, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const H = 2, HV = 6, G = HV / H;
// K = 16, V = 8, FLA's first fixture case: the kernels of the grouped plans that do not read q or
// k themselves (about half) are those of that case's plans, compiled once per run.
const grouped: ProblemSize = { B: 2, T: 21, H: HV, K: 16, V: 8, G };
const flat: ProblemSize = { ...grouped, G: 1 };

/** A q/k input [.., H, ..] repeated to [.., HV, ..] (head h -> heads h*G .. h*G+G-1), at T tokens. */
function expand(def: VariantDef, name: string, a: Float32Array, T = grouped.T): Float32Array {
  const decl = def.inputs.find((d) => d.name === name)!;
  const shape = inputShape(def, decl, { ...grouped, T });
  const hAt = decl.dims.indexOf('H');
  const outer = shape.slice(0, hAt).reduce((p, x) => p * x, 1);
  const inner = shape.slice(hAt + 1).reduce((p, x) => p * x, 1);
  const out = new Float32Array(outer * HV * inner);
  for (let o = 0; o < outer; o++) for (let h = 0; h < HV; h++) {
    out.set(a.subarray((o * H + Math.floor(h / G)) * inner, (o * H + Math.floor(h / G) + 1) * inner), (o * HV + h) * inner);
  }
  return out;
}
/** The gradient of a repeated input summed back over each group. */
function reduceGroups(def: VariantDef, name: string, d: Float64Array): Float64Array {
  const decl = def.inputs.find((x) => x.name === name)!;
  const shape = inputShape(def, decl, grouped);
  const hAt = decl.dims.indexOf('H');
  const outer = shape.slice(0, hAt).reduce((p, x) => p * x, 1);
  const inner = shape.slice(hAt + 1).reduce((p, x) => p * x, 1);
  const out = new Float64Array(outer * H * inner);
  for (let o = 0; o < outer; o++) for (let h = 0; h < HV; h++) for (let i = 0; i < inner; i++) {
    out[(o * H + Math.floor(h / G)) * inner + i]! += d[(o * HV + h) * inner + i]!;
  }
  return out;
}

describe.each(['gla', 'gated_delta_rule', 'kda', 'mamba2_ssd'] as const)('%s with grouped value heads (H = 2, HV = 6)', (name) => {
  it('forward, backward and step match the same problem with q and k repeated per group', async () => {
    const engine = await getEngine();
    const def = VARIANTS[name];
    const op = engine.variant(name);
    const inputs = sampleInputs(def, grouped, 5, true);
    const expanded: Record<string, Float32Array> = { ...inputs } as Record<string, Float32Array>;
    const qk = def.inputs.filter((d) => qkHeaded(def, d.name)).map((d) => d.name);
    expect(qk.length).toBeGreaterThan(0);
    for (const n of qk) expanded[n] = expand(def, n, inputs[n]!);
    const opts = { B: grouped.B, T: grouped.T, H, HV, K: grouped.K, V: grouped.V, chunkSize: 16 as const, poisonOutputs: true };

    const got = await op.forward(inputs, opts);
    const ref = referenceForward(def, expanded, flat, { h0: inputs.h0 });
    expect(relL2(got.o, ref.o), 'o').toBeLessThan(1e-4);
    expect(relL2(got.ht!, ref.ht), 'ht').toBeLessThan(1e-4);

    const r = rng(6);
    const dO = Float32Array.from({ length: got.o.length }, () => r.normal());
    const dht = Float32Array.from({ length: got.ht!.length }, () => r.normal());
    const grads = await op.backward(inputs, { do: dO, dht }, opts);
    const { h0, ...rest } = expanded;
    const want = referenceBackward(def, rest, flat, { do: dO, dht }, { h0 });
    for (const d of def.inputs) {
      const w = qk.includes(d.name) ? reduceGroups(def, d.name, want[`d${d.name}`]!) : want[`d${d.name}`]!;
      expect(grads[`d${d.name}`]!.length, d.name).toBe(w.length);
      expect(relL2(grads[`d${d.name}`]!, w), `d${d.name}`).toBeLessThan(1e-4);
    }
    expect(relL2(grads.dh0!, want.dh0!), 'dh0').toBeLessThan(1e-4);

    // Two decode steps with grouped heads.
    const two = sampleInputs(def, { ...grouped, T: 2 }, 7, true);
    const { h0: s0, ...tokens } = two;
    const state = s0!.slice();
    const step = await op.step(tokens, state, { B: grouped.B, H, HV, K: grouped.K, V: grouped.V, N: 2 });
    const ref2 = referenceForward(def, Object.fromEntries(def.inputs.map((d) => [d.name, qk.includes(d.name) ? expand(def, d.name, tokens[d.name]!, 2) : tokens[d.name]!])), { ...flat, T: 2 }, { h0: s0 });
    expect(relL2(step.o, ref2.o), 'step o').toBeLessThan(1e-5);
    expect(relL2(state, ref2.ht), 'step state').toBeLessThan(1e-5);
  });
});

describe('grouped heads: bad sizes', () => {
  it('HV must be a multiple of H', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, grouped, 1, false);
    await expect(op.forward(inputs, { B: 2, T: 21, H: 4, HV: 6, K: grouped.K, V: grouped.V })).rejects.toThrow(/HV \(value heads\) must be a multiple of H = 4/);
    await expect(op.forward(inputs, { B: 2, T: 21, H, HV, K: grouped.K, V: grouped.V } as never).then(() => 'ok')).resolves.toBe('ok');
    const q = inputs.q!;
    await expect(op.forward({ ...inputs, q: new Float32Array(q.length * G) }, { B: 2, T: 21, H, HV, K: grouped.K, V: grouped.V }))
      .rejects.toThrow(/input 'q' has \d+ elements; expected shape \[2,21,2,16\]/);
  });
});
