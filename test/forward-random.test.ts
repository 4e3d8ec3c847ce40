// GPU forward vs the float64 reference on random inputs: every chunk size, T not a multiple of
// the chunk, with and without h0, and head dims that are not powers of two.
import { describe, expect, it } from 'vitest';
import { VARIANT_NAMES, VARIANTS } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { sweep } from './helpers/tier.js';

const TOL = 1e-4;

const CASES = [
  { chunk: 16, size: { B: 2, T: 75, H: 2, K: 20, V: 12 }, h0: true },
  { chunk: 32, size: { B: 1, T: 70, H: 3, K: 32, V: 24 }, h0: false },
  { chunk: 64, size: { B: 1, T: 150, H: 2, K: 48, V: 40 }, h0: true },
] as const;

describe.each(VARIANT_NAMES.map((name, i) => [name, i] as const))('%s chunked forward vs reference', (name, i) => {
  const def = VARIANTS[name];
  // The fast tier runs one case per variant, taking the three in turn (each chunk size and shape
  // runs for three variants); the full tier runs all three for every variant.
  const first = CASES[i % CASES.length]!;
  const cases = sweep([first], CASES.filter((c) => c !== first));
  for (const c of cases) {
    it(`C=${c.chunk} (B,T,H,K,V)=(${Object.values(c.size).join(',')}) ${c.h0 ? 'with' : 'without'} h0`, async () => {
      const engine = await getEngine();
      const inputs = sampleInputs(def, c.size, 7 + c.chunk, c.h0);
      const ref = referenceForward(def, inputs, c.size, { h0: inputs.h0 });
      const got = await engine.variant(name).forward(inputs, { ...c.size, chunkSize: c.chunk, poisonOutputs: true });
      expect(relL2(got.o, ref.o)).toBeLessThan(TOL);
      expect(relL2(got.ht!, ref.ht)).toBeLessThan(TOL);
    });
  }
});
