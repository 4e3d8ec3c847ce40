// The float64 reference backward (reverse mode through the recurrence, modifiers differentiated
// symbolically) must reproduce every gradient in FLA's fixtures.
import { describe, expect, it } from 'vitest';
import { VARIANTS, type VariantName } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';
import { centralDiff, offTheNineProblem } from './helpers/finite-diff.js';

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
  const size = { B: 1, T: 6, H: 2, K: 3, V: 2 };
  const { def, inputs, h0, dO, dht, loss } = offTheNineProblem('fd_check', size);
  const grads = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
  for (const name of [...def.inputs.map((d) => d.name), 'h0']) {
    it(`d${name}`, () => {
      const numeric = centralDiff(name === 'h0' ? h0 : inputs[name]!, loss);
      expect(relL2(grads[`d${name}`]!, numeric)).toBeLessThan(1e-6);
    });
  }
});
