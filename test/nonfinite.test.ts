// Extreme and non-finite values in the chunked kernels, held to the float64 reference (issue 10):
// a log-decay of -Infinity (a hard reset: decay exactly 0) or one so negative that exp() is 0
// gives the reference's finite result in the forward, the backward and the recurrent mode; a
// NaN in token t reaches no output before t (masked terms are skipped, never multiplied by 0),
// and the pattern of non-finite outputs and gradients is the reference's.
import { describe, expect, it } from 'vitest';
import { VARIANTS, TOKEN_SEQUENTIAL_VARIANTS, type VariantName } from '../variants/index.js';
import { type ProblemSize } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine, getTensorCoreEngine } from './helpers/engine.js';
import { createEngine, type Engine } from '../runtime/engine.js';
import { DEFAULT_DQK_FORM, DQK_FORMS } from '../codegen/index.js';
import { sweep } from './helpers/tier.js';

/** Both tiers: the f32 kernels, and the tensor-core tier through its portable lowering (f16
 * operands: the looser bounds of that tier, o 3e-3, gradients 1e-2). */
const TIERS: { name: string; engine: () => Promise<Engine>; tol: number; gradTol: number }[] = [
  { name: 'f32 tier', engine: getEngine, tol: 1e-4, gradTol: 1e-4 },
  { name: 'tensor-core tier (portable)', engine: getTensorCoreEngine, tol: 3e-3, gradTol: 1e-2 },
];
const TOL = 1e-4;
// K = 16, V = 8: the shape of FLA's first fixture case, so on the f32 tier the chunk-16 plans here
// (forward, token-sequential, backward) are those test/backward.test.ts and
// test/forward-fixtures.test.ts compile: lavapipe compiles them once per run. Both multiples of 4
// (vec4 staging on the tensor-core tier, where every staging slot of a thread keeps its columns:
// the one-record path of staged.ts's causal fixup; WIDE below takes the per-slot path).
const size: ProblemSize = { B: 1, T: 40, H: 1, K: 16, V: 8 };
/** The tensor-core tests' shape at chunk 64 (test/tensor-cores.test.ts, there with T = 150): the
 * same pipelines. K = 48, V = 40: a thread's staging slots change columns (the per-slot record of
 * staged.ts), V padded to whole fragments. */
const WIDE: ProblemSize = { ...size, K: 48, V: 40 };

/** The same elements are non-finite in both, and the finite ones agree to `tol` (relative L2). */
function expectSamePattern(got: ArrayLike<number>, ref: ArrayLike<number>, what: string, tol = TOL) {
  expect(got.length, what).toBe(ref.length);
  const a: number[] = [];
  const b: number[] = [];
  const differ: number[] = [];
  for (let i = 0; i < ref.length; i++) {
    const f = Number.isFinite(ref[i]!);
    if (Number.isFinite(got[i]!) !== f) differ.push(i);
    else if (f) { a.push(got[i]!); b.push(ref[i]!); }
  }
  expect(differ.slice(0, 8), `${what}: elements finite in one and not the other (first 8 of ${differ.length})`).toEqual([]);
  if (b.length) expect(relL2(a, b), what).toBeLessThan(tol);
}

function seedsFor(s: ProblemSize) {
  return Float32Array.from({ length: s.B * s.T * s.H * s.V }, (_, i) => Math.sin(0.7 * i + 0.3));
}

