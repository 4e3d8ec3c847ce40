// The float64 reference backward (reverse mode through the recurrence, modifiers differentiated
// symbolically) must reproduce every gradient in FLA's fixtures.
import { describe, expect, it } from 'vitest';
import { VARIANTS, type VariantName } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { defineVariant, sigmoid, silu, softplus } from '../dsl/index.js';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2, rng } from './helpers/numerics.js';

describe('CPU reference backward vs FLA fixtures', () => {
  for (const c of loadFixtures()) {
    it(`${c.id}`, () => {
      const def = VARIANTS[c.variant as VariantName];
      const grads = referenceBackward(def, c.tensors, c.size, { do: c.tensors.do!, dht: c.tensors.dht }, { scale: c.scale, h0: c.tensors.h0 });
      const names = [...def.inputs.map((i) => `d${i.name}`), 'dh0'];
      for (const name of names) {
        const want = c.tensors[name];
        expect(want, `fixture has ${name}`).toBeDefined();
        expect(relL2(grads[name]!, want!), name).toBeLessThan(1e-9);
      }
    });
  }
});

describe('symbolic gradients of a spec outside the nine, vs central finite differences', () => {
  // Scalar gate -softplus(a) * c with its own inputs, beta = sigmoid(bb), value modifier v * silu(z).
  const def = defineVariant({
    name: 'fd_check',
    inputs: {
      q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], z: ['B', 'T', 'H', 'V'],
      a: ['B', 'T', 'H'], c: ['H'], bb: ['B', 'T', 'H'],
    },
    q: ({ q }) => q, k: ({ k }) => k, v: ({ v, z }) => v.mul(silu(z)),
    decay: 'scalar', logDecay: ({ a, c }) => softplus(a).neg().mul(c),
    correction: 'delta', beta: ({ bb }) => sigmoid(bb),
  });
  const size = { B: 1, T: 6, H: 2, K: 3, V: 2 };
  const r = rng(5);
  const inputs: Record<string, Float64Array> = {};
  for (const d of def.inputs) {
    const n = d.dims.reduce((p, x) => p * size[x], 1);
    inputs[d.name] = Float64Array.from({ length: n }, () => (d.name === 'c' ? 0.5 + r.uniform() : 0.5 * r.normal()));
  }
  const h0 = Float64Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
  const dO = Float64Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
  const dht = Float64Array.from({ length: h0.length }, () => r.normal());
  const loss = (x: Record<string, Float64Array>, s0: Float64Array) => {
    const { o, ht } = referenceForward(def, x, size, { h0: s0 });
    let l = 0;
    for (let i = 0; i < o.length; i++) l += o[i]! * dO[i]!;
    for (let i = 0; i < ht.length; i++) l += ht[i]! * dht[i]!;
    return l;
  };
  const grads = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
  const eps = 1e-6;
  const fd = (arr: Float64Array, i: number, f: () => number) => {
    const x = arr[i]!;
    arr[i] = x + eps; const lp = f();
    arr[i] = x - eps; const lm = f();
    arr[i] = x;
    return (lp - lm) / (2 * eps);
  };
  for (const name of [...def.inputs.map((d) => d.name), 'h0']) {
    it(`d${name}`, () => {
      const arr = name === 'h0' ? h0 : inputs[name]!;
      const numeric = Float64Array.from(arr, (_, i) => fd(arr, i, () => loss(inputs, h0)));
      expect(relL2(grads[`d${name}`]!, numeric)).toBeLessThan(1e-6);
    });
  }
});
