// Generated WGSL forward on a real WebGPU adapter vs FLA's float64 references.
import { describe, expect, it } from 'vitest';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { sweep } from './helpers/tier.js';

const TOL = 1e-4;

// Chunks of 16: the fixtures' T (5, 37, 64) spans up to four chunks, and test/backward.test.ts
// runs the fixtures' backward at chunks of 16 too, so the two files share the forward's
// pipelines. The full tier also runs the engine's default chunk; in the fast tier
// test/step.test.ts runs every variant's forward at the default chunk.
type Run = { mode: 'chunked' | 'recurrent'; chunkSize?: 16 };
const RUNS = sweep<Run>([{ mode: 'chunked', chunkSize: 16 }, { mode: 'recurrent' }], [{ mode: 'chunked' }]);

describe('GPU forward vs FLA fixtures', () => {
  for (const c of loadFixtures()) {
    for (const run of RUNS) {
      it(`${c.id} ${run.mode}${run.chunkSize ? ` (chunk ${run.chunkSize})` : ''}`, async () => {
        const engine = await getEngine();
        const op = engine.variant(c.variant);
        const inputs = Object.fromEntries(op.def.inputs.map((i) => [i.name, c.tensors[i.name]!]));
        const { o, ht } = await op.forward({ ...inputs, h0: c.tensors.h0 }, { ...c.size, scale: c.scale, ...run, poisonOutputs: true });
        expect(relL2(o, c.tensors.o!)).toBeLessThan(TOL);
        expect(relL2(ht!, c.tensors.ht!)).toBeLessThan(TOL);
      });
    }
  }
});