describe.each(TIERS)('hard resets on the $name: log-decays of -Infinity and -3.4e38 (decay exactly 0)', (tier) => {
  it.each(['gla', 'simple_gla', 'gated_delta_rule'] as const)('%s: chunked forward, backward and recurrent mode match the reference', async (name) => {
    const engine = await tier.engine();
    const op = engine.variant(name);
    const x = sampleInputs(VARIANTS[name], size, 1, true);
    const g = x.g!;
    const per = g.length / size.T;
    // A whole token's gates at t = 5 and t = 20, and one key's (or the scalar) at t = 33, inside
    // chunks and on their edges; -1e30 too, which f32 absorption turned into lost decays.
    for (let j = 0; j < per; j++) { g[5 * per + j] = -Infinity; g[20 * per + j] = -3.4e38; }
    g[33 * per] = -1e30;
    g[16 * per] = -Infinity;
    const { h0, ...rest } = x;
    const ref = referenceForward(op.def, rest, size, { h0 });
    for (const mode of ['chunked', 'recurrent'] as const) {
      const { o, ht } = await op.forward(x, { ...size, chunkSize: 16, mode, poisonOutputs: true });
      expect(o.every(Number.isFinite), `${mode} o finite`).toBe(true);
      expect(relL2(o, ref.o), `${mode} o`).toBeLessThan(tier.tol);
      expect(relL2(ht!, ref.ht), `${mode} ht`).toBeLessThan(tier.tol);
    }
    const dO = seedsFor(size);
    const want = referenceBackward(op.def, rest, size, { do: dO }, { h0 });
    const grads = await op.backward(x, { do: dO }, { ...size, chunkSize: 16, poisonOutputs: true });
    for (const [k, v] of Object.entries(want)) {
      expect(grads[k]!.every(Number.isFinite), `${k} finite`).toBe(true);
      expect(relL2(grads[k]!, v), k).toBeLessThan(tier.gradTol);
    }
  });

  it.each(['gla', 'simple_gla'] as const)('%s: a NaN log-decay stays NaN in the forward (the floor does not take it for a hard reset)', async (name) => {
    const op = (await tier.engine()).variant(name);
    const x = sampleInputs(VARIANTS[name], size, 6, true);
    x.g![30 * (x.g!.length / size.T)] = Number.NaN;
    const { h0, ...rest } = x;
    const ref = referenceForward(op.def, rest, size, { h0 });
    const { o, ht } = await op.forward(x, { ...size, chunkSize: 16, poisonOutputs: true });
    expect(ref.o.some((v) => Number.isNaN(v))).toBe(true);
    expectSamePattern(o, ref.o, 'o', tier.tol);
    expectSamePattern(ht!, ref.ht, 'ht', tier.tol);
  });

  it('the log-decay check still refuses a positive value (+Infinity too) and accepts -Infinity', async () => {
    const op = (await tier.engine()).variant('gla');
    const x = sampleInputs(op.def, size, 2, false);
    for (const bad of [0.5, Infinity]) {
      const g = x.g!.slice();
      g[7] = bad;
      await expect(op.forward({ ...x, g }, { ...size, chunkSize: 16 })).rejects.toThrow(new RegExp(`input 'g' \\(the log-decay\\) is ${bad} > 0`));
    }
    const g = x.g!.map(() => -Infinity);
    const { o } = await op.forward({ ...x, g }, { ...size, chunkSize: 16 });
    // Every token resets every key: o_t = scale * (q_t . k_t) v_t.
    expect(relL2(o, referenceForward(op.def, { ...x, g }, size).o)).toBeLessThan(tier.tol);
  });
});

