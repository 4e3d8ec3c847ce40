// The generated GPU backward on a real WebGPU adapter: every gradient of every variant against
// FLA's float64 fixtures and the project's float64 reference backward (T not a multiple of the
// chunk, with and without h0 and dht), the saved-forward path, a spec outside the nine against
// central finite differences, and the errors of the host API.
import { describe, expect, it } from 'vitest';
import { VARIANT_NAMES, VARIANTS } from '../variants/index.js';
import { type ProblemSize, type VariantDef } from '../dsl/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { inFastTier, loadFixtures } from './helpers/fixtures.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { centralDiff, offTheNineProblem } from './helpers/finite-diff.js';
import { FULL } from './helpers/tier.js';

const TOL = 1e-4;

// FLA's three shapes per variant: the fast tier runs two of them per variant (inFastTier,
// test/helpers/fixtures.ts: (16, 8) for all nine, each of (8, 16) and (4, 4) for a set of variants
// that takes every backward path at that shape; the 27 cases compiled 524 of the 1917 distinct
// pipelines of a fresh npm test, 2026-12-03). The full tier runs all 27.

describe('GPU backward vs FLA fixtures', () => {
  it('the fast tier takes two of each variant\'s three shapes (so a change of the fixtures shows here)', () => {
    const fast = loadFixtures().filter(inFastTier);
    expect(fast).toHaveLength(18);
    for (const name of VARIANT_NAMES) expect(fast.filter((c) => c.variant === name).map((c) => [c.size.K, c.size.V]), name).toHaveLength(2);
  });
  for (const c of loadFixtures().filter((x) => FULL || inFastTier(x))) {
    it(`${c.id} (chunk 16)`, async () => {
      const engine = await getEngine();
      const op = engine.variant(c.variant);
      const inputs = Object.fromEntries(op.def.inputs.map((i) => [i.name, c.tensors[i.name]!]));
      const grads = await op.backward({ ...inputs, h0: c.tensors.h0 }, { do: c.tensors.do!, dht: c.tensors.dht },
        { ...c.size, scale: c.scale, chunkSize: 16, poisonOutputs: true });
      const names = [...op.def.inputs.map((i) => `d${i.name}`), 'dh0'];
      expect(Object.keys(grads).sort()).toEqual(names.sort());
      for (const name of names) expect(relL2(grads[name]!, c.tensors[name]!), name).toBeLessThan(TOL);
    });
  }
});

function seeds(size: ProblemSize, seed: number) {
  const r = rng(seed);
  return {
    do: Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal()),
    dht: Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal()),
  };
}

async function checkAgainstReference(def: VariantDef, size: ProblemSize, chunk: 16 | 32 | 64, withH0: boolean, withDht: boolean) {
  const engine = await getEngine();
  const inputs = sampleInputs(def, size, 11, withH0);
  const s = seeds(size, 12);
  const dht = withDht ? s.dht : undefined;
  const grads = await engine.variant(def).backward(inputs, { do: s.do, dht }, { ...size, chunkSize: chunk, poisonOutputs: true });
  const { h0, ...rest } = inputs;
  const ref = referenceBackward(def, rest, size, { do: s.do, dht }, { h0 });
  const names = [...def.inputs.map((i) => `d${i.name}`), ...(withH0 ? ['dh0'] : [])];
  expect(Object.keys(grads).sort()).toEqual(names.sort());
  for (const name of names) expect(relL2(grads[name]!, ref[name]!), name).toBeLessThan(TOL);
}

describe.each(VARIANT_NAMES)('%s GPU backward vs float64 reference', (name) => {
  const def = VARIANTS[name];
  const size = { B: 2, T: 45, H: 2, K: 16, V: 8 };
  it('T = 45, chunk 16, h0 and dht', () => checkAgainstReference(def, size, 16, true, true));
  it('T = 45, chunk 16, no h0, no dht', () => checkAgainstReference(def, size, 16, false, false));
  it('T = 45, chunk 16, h0 without dht', () => checkAgainstReference(def, size, 16, true, false));
  // Chunk 64 compiles a plan of its own per variant. The fast tier runs it for a per-key decay and
  // for the delta rule's WY backward; test/tensor-cores.test.ts runs the backward at chunk 64 for
  // every variant on the tensor-core tier (f32 kernels but for the stages on fragments). At that
  // file's size, (1,150,2,48,40): the backward kernels the two tiers share (all but the tier's
  // fragment stages) are compiled once per run.
  if (FULL || name === 'gla' || name === 'gated_delta_rule') {
    it('T = 150, chunk 64, K = 48, V = 40, h0 and dht', () => checkAgainstReference(def, { B: 1, T: 150, H: 2, K: 48, V: 40 }, 64, true, true));
  }
});

