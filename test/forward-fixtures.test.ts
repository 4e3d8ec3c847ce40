// Generated WGSL forward on a real WebGPU adapter vs FLA's float64 references.
import { describe, expect, it } from 'vitest';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const TOL = 1e-4;

describe('GPU forward vs FLA fixtures', () => {
  for (const c of loadFixtures()) {
    for (const mode of ['chunked', 'recurrent'] as const) {
      it(`${c.id} ${mode}`, async () => {
        const engine = await getEngine();
        const op = engine.variant(c.variant);
        const inputs = Object.fromEntries(op.def.inputs.map((i) => [i.name, c.tensors[i.name]!]));
        const { o, ht } = await op.forward({ ...inputs, h0: c.tensors.h0 }, { ...c.size, scale: c.scale, mode, poisonOutputs: true });
        expect(relL2(o, c.tensors.o!)).toBeLessThan(TOL);
        expect(relL2(ht!, c.tensors.ht!)).toBeLessThan(TOL);
      });
    }
  }
});