// Both tiers. The tensor-core tier's triangular products (fragments) cannot skip a masked term:
// it stages a value that is not finite as 0 and writes NaN from its row on (staged.ts, causal).
describe.each(TIERS)('non-finite values propagate causally on the $name', (tier) => {
  // The plain output stage (linear_attn) and the WY one (delta_rule) at chunk 16 (one 16-row
  // block) and at a chunk of several blocks (64, 32); the gated forms at the chunk the reset tests
  // already compiled (lavapipe compiles slowly). The full tier adds the other chunk of each.
  // Chunk 64 on the tensor-core tier at WIDE: test/tensor-cores.test.ts's pipelines.
  const cases = sweep<[VariantName, 16 | 32 | 64]>([
    ['linear_attn', 16], ['linear_attn', 64], ['gla', 16], ['simple_gla', 16],
    ['delta_rule', 16], ['delta_rule', 32],
  ], [['linear_attn', 32], ['delta_rule', 64]]);
  it.each(cases)('%s, chunk %i: v[t=30] = NaN leaves o finite before t = 30, and o, ht follow the reference after', async (name, chunk) => {
    const op = (await tier.engine()).variant(name);
    const s = chunk === 64 && tier.engine === getTensorCoreEngine ? WIDE : size;
    const x = sampleInputs(VARIANTS[name], s, 3, true);
    x.v![(30 * s.H) * s.V + 3] = Number.NaN;
    const { h0, ...rest } = x;
    const ref = referenceForward(op.def, rest, s, { h0 });
    const { o, ht } = await op.forward(x, { ...s, chunkSize: chunk, poisonOutputs: true });
    const before = 30 * s.H * s.V;
    expect(o.subarray(0, before).every(Number.isFinite)).toBe(true);
    expectSamePattern(o, ref.o, 'o', tier.tol);
    expectSamePattern(ht!, ref.ht, 'ht', tier.tol);
  });

  it.each(['gla', 'gated_delta_rule'] as const)('%s: k[t=27] = Inf (the keys of the WY products) leaves o finite before t = 27', async (name) => {
    const op = (await tier.engine()).variant(name);
    // WIDE's 48 columns: a thread's staging slots change columns (the per-slot record of
    // staged.ts). At chunk 64, the forward plans of test/tensor-cores.test.ts (and on the f32
    // tier gated_delta_rule's of test/forward-random.test.ts).
    const s = WIDE;
    const x = sampleInputs(VARIANTS[name], s, 7, true);
    x.k![(27 * s.H) * s.K + 5] = Number.POSITIVE_INFINITY;
    const { h0, ...rest } = x;
    const ref = referenceForward(op.def, rest, s, { h0 });
    const { o, ht } = await op.forward(x, { ...s, chunkSize: 64, poisonOutputs: true });
    expect(o.subarray(0, 27 * s.H * s.V).every(Number.isFinite)).toBe(true);
    expectSamePattern(o, ref.o, 'o', tier.tol);
    expectSamePattern(ht!, ref.ht, 'ht', tier.tol);
  });

  // The generalized delta rule runs chunked on the tensor-core tier (token by token on the f32
  // one): its M = T A_ak once summed T's diagonal 16-row block on fragments, whose zeros above
  // the diagonal met A_ak's later rows, so an Inf key at t made o NaN from the start of t's block.
  it('rwkv7: k[t=27] = Inf leaves o finite before t = 27 (M = T A_ak skips the masked terms)', async () => {
    const op = (await tier.engine()).variant('rwkv7');
    const x = sampleInputs(TOKEN_SEQUENTIAL_VARIANTS.rwkv7, size, 7, true);
    x.k![(27 * size.H) * size.K + 5] = Number.POSITIVE_INFINITY;
    const { h0, ...rest } = x;
    const ref = referenceForward(op.def, rest, size, { h0 });
    const { o, ht } = await op.forward(x, { ...size, chunkSize: 32, poisonOutputs: true });
    expect(o.subarray(0, 27 * size.H * size.V).every(Number.isFinite)).toBe(true);
    expectSamePattern(o, ref.o, 'o', tier.tol);
    expectSamePattern(ht!, ref.ht, 'ht', tier.tol);
  });

  it.each(['linear_attn', 'gla', 'delta_rule'] as const)('%s backward: a NaN in do at t = 10 reaches only the gradients the reference has it in', async (name) => {
    const op = (await tier.engine()).variant(name);
    const x = sampleInputs(VARIANTS[name], size, 4, true);
    const dO = seedsFor(size);
    dO[10 * size.H * size.V + 2] = Number.NaN;
    const { h0, ...rest } = x;
    const want = referenceBackward(op.def, rest, size, { do: dO }, { h0 });
    const grads = await op.backward(x, { do: dO }, { ...size, chunkSize: 16, poisonOutputs: true });
    for (const [k, v] of Object.entries(want)) expectSamePattern(grads[k]!, v, k, tier.gradTol);
  });

  it('delta_rule backward: a NaN in v at t = 30 stays out of the earlier tokens\' gradients (the WY products)', async () => {
    const op = (await tier.engine()).variant('delta_rule');
    const x = sampleInputs(op.def, size, 5, true);
    x.v![30 * size.H * size.V + 3] = Number.NaN;
    const dO = seedsFor(size);
    const { h0, ...rest } = x;
    const want = referenceBackward(op.def, rest, size, { do: dO }, { h0 });
    const grads = await op.backward(x, { do: dO }, { ...size, chunkSize: 16, poisonOutputs: true });
    for (const [k, v] of Object.entries(want)) expectSamePattern(grads[k]!, v, k, tier.gradTol);
  });

  // At chunk 64 a per-key decay's dq and dk on the tensor-core tier (tc-bwd-dqk.ts) are products
  // of 16-row blocks with the blocks before them (dq) or after them (dk), and its diagonal blocks
  // f32 sums: a NaN in do (a row of dA) or in q reaches only the gradients the reference has it
  // in, in each block (rows 30 and 12 of the chunk's 40: blocks 1 and 0). At WIDE (one key tile
  // of three slabs): the chunk-64 backward plans of test/tensor-cores.test.ts, compiled once per run.
  if (tier.engine === getTensorCoreEngine) it.each(['gla', 'rwkv6'] as const)('%s backward, chunk 64: a NaN in do at t = 30, or in q at t = 12, reaches only the gradients the reference has it in (dq and dk by blocks)', async (name) => {
    const op = (await tier.engine()).variant(name);
    const s = WIDE;
    for (const [role, t] of [['do', 30], ['q', 12]] as const) {
      const x = sampleInputs(op.def, s, 8, true);
      const dO = seedsFor(s);
      if (role === 'do') dO[t * s.H * s.V + 2] = Number.NaN;
      else x.q![t * s.H * s.K + 3] = Number.NaN;
      const { h0, ...rest } = x;
      const want = referenceBackward(op.def, rest, s, { do: dO }, { h0 });
      const grads = await op.backward(x, { do: dO }, { ...s, chunkSize: 64, poisonOutputs: true });
      for (const [k, v] of Object.entries(want)) expectSamePattern(grads[k]!, v, `${role}: ${k}`, tier.gradTol);
    }
  });

  // kda's key gradient on the tensor-core tier at chunk 64 (tc-bwd-wy-diag.ts) is, like its dq and
  // dk, products of 16-row blocks with the blocks before them (arow) or after them (Q) and f32
  // sums over the diagonal blocks: a NaN in do (dA and dW from it), q or v reaches only the
  // gradients the reference has it in. (dg is left out for v, as in the serial WY case below: the
  // f32 wyDk gives the same mismatch there.) At WIDE: test/tensor-cores.test.ts's kda plans.
  if (tier.engine === getTensorCoreEngine) it('kda backward, chunk 64: a NaN in do at t = 30, in q at t = 12 or in v at t = 30 reaches only the gradients the reference has it in (wyDk by blocks)', async () => {
    const op = (await tier.engine()).variant('kda');
    const s = WIDE;
    for (const [role, t] of [['do', 30], ['q', 12], ['v', 30]] as const) {
      const x = sampleInputs(op.def, s, 8, true);
      const dO = seedsFor(s);
      if (role === 'do') dO[t * s.H * s.V + 2] = Number.NaN;
      else x[role]![t * s.H * (role === 'q' ? s.K : s.V) + 3] = Number.NaN;
      const { h0, ...rest } = x;
      const want = referenceBackward(op.def, rest, s, { do: dO }, { h0 });
      const grads = await op.backward(x, { do: dO }, { ...s, chunkSize: 64, poisonOutputs: true });
      for (const [k, v] of Object.entries(want)) if (!(role === 'v' && k === 'dg')) expectSamePattern(grads[k]!, v, `${role}: ${k}`, tier.gradTol);
    }
  });

  // At chunk 64 the tensor-core tier's key gradient (tc-bwd-wy.ts) takes its serial layout (one
  // left slot, Q parked in X2 before P), whose exact path must still write every element, over
  // X2's parked Q: a NaN in v (dW not finite from its row on), without and with decay. (The
  // gated form's dg is left out: both tiers, at chunk 16 too, give NaN for the NaN's chunk and
  // those before it where the reference's dg is finite, a mismatch of the gate gradient's
  // reverse sum that predates this layout and is not the key gradient's.)
  // The tensor-core tier only: the f32 tier has no such layout (its chunk-64 backward is the
  // WY-products case above).
  // At WIDE: the pipelines of test/tensor-cores.test.ts's chunk-64 forward and backward (the
  // serial layout at any K: the paired one needs over 24 KiB at chunk 64).
  if (tier.engine === getTensorCoreEngine) it.each(['delta_rule', 'gated_delta_rule'] as const)('%s backward, chunk 64: a NaN in v at t = 30 stays out of the earlier tokens\' gradients (the serial WY layout)', async (name) => {
    const op = (await tier.engine()).variant(name);
    const s = WIDE;
    const x = sampleInputs(op.def, s, 6, true);
    x.v![30 * s.H * s.V + 3] = Number.NaN;
    const dO = seedsFor(s);
    const { h0, ...rest } = x;
    const want = referenceBackward(op.def, rest, s, { do: dO }, { h0 });
    const grads = await op.backward(x, { do: dO }, { ...s, chunkSize: 64, poisonOutputs: true });
    for (const [k, v] of Object.entries(want)) if (k !== 'dg') expectSamePattern(grads[k]!, v, k, tier.gradTol);
  });
});

