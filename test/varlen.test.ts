// Packed variable-length sequences (cuSeqlens, B = 1): every sequence must come out as if it ran
// alone, with its own h0/ht row. The lengths put boundaries inside what would be a chunk of the
// unpacked grid, and include a sequence shorter than a chunk, one of exactly a chunk, one of
// five chunks (the state scan's unrolled steps of four, then the rest) and an empty one (which
// passes its h0 through). Forward, backward and step are checked per sequence against the
// float64 reference run on that sequence alone; for gla also against the GPU run on each
// sequence alone.
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import { inputShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const LENS = [5, 16, 0, 70, 9];
const CU = Int32Array.from(LENS.reduce((acc, n) => [...acc, acc[acc.length - 1]! + n], [0]));
const S = LENS.length;
const T = CU[S]!;
const H = 2, K = 8, V = 4;
const packed: ProblemSize = { B: 1, T, H, K, V, S };
const opts = { B: 1, T, H, K, V, cuSeqlens: CU, chunkSize: 16 as const, poisonOutputs: true };
const STATE = H * K * V;

/** Tokens [t0, t1) of a packed input (B = 1, T its first or second dim); inputs without T are shared. */
function sliceTokens(def: VariantDef, name: string, a: Float32Array | Float64Array, t0: number, t1: number) {
  const decl = def.inputs.find((d) => d.name === name);
  if (decl && !decl.dims.includes('T')) return a;
  const shape = decl ? inputShape(def, decl, packed) : [1, T, H, V];
  const at = decl ? decl.dims.indexOf('T') : 1;
  const row = shape.slice(at + 1).reduce((p, x) => p * x, 1);
  return a.slice(t0 * row, t1 * row);
}
const rowOf = (a: ArrayLike<number>, s: number) => Array.from(a).slice(s * STATE, (s + 1) * STATE);

describe.each(['gla', 'rwkv6', 'gated_delta_rule', 'mamba2_ssd'] as const)('%s on packed sequences', (name) => {
  it('forward, backward and step match each sequence run alone', async () => {
    const engine = await getEngine();
    const def = VARIANTS[name];
    const op = engine.variant(name);
    const inputs = sampleInputs(def, packed, 11, true);
    const h0 = inputs.h0!;
    expect(h0.length).toBe(S * STATE);
    const r = rng(12);
    const dO = Float32Array.from({ length: T * H * V }, () => r.normal());
    const dht = Float32Array.from({ length: S * STATE }, () => r.normal());

    const fwd = await op.forward(inputs, { ...opts, saveForBackward: true });
    const grads = await op.backward(inputs, { do: dO, dht }, { ...opts, saved: fwd.saved });
    const state = h0.slice();
    const { h0: _h0, ...tokens } = inputs;
    const step = await op.step(tokens, state, { B: 1, H, K, V, cuSeqlens: CU });

    const shared: Record<string, Float64Array> = {};
    for (let s = 0; s < S; s++) {
      const [t0, t1] = [CU[s]!, CU[s + 1]!];
      const tag = `sequence ${s} [${t0}, ${t1})`;
      if (t0 === t1) {
        // An empty sequence: ht is h0, dh0 is dht, and the step leaves the state alone.
        expect(rowOf(fwd.ht!, s), `${tag} ht`).toEqual(rowOf(h0, s));
        expect(rowOf(grads.dh0!, s), `${tag} dh0`).toEqual(rowOf(dht, s));
        expect(rowOf(state, s), `${tag} step state`).toEqual(rowOf(h0, s));
        continue;
      }
      const one: ProblemSize = { B: 1, T: t1 - t0, H, K, V };
      const alone = Object.fromEntries(def.inputs.map((d) => [d.name, sliceTokens(def, d.name, inputs[d.name]!, t0, t1)]));
      const h0s = Float32Array.from(rowOf(h0, s));
      const ref = referenceForward(def, alone, one, { h0: h0s });
      expect(relL2(sliceTokens(def, 'o', fwd.o, t0, t1), ref.o), `${tag} o`).toBeLessThan(1e-4);
      expect(relL2(rowOf(fwd.ht!, s), ref.ht), `${tag} ht`).toBeLessThan(1e-4);
      expect(relL2(sliceTokens(def, 'o', step.o, t0, t1), ref.o), `${tag} step o`).toBeLessThan(1e-4);
      expect(relL2(rowOf(state, s), ref.ht), `${tag} step state`).toBeLessThan(1e-4);

      const want = referenceBackward(def, alone, one, { do: sliceTokens(def, 'o', dO, t0, t1), dht: Float32Array.from(rowOf(dht, s)) }, { h0: h0s });
      for (const d of def.inputs) {
        const g = `d${d.name}`;
        if (!d.dims.includes('T')) {
          // A per-head parameter's gradient sums over the sequences.
          shared[g] ??= new Float64Array(want[g]!.length);
          want[g]!.forEach((x, i) => { shared[g]![i]! += x; });
          continue;
        }
        expect(relL2(sliceTokens(def, d.name, grads[g]!, t0, t1), want[g]!), `${tag} ${g}`).toBeLessThan(1e-4);
      }
      expect(relL2(rowOf(grads.dh0!, s), want.dh0!), `${tag} dh0`).toBeLessThan(1e-4);
    }
    for (const [g, w] of Object.entries(shared)) expect(relL2(grads[g]!, w), g).toBeLessThan(1e-4);
  });
});

describe('packed sequences: more paths', () => {
  it('gla: the chunked and token-sequential forwards equal the GPU run on each sequence alone', async () => {
    const engine = await getEngine();
    const def = VARIANTS.gla;
    const op = engine.variant('gla');
    const inputs = sampleInputs(def, packed, 13, true);
    const chunked = await op.forward(inputs, opts);
    const recurrent = await op.forward(inputs, { ...opts, mode: 'recurrent' });
    for (let s = 0; s < S; s++) {
      const [t0, t1] = [CU[s]!, CU[s + 1]!];
      if (t0 === t1) { expect(rowOf(recurrent.ht!, s)).toEqual(rowOf(inputs.h0!, s)); continue; }
      const alone = Object.fromEntries(def.inputs.map((d) => [d.name, sliceTokens(def, d.name, inputs[d.name]!, t0, t1) as Float32Array]));
      const got = await op.forward({ ...alone, h0: Float32Array.from(rowOf(inputs.h0!, s)) }, { B: 1, T: t1 - t0, H, K, V, chunkSize: 16 });
      for (const [mode, run] of [['chunked', chunked], ['recurrent', recurrent]] as const) {
        expect(relL2(sliceTokens(def, 'o', run.o, t0, t1), got.o), `${mode} sequence ${s} o`).toBeLessThan(1e-5);
        expect(relL2(rowOf(run.ht!, s), got.ht!), `${mode} sequence ${s} ht`).toBeLessThan(1e-5);
      }
    }
  });

  it('step on packed sequences into slots of a state pool', async () => {
    const engine = await getEngine();
    const def = VARIANTS.gated_delta_rule;
    const op = engine.variant(def);
    const inputs = sampleInputs(def, packed, 14, true);
    const { h0, ...tokens } = inputs;
    // Sequence s lives in slot slots[s] of a pool of S + 2 slots; the two spare slots must not change.
    const slots = [3, 0, 6, 1, 4];
    const pool = Float32Array.from({ length: (S + 2) * STATE }, (_, i) => Math.sin(i));
    slots.forEach((slot, s) => pool.set(rowOf(h0!, s), slot * STATE));
    const before = pool.slice();
    await op.step(tokens, pool, { B: 1, H, K, V, cuSeqlens: CU, stateIndices: slots });
    for (const spare of [2, 5]) expect(rowOf(pool, spare), `spare slot ${spare}`).toEqual(rowOf(before, spare));
    for (let s = 0; s < S; s++) {
      const [t0, t1] = [CU[s]!, CU[s + 1]!];
      if (t0 === t1) { expect(rowOf(pool, slots[s]!)).toEqual(rowOf(h0!, s)); continue; }
      const alone = Object.fromEntries(def.inputs.map((d) => [d.name, sliceTokens(def, d.name, inputs[d.name]!, t0, t1)]));
      const ref = referenceForward(def, alone, { B: 1, T: t1 - t0, H, K, V }, { h0: Float32Array.from(rowOf(h0!, s)) });
      expect(relL2(rowOf(pool, slots[s]!), ref.ht), `sequence ${s} state`).toBeLessThan(1e-4);
    }
  });
});

describe('packed sequences: bad cuSeqlens', () => {
  it('names what is wrong and runs nothing', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, packed, 15, true);
    const run = (cu: unknown, extra: object = {}) => op.forward(inputs, { ...opts, cuSeqlens: cu as Int32Array, ...extra });
    await expect(run(Int32Array.from([0, 20, 10, T]))).rejects.toThrow(/cuSeqlens is not increasing: cuSeqlens\[2\] = 10 < cuSeqlens\[1\] = 20/);
    await expect(run(Int32Array.from([0, 20, T - 1]))).rejects.toThrow(new RegExp(`cuSeqlens ends at ${T - 1} but the packed inputs have T = ${T} tokens`));
    await expect(run(Int32Array.from([2, 20, T]))).rejects.toThrow(/cuSeqlens\[0\] = 2; the first sequence starts at token 0/);
    await expect(run(Int32Array.from([T]))).rejects.toThrow(/needs N\+1 >= 2 offsets/);
    await expect(run([0, 2.5, T])).rejects.toThrow(/cuSeqlens\[1\] = 2.5 is not an integer/);
    await expect(run(new Float32Array([0, T]))).rejects.toThrow(/cuSeqlens must be an Int32Array/);
    // B must be 1; h0 and dht need one row per sequence.
    await expect(op.forward(inputs, { ...opts, B: 2 })).rejects.toThrow(/B must be 1 \(got B = 2\)/);
    const { h0, ...noH0 } = inputs;
    await expect(op.forward({ ...noH0, h0: h0!.subarray(0, 2 * STATE) }, opts)).rejects.toThrow(new RegExp(`input 'h0' has ${2 * STATE} elements; expected shape \\[${S},${H},${K},${V}\\]`));
    const fwd = await op.forward(inputs, { ...opts, saveForBackward: true });
    const dO = new Float32Array(T * H * V).fill(1);
    await expect(op.backward(inputs, { do: dO, dht: new Float32Array(STATE) }, { ...opts, saved: fwd.saved }))
      .rejects.toThrow(new RegExp(`seed 'dht' has ${STATE} elements; expected shape \\[${S},${H},${K},${V}\\]`));
    // A saved forward of other sequences is refused.
    await expect(op.backward(noH0, { do: dO }, { ...opts, cuSeqlens: Int32Array.from([0, T]), saved: fwd.saved }))
      .rejects.toThrow(/option cuSeqlens \[0,\d+\] differs from the saved forward's \[0,5,21,21,91,100\]/);
    fwd.saved!.destroy();
    // The step: one state (or pool slot) per sequence.
    await expect(op.step(noH0, new Float32Array(STATE), { B: 1, H, K, V, cuSeqlens: CU }))
      .rejects.toThrow(new RegExp(`state has ${STATE} elements; expected shape \\[B,H,K,V\\] = \\[${S},${H},${K},${V}\\] = ${S * STATE} \\(one state per sequence of cuSeqlens\\)`));
    await expect(op.step(noH0, new Float32Array(8 * STATE), { B: 1, H, K, V, cuSeqlens: CU, stateIndices: [0, 1] }))
      .rejects.toThrow(/stateIndices has 2 entries; expected one per sequence \(N, from cuSeqlens = 5\)/);
  });
});