describe('saveForBackward', () => {
  const def = VARIANTS.gated_delta_rule;
  const size = { B: 1, T: 40, H: 2, K: 16, V: 8 };
  it('backward from the saved forward equals the recomputing one, and frees it', async () => {
    const engine = await getEngine();
    const op = engine.variant(def);
    const inputs = sampleInputs(def, size, 21, true);
    const s = seeds(size, 22);
    const opts = { ...size, chunkSize: 16 as const };
    const fwd = await op.forward(inputs, { ...opts, saveForBackward: true });
    expect(fwd.saved).toBeDefined();
    const fromSaved = await op.backward(inputs, s, { ...opts, saved: fwd.saved });
    const recomputed = await op.backward(inputs, s, opts);
    for (const name of Object.keys(recomputed)) expect(relL2(fromSaved[name]!, recomputed[name]!), name).toBeLessThan(1e-6);
    expect(fwd.saved!.destroyed).toBe(true);
    await expect(op.backward(inputs, s, { ...opts, saved: fwd.saved })).rejects.toThrow(/already used/);
  });
  it('refuses a saved forward of another variant or size', async () => {
    const engine = await getEngine();
    const op = engine.variant(def);
    const inputs = sampleInputs(def, size, 21, true);
    const s = seeds(size, 22);
    const other = await engine.variant('delta_rule').forward(sampleInputs(VARIANTS.delta_rule, size, 1, true), { ...size, chunkSize: 16, saveForBackward: true });
    await expect(op.backward(inputs, s, { ...size, chunkSize: 16, saved: other.saved })).rejects.toThrow(/variant 'gated_delta_rule'/);
    other.saved!.destroy();
    const short = { ...size, T: 32 };
    const fwd = await op.forward(sampleInputs(def, short, 1, true), { ...short, chunkSize: 16, saveForBackward: true });
    await expect(op.backward(inputs, s, { ...size, chunkSize: 16, saved: fwd.saved })).rejects.toThrow(/T = 40 differs from the saved forward's T = 32/);
    fwd.saved!.destroy();
  });
  it('refuses saveForBackward with the recurrent mode', async () => {
    const engine = await getEngine();
    const op = engine.variant(def);
    await expect(op.forward(sampleInputs(def, size, 1, true), { ...size, mode: 'recurrent', saveForBackward: true })).rejects.toThrow(/mode 'chunked'/);
  });
});

describe('backward seeds are checked', () => {
  const def = VARIANTS.simple_gla;
  const size = { B: 1, T: 8, H: 1, K: 4, V: 4 };
  it('a wrong-length do or dht is refused with the expected shape', async () => {
    const engine = await getEngine();
    const op = engine.variant(def);
    const inputs = sampleInputs(def, size, 1, true);
    await expect(op.backward(inputs, { do: new Float32Array(3) }, size)).rejects.toThrow(/seed 'do' has 3 elements; expected shape \[1,8,1,4\] = 32/);
    await expect(op.backward(inputs, { do: new Float32Array(32), dht: new Float32Array(5) }, size)).rejects.toThrow(/seed 'dht' has 5 elements/);
    await expect(op.backward(inputs, {} as never, size)).rejects.toThrow(/seed 'do' must be a Float32Array/);
  });
});

describe('GPU gradients of a spec outside the nine, vs central finite differences', () => {
  // A softplus gate with its own inputs, sigmoid beta and v * silu(z): all their derivatives
  // reach WGSL only through diff() of the spec's expressions.
  const size = { B: 1, T: 21, H: 2, K: 4, V: 3 };
  const { def, inputs, h0, dO, dht, loss } = offTheNineProblem('fd_check_gpu', size);
  it('every input gradient and dh0 (chunk 16, T = 21)', async () => {
    const engine = await getEngine();
    const grads = await engine.variant(def).backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, chunkSize: 16, poisonOutputs: true });
    for (const name of [...def.inputs.map((d) => d.name), 'h0']) {
      const numeric = centralDiff(name === 'h0' ? h0 : inputs[name]!, loss);
      expect(relL2(grads[`d${name}`]!, numeric), `d${name}`).toBeLessThan(TOL);
    }
  });
});

describe('examples/train.ts', () => {
  it('fits a gated-delta layer with forward + backward + Adam (runs the built example)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('..', import.meta.url));
    const out = execFileSync(process.execPath, ['dist/examples/train.js'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    const m = /loss fell from (\S+) to (\S+) \((\d+)x\)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1]) / Number(m![2])).toBeGreaterThan(100);
  });
});
