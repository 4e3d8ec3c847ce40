// The float64 reference, driven by the specs in variants/, must reproduce FLA's own references.
import { describe, expect, it } from 'vitest';
import { VARIANTS, type VariantName } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';

describe('CPU reference vs FLA fixtures', () => {
  for (const c of loadFixtures()) {
    it(`${c.id} (B,T,H,K,V)=(${Object.values(c.size).join(',')})`, () => {
      const def = VARIANTS[c.variant as VariantName];
      expect(def, `variant ${c.variant}`).toBeDefined();
      const { o, ht } = referenceForward(def, c.tensors, c.size, { scale: c.scale, h0: c.tensors.h0 });
      expect(relL2(o, c.tensors.o!)).toBeLessThan(1e-10);
      expect(relL2(ht, c.tensors.ht!)).toBeLessThan(1e-10);
    });
  }
});