// The other forms of dq and dk of a per-key decay on the tensor-core tier (tuning.dqkForm,
// tc-bwd-dqk.ts): the same NaN in do or q reaches the same gradients as in the reference, with
// three slabs of 16 keys per workgroup (K = 48; 'single': three workgroups of one). At WIDE
// (V = 40): the pipelines of test/tensor-cores.test.ts's dqkForm cases (gla at chunk 64, K = 48,
// V = 40), compiled once per run.
describe('non-finite values in the forms of dq and dk (tuning.dqkForm, tensor-core tier)', () => {
  const wide: ProblemSize = WIDE;
  // gla in the fast tier, rwkv6 (the bonus) too in the full one: the forms' loads are the same
  // for both, and rwkv6's bonus on the default form is in the tier's cases above.
  const names = sweep(['gla'] as const, ['rwkv6'] as const);
  it.each(DQK_FORMS.filter((f) => f !== DEFAULT_DQK_FORM))(`%s: ${names.join(' and ')} backward, chunk 64: a NaN in do at t = 30, or in q at t = 12, reaches only the gradients the reference has it in`, async (form) => {
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: 'off', tuning: { dqkForm: form } });
    try {
      for (const name of names) {
        const op = engine.variant(name);
        for (const [role, t] of [['do', 30], ['q', 12]] as const) {
          const x = sampleInputs(op.def, wide, 8, true);
          const dO = seedsFor(wide);
          if (role === 'do') dO[t * wide.H * wide.V + 2] = Number.NaN;
          else x.q![t * wide.H * wide.K + 3] = Number.NaN;
          const { h0, ...rest } = x;
          const want = referenceBackward(op.def, rest, wide, { do: dO }, { h0 });
          const grads = await op.backward(x, { do: dO }, { ...wide, chunkSize: 64, poisonOutputs: true });
          for (const [k, v] of Object.entries(want)) expectSamePattern(grads[k]!, v, `${name} ${role}: ${k}`, 1e-2);
        }
      }
    } finally {
      engine.destroy();
    }
  });
});
