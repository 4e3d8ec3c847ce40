// The float64 reference, driven by the specs in variants/, must reproduce FLA's own references.
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_VARIANTS, VARIANTS, type VariantName } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceChunkedDplr } from '../runtime/reference-chunked-dplr.js';
import { sampleInputs } from '../runtime/sample.js';
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

// The chunked form of the generalized delta rule (runtime/reference-chunked-dplr.ts), the
// algorithm its chunked kernels are to follow, against the token-by-token recurrence: partial
// last chunks, an initial state, chunks of 16 and 64, both specs of the form.
describe('the generalized delta rule in chunks (WY form) equals its recurrence', () => {
  it.each(['rwkv7', 'dplr_delta_rule'] as const)('%s', (name) => {
    const def = TOKEN_SEQUENTIAL_VARIANTS[name];
    const size = { B: 2, T: 37, H: 2, K: 8, V: 6 };
    const inputs = sampleInputs(def, size, 7, true);
    const { h0, ...rest } = inputs;
    const want = referenceForward(def, rest, size, { h0 });
    for (const chunk of [16, 64]) {
      const got = referenceChunkedDplr(def, rest, size, { chunk, h0 });
      expect(relL2(got.o, want.o), `o, chunk ${chunk}`).toBeLessThan(1e-12);
      expect(relL2(got.ht, want.ht), `ht, chunk ${chunk}`).toBeLessThan(1e-12);
    }
    // The inputs are not trivial: the rank-one term moves o.
    expect(Math.max(...want.o.map(Math.abs))).toBeGreaterThan(1e-3);
  });
});
