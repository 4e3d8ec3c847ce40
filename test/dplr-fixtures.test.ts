// The generalized delta rule and RWKV-7 against FLA's own references (test/fixtures/make-dplr.py:
// dplr_recurrence, and RWKV7(Goose).md's naive_recurrent_rwkv7 as FLA's RWKV-7 layer calls it):
// the float64 CPU reference forward and backward, and on the GPU the token-sequential forward,
// the decode step and the backward, rel L2 < 1e-4 in f32; the chunked forward of the tensor-core
// tier (portable lowering: operands rounded to f16) within that tier's bound, 3e-3.
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_NAMES, TOKEN_SEQUENTIAL_VARIANTS, type TokenSequentialVariantName } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { loadFixtures } from './helpers/fixtures.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine, getTensorCoreEngine } from './helpers/engine.js';
import { FULL } from './helpers/tier.js';

const TOL = 1e-4;
const cases = loadFixtures('tokenSequential');

it('the fixtures have the three cases of every generalized delta rule variant', () => {
  for (const name of TOKEN_SEQUENTIAL_NAMES.filter((n) => TOKEN_SEQUENTIAL_VARIANTS[n].correction === 'dplr')) expect(cases.filter((c) => c.variant === name).length, name).toBe(3);
});

describe.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
  const def = TOKEN_SEQUENTIAL_VARIANTS[c.variant as TokenSequentialVariantName];
  const inputs = Object.fromEntries(def.inputs.map((i) => [i.name, c.tensors[i.name]!]));
  const seeds = { do: c.tensors.do!, dht: c.tensors.dht! };
  const grads = [...def.inputs.map((i) => `d${i.name}`), 'dh0'];

  it('CPU reference forward and backward', () => {
    const { o, ht } = referenceForward(def, inputs, c.size, { scale: c.scale, h0: c.tensors.h0 });
    expect(relL2(o, c.tensors.o!)).toBeLessThan(1e-10);
    expect(relL2(ht, c.tensors.ht!)).toBeLessThan(1e-10);
    const g = referenceBackward(def, inputs, c.size, seeds, { scale: c.scale, h0: c.tensors.h0 });
    for (const name of grads) expect(relL2(g[name]!, c.tensors[name]!), name).toBeLessThan(1e-9);
  });

  it('GPU forward, step and backward', async () => {
    const op = (await getEngine()).variant(c.variant);
    const f32 = (a: Float64Array) => Float32Array.from(a);
    const x = Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, f32(a)]));
    const { o, ht } = await op.forward({ ...x, h0: f32(c.tensors.h0!) }, { ...c.size, scale: c.scale, poisonOutputs: true });
    expect(relL2(o, c.tensors.o!)).toBeLessThan(TOL);
    expect(relL2(ht!, c.tensors.ht!)).toBeLessThan(TOL);
    const state = f32(c.tensors.h0!);
    const stepped = await op.step(x, state, { B: c.size.B, H: c.size.H, K: c.size.K, V: c.size.V, N: c.size.T, scale: c.scale });
    expect(relL2(stepped.o, c.tensors.o!)).toBeLessThan(TOL);
    expect(relL2(state, c.tensors.ht!)).toBeLessThan(TOL);
    const g = await op.backward({ ...x, h0: f32(c.tensors.h0!) }, { do: f32(seeds.do), dht: f32(seeds.dht) }, { ...c.size, scale: c.scale, poisonOutputs: true });
    for (const name of grads) expect(relL2(g[name]!, c.tensors[name]!), name).toBeLessThan(TOL);
  });

  // The fast tier checks rwkv7's case of 37 tokens at chunk 64 (one partial chunk: the anchored
  // pairs, the paired prep, the 'sequential' output at lavapipe's 32 KiB); the full tier every
  // case at chunk 32 too (the 'paired' output).
  const chunks = FULL ? [32, 64] as const : c.variant === 'rwkv7' && c.size.T === 37 ? [64] as const : [] as const;
  for (const chunk of chunks) {
    it(`GPU chunked forward on the tensor-core tier (portable lowering), chunk ${chunk}`, async () => {
      const op = (await getTensorCoreEngine()).variant(c.variant);
      const f32 = (a: Float64Array) => Float32Array.from(a);
      const x = Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, f32(a)]));
      const { o, ht } = await op.forward({ ...x, h0: f32(c.tensors.h0!) }, { ...c.size, scale: c.scale, chunkSize: chunk, mode: 'chunked', poisonOutputs: true });
      expect(relL2(o, c.tensors.o!)).toBeLessThan(3e-3);
      expect(relL2(ht!, c.tensors.ht!)).toBeLessThan(3e-3);
    });
  }
});
