// Generated WGSL forward on a real WebGPU adapter vs FLA's float64 references.
import { describe, expect, it } from 'vitest';
import { inFastTier, loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { FULL, sweep } from './helpers/tier.js';

const TOL = 1e-4;

// Chunks of 16: the fixtures' T (5, 37, 64) spans up to four chunks, and test/backward.test.ts
// runs the fixtures' backward at chunks of 16 too, so the two files share the forward's
// pipelines. The full tier also runs the engine's default chunk; in the fast tier
// test/step.test.ts runs every variant's forward at the default chunk.
type Run = { mode: 'chunked' | 'recurrent'; chunkSize?: 16 };
const RUNS = sweep<Run>([{ mode: 'chunked', chunkSize: 16 }, { mode: 'recurrent' }], [{ mode: 'chunked' }]);
// The fast tier takes test/backward.test.ts's cases (inFastTier: two of each variant's three
// shapes, every forward path at each shape), whose backward plans include the chunked forward's
// kernels; the full tier all 27. The nine cases it leaves out (e.g. linear_attn at (K, V) =
// (4, 4)) are the kernels of the fast tier's cases of their variant, specialized to the third shape.
const CASES = loadFixtures().filter((c) => FULL || inFastTier(c));

describe('GPU forward vs FLA fixtures', () => {
  it('the fast tier takes two of each variant\'s three shapes', () => {
    expect(loadFixtures().filter(inFastTier)).toHaveLength(18);
    if (FULL) expect(CASES).toHaveLength(27);
  });
  for (const c of CASES) {
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
