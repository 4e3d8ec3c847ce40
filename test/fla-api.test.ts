// The FLA-style entry points (runtime/fla.ts): each wrapper returns what the engine's own forward
// or step returns on the same data (the same kernels: equal arrays), and the float64 reference
// within 1e-5; FLA's defaults where they differ between ops (chunk_rwkv7's scale 1,
// fused_recurrent_rwkv7's K^-0.5 and output_final_state=True); packed sequences; and every
// shape or option error names what is wrong. Tiny sizes, one chunk size: few pipelines. K = 8,
// V = 6, the head dims of test/step.test.ts: the ops that run at the engine's default chunk
// (FLA's chunk_gla and the other ops without chunk_size) and the fused_recurrent ops (the decode
// step) run the forward and step pipelines that file compiles for the nine variants, and
// test/dplr.test.ts's for dplr_delta_rule.
import { describe, expect, it } from 'vitest';
import { VARIANTS, TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { inputShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { flaOps, FLA_OPS, type FlaTensor } from '../runtime/fla.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { FULL } from './helpers/tier.js';

const REF = 1e-5;
const CHUNK = 16 as const;
const B = 2, T = 20, H = 2, K = 8, V = 6;
const size: ProblemSize = { B, T, H, K, V };

/** A variant input as an FLA tensor, in the variant's own (FLA's) shape. */
const tensor = (def: VariantDef, x: Record<string, Float32Array>, name: string, sz: ProblemSize = size): FlaTensor =>
  ({ data: x[name]!, shape: inputShape(def, def.inputs.find((d) => d.name === name)!, sz) });
const stateOf = (data: Float32Array, sz: ProblemSize, N = sz.B): FlaTensor => ({ data, shape: [N, sz.H, sz.K, sz.V] });
const tokensOf = (x: Record<string, Float32Array>) => Object.fromEntries(Object.entries(x).filter(([n]) => n !== 'h0'));

describe('FLA entry points equal the engine and the float64 reference', () => {
  it('chunkGla: o and the final state', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.gla;
    const x = sampleInputs(def, size, 3, true);
    const [o, ht] = await fla.chunkGla(tensor(def, x, 'q'), tensor(def, x, 'k'), tensor(def, x, 'v'), tensor(def, x, 'g'),
      { initialState: stateOf(x.h0!, size), outputFinalState: true }); // FLA's chunk_gla takes no chunk_size
    expect(o.shape).toEqual([B, T, H, V]);
    expect(ht!.shape).toEqual([B, H, K, V]);
    const mine = await engine.variant('gla').forward(x, size);
    expect(o.data).toEqual(mine.o);
    expect(ht!.data).toEqual(mine.ht);
    const ref = referenceForward(def, tokensOf(x), size, { h0: x.h0! });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
    // FLA's default: no final state.
    const [, none] = await fla.chunkGla(tensor(def, x, 'q'), tensor(def, x, 'k'), tensor(def, x, 'v'), tensor(def, x, 'g'));
    expect(none).toBeNull();
  });

  it('chunkGatedDeltaRule on packed sequences (cuSeqlens), each sequence as the reference alone', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.gated_delta_rule;
    const cu = [0, 7, 20];
    const packed: ProblemSize = { B: 1, T, H, K, V, S: 2 };
    const x = sampleInputs(def, packed, 5, true);
    const t = (n: string) => tensor(def, x, n, packed);
    const [o, ht] = await fla.chunkGatedDeltaRule(t('q'), t('k'), t('v'), t('g'), t('beta'),
      { cuSeqlens: cu, initialState: stateOf(x.h0!, packed, 2), outputFinalState: true, chunkSize: CHUNK });
    expect(ht!.shape).toEqual([2, H, K, V]);
    const mine = await engine.variant(def).forward(x, { B: 1, T, H, K, V, cuSeqlens: cu, chunkSize: CHUNK });
    expect(o.data).toEqual(mine.o);
    expect(ht!.data).toEqual(mine.ht);
    const row = H * K * V;
    for (let s = 0; s < 2; s++) {
      const [t0, t1] = [cu[s]!, cu[s + 1]!];
      const one: ProblemSize = { B: 1, T: t1 - t0, H, K, V };
      const slice = (a: Float32Array, w: number) => a.slice(t0 * H * w, t1 * H * w);
      const alone = { q: slice(x.q!, K), k: slice(x.k!, K), v: slice(x.v!, V), g: slice(x.g!, 1), beta: slice(x.beta!, 1) };
      const ref = referenceForward(def, alone, one, { h0: x.h0!.slice(s * row, (s + 1) * row) });
      expect(relL2(o.data.slice(t0 * H * V, t1 * H * V), ref.o)).toBeLessThan(REF);
      expect(relL2(ht!.data.slice(s * row, (s + 1) * row), ref.ht)).toBeLessThan(REF);
    }
  });

  it('chunkGatedDeltaRule: grouped value heads (HV from v) and useQkL2normInKernel', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.gated_delta_rule;
    const grouped: ProblemSize = { B: 1, T, H: 2, K, V, G: 2 }; // HV = 2 value heads, 1 q/k head
    const x = sampleInputs(def, grouped, 7, false);
    // Keys not normalized: the kernel's l2norm does it.
    x.k = x.k!.map((a, i) => a * (1 + (i % 5)));
    const t = (n: string) => tensor(def, x, n, grouped);
    expect(t('q').shape).toEqual([1, T, 1, K]);
    expect(t('v').shape).toEqual([1, T, 2, V]);
    const [o, ht] = await fla.chunkGatedDeltaRule(t('q'), t('k'), t('v'), t('g'), t('beta'),
      { useQkL2normInKernel: true, outputFinalState: true, chunkSize: CHUNK });
    expect(o.shape).toEqual([1, T, 2, V]);
    expect(ht!.shape).toEqual([1, 2, K, V]);
    // The same as normalizing q and k on the host: x / sqrt(sum x^2 + 1e-6), FLA's l2norm.
    const norm = (a: Float32Array) => {
      const out = new Float64Array(a.length);
      for (let i = 0; i < a.length; i += K) {
        let s = 0;
        for (let j = 0; j < K; j++) s += a[i + j]! ** 2;
        for (let j = 0; j < K; j++) out[i + j] = a[i + j]! / Math.sqrt(s + 1e-6);
      }
      return out;
    };
    const ref = referenceForward(def, { ...x, q: norm(x.q!), k: norm(x.k!) }, grouped);
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
  });

  it('chunkRwkv6: r, k, v, w, u', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.rwkv6;
    const x = sampleInputs(def, size, 9, true);
    const [o, ht] = await fla.chunkRwkv6(tensor(def, x, 'q'), tensor(def, x, 'k'), tensor(def, x, 'v'), tensor(def, x, 'w'), tensor(def, x, 'u'),
      { initialState: stateOf(x.h0!, size), outputFinalState: true, chunkSize: CHUNK, scale: 0.5 });
    const mine = await engine.variant('rwkv6').forward(x, { ...size, chunkSize: CHUNK, scale: 0.5 });
    expect(o.data).toEqual(mine.o);
    expect(ht!.data).toEqual(mine.ht);
    const ref = referenceForward(def, tokensOf(x), size, { h0: x.h0!, scale: 0.5 });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
  });

  it('chunkRwkv7 is chunk_dplr_delta_rule with q = r, gk = w, scale 1; RWKV-7 a = -kk, b = kk * a gives the rwkv7 spec', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv7;
    const x = sampleInputs(def, size, 13, true);
    const a = x.kk!.map((v) => -v);
    const b = x.kk!.map((v, i) => v * x.a![i]!);
    const shape = [B, T, H, K];
    const [o, ht] = await fla.chunkRwkv7({ data: x.r!, shape }, { data: x.w!, shape }, { data: x.k!, shape }, tensor(def, x, 'v'),
      { data: a, shape }, { data: b, shape }, { initialState: stateOf(x.h0!, size), outputFinalState: true });
    const dplr = { q: x.r!, k: x.k!, v: x.v!, a, b, gk: x.w!, h0: x.h0! };
    const mine = await engine.variant('dplr_delta_rule').forward(dplr, { ...size, scale: 1 });
    expect(o.data).toEqual(mine.o);
    expect(ht!.data).toEqual(mine.ht);
    const ref = referenceForward(def, tokensOf(x), size, { h0: x.h0! });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
  });

  it('fusedRecurrentGla: the decode step over the whole sequence, the initial state left alone', async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.gla;
    const x = sampleInputs(def, size, 17, true);
    const h0 = x.h0!.slice();
    const [o, ht] = await fla.fusedRecurrentGla(tensor(def, x, 'q'), tensor(def, x, 'k'), tensor(def, x, 'v'), tensor(def, x, 'g'),
      { initialState: stateOf(x.h0!, size), outputFinalState: true });
    expect(x.h0).toEqual(h0);
    const state = h0.slice();
    const mine = await engine.variant('gla').step(tokensOf(x), state, { B, H, K, V, N: T });
    expect(o.data).toEqual(mine.o);
    expect(ht!.data).toEqual(state);
    const ref = referenceForward(def, tokensOf(x), size, { h0 });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
  });

  it("fusedRecurrentGatedDeltaRule on packed sequences, g and beta None (FLA's defaults: no decay, beta = 1)", async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = VARIANTS.gated_delta_rule;
    const cu = Int32Array.from([0, 12, 20]);
    const packed: ProblemSize = { B: 1, T, H, K, V, S: 2 };
    const x = sampleInputs(def, packed, 23, true);
    const t = (n: string) => tensor(def, x, n, packed);
    const [o, ht] = await fla.fusedRecurrentGatedDeltaRule(t('q'), t('k'), t('v'), null, null,
      { cuSeqlens: cu, initialState: stateOf(x.h0!, packed, 2), outputFinalState: true });
    const row = H * K * V;
    for (let s = 0; s < 2; s++) {
      const [t0, t1] = [cu[s]!, cu[s + 1]!];
      const n = t1 - t0;
      const slice = (a: Float32Array, w: number) => a.slice(t0 * H * w, t1 * H * w);
      const alone = { q: slice(x.q!, K), k: slice(x.k!, K), v: slice(x.v!, V), g: new Float32Array(n * H), beta: new Float32Array(n * H).fill(1) };
      const ref = referenceForward(def, alone, { B: 1, T: n, H, K, V }, { h0: x.h0!.slice(s * row, (s + 1) * row) });
      expect(relL2(o.data.slice(t0 * H * V, t1 * H * V), ref.o)).toBeLessThan(REF);
      expect(relL2(ht!.data.slice(s * row, (s + 1) * row), ref.ht)).toBeLessThan(REF);
    }
  });

  it("fusedRecurrentRwkv7 keeps FLA's defaults: scale K^-0.5, the final state returned", async () => {
    const engine = await getEngine();
    const fla = flaOps(engine);
    const def = TOKEN_SEQUENTIAL_VARIANTS.dplr_delta_rule;
    const x = sampleInputs(def, size, 19, false);
    const t = (n: string) => tensor(def, x, n);
    const [o, ht] = await fla.fusedRecurrentRwkv7(t('q'), t('gk'), t('k'), t('v'), t('a'), t('b'));
    expect(ht).not.toBeNull();
    const ref = referenceForward(def, x, size, { scale: K ** -0.5 });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht!.data, ref.ht)).toBeLessThan(REF);
  });
});

describe('every FLA entry point against the float64 reference', () => {
  // Grouped value heads (HV = 2 H) where FLA allows them; each op given an initial state.
  const ALL = { ...VARIANTS, ...TOKEN_SEQUENTIAL_VARIANTS } as Record<string, VariantDef>;
  /** FLA's argument name -> the input of the variant the op runs. */
  const inputOf = (op: (typeof FLA_OPS)[number], name: string) =>
    op.variant === 'dplr_delta_rule' ? ({ r: 'q', w: 'gk' } as Record<string, string>)[name] ?? name
      : name === 'r' ? 'q' : name === 'gk' ? 'g' : name;
  // The fast tier leaves out the ops the cases above already hold to the reference (and to the
  // engine); the full tier runs all twenty.
  const COVERED = new Set(['chunkGla', 'chunkGatedDeltaRule', 'chunkRwkv6', 'chunkRwkv7', 'fusedRecurrentGla', 'fusedRecurrentGatedDeltaRule', 'fusedRecurrentRwkv7']);
  it.each(FLA_OPS.filter((op) => FULL || !COVERED.has(op.name)).map((op) => [op.name, op] as const))('%s', async (_, op) => {
    const fla = flaOps(await getEngine()) as unknown as Record<string, (...a: unknown[]) => Promise<[{ data: Float32Array }, { data: Float32Array }]>>;
    const def = ALL[op.variant]!;
    const gva = op.variant === 'kda' || op.variant === 'gated_delta_rule';
    const sz: ProblemSize = gva ? { B: 2, T: 19, H: 4, K, V, G: 2 } : { B: 2, T: 19, H: 2, K, V };
    const x = sampleInputs(def, sz, 31, true);
    const args = op.tensors.map((n) => tensor(def, x, inputOf(op, n), sz));
    const opts = { initialState: stateOf(x.h0!, sz), outputFinalState: true, ...(op.variant === 'linear_attn' ? { normalize: false } : {}) };
    const [o, ht] = await fla[op.name]!(...args, opts);
    const scale = op.name === 'chunkRwkv7' ? 1 : undefined; // chunk_rwkv7's default; every other op's is K^-0.5
    const ref = referenceForward(def, tokensOf(x), sz, { h0: x.h0!, scale });
    expect(relL2(o.data, ref.o)).toBeLessThan(REF);
    expect(relL2(ht.data, ref.ht)).toBeLessThan(REF);
  });
});

describe('FLA entry points: shape and option errors', () => {
  const q = { data: new Float32Array(B * T * H * K), shape: [B, T, H, K] };
  const v = { data: new Float32Array(B * T * H * V), shape: [B, T, H, V] };
  const g = { data: new Float32Array(B * T * H * K), shape: [B, T, H, K] };
  const beta = { data: new Float32Array(B * T * H), shape: [B, T, H] };

  it('every op of the table exists', async () => {
    const fla = flaOps(await getEngine());
    expect(FLA_OPS).toHaveLength(20);
    for (const op of FLA_OPS) expect(typeof (fla as unknown as Record<string, unknown>)[op.name], op.name).toBe('function');
  });

  it('shapes: the tensor, its shape and what was expected', async () => {
    const fla = flaOps(await getEngine());
    await expect(fla.chunkGla(q, q, v, { data: new Float32Array(B * T * H * 4), shape: [B, T, H, 4] }))
      .rejects.toThrow("chunkGla: tensor 'g' has shape [2,20,2,4]; expected [B,T,H,K] = [2,20,2,8]");
    await expect(fla.chunkGla(q, q, { data: v.data, shape: [B, T, H * V] }, g))
      .rejects.toThrow("chunkGla: tensor 'v' has shape [2,20,12]; expected 4 dims [B,T,H,V]");
    await expect(fla.chunkGla(q, q, { data: new Float32Array(3), shape: [B, T, H, V] }, g))
      .rejects.toThrow("chunkGla: tensor 'v' has 3 elements, but its shape [2,20,2,6] holds 480");
    await expect(fla.chunkDeltaRule(q, q, v, { data: new Float32Array(B * T * H * V), shape: [B, T, H, V] }))
      .rejects.toThrow("chunkDeltaRule: tensor 'beta' has shape [2,20,2,6]; expected 3 dims [B,T,H]");
    // v's heads are HV only where FLA has grouped value heads.
    const v3 = { data: new Float32Array(B * T * 3 * V), shape: [B, T, 3, V] };
    await expect(fla.chunkGla(q, q, v3, g)).rejects.toThrow("chunkGla: tensor 'v' has shape [2,20,3,6]; expected [B,T,H,V] = [2,20,2,6]");
    await expect(fla.chunkGatedDeltaRule(q, q, v3, { data: new Float32Array(B * T * 3), shape: [B, T, 3] }, { data: new Float32Array(B * T * 3), shape: [B, T, 3] }))
      .rejects.toThrow("tensor 'v' has 3 heads, tensor 'q' 2: grouped value heads need HV a multiple of H");
    await expect(fla.chunkGatedDeltaRule(q, q, v, { data: new Float32Array(B * T * H * K), shape: [B, T, H, K] }, beta))
      .rejects.toThrow("chunkGatedDeltaRule: tensor 'g' has shape [2,20,2,8]; expected 3 dims [B,T,HV]");
    await expect(fla.chunkGla(q, q, v, g, { initialState: { data: new Float32Array(H * K * V), shape: [1, H, K, V] } }))
      .rejects.toThrow('chunkGla: initialState has shape [1,2,8,6]; expected [N,H,K,V] = [2,2,8,6] (N = B)');
    await expect(fla.chunkGla(q, q, v, null as unknown as FlaTensor)).rejects.toThrow("chunkGla: tensor 'g' (argument 4 of q, k, v, g) is missing");
    await expect(fla.chunkGla(q, q, v, { data: [1, 2], shape: [2] } as unknown as FlaTensor))
      .rejects.toThrow("chunkGla: tensor 'g''s data must be a Float32Array or Float64Array");
    // The options object in a tensor's place (a tensor left out).
    await expect((fla.chunkGla as unknown as (...a: unknown[]) => Promise<unknown>)(q, q, v, { scale: 1 }))
      .rejects.toThrow("chunkGla: tensor 'g' must be a tensor { data: Float32Array | Float64Array, shape: number[] }");
  });

  it('cuSeqlens needs B = 1 and one initial state per sequence', async () => {
    const fla = flaOps(await getEngine());
    await expect(fla.chunkGla(q, q, v, g, { cuSeqlens: [0, 5, 20] }))
      .rejects.toThrow("chunkGla: with cuSeqlens the batch size must be 1 (FLA requires it too), but tensor 'q' has B = 2");
    const one = (t: FlaTensor) => ({ data: t.data.slice(0, t.data.length / B), shape: [1, ...t.shape.slice(1)] });
    await expect(fla.chunkGla(one(q), one(q), one(v), one(g), { cuSeqlens: [0, 5, 9, 20], initialState: { data: new Float32Array(2 * H * K * V), shape: [2, H, K, V] } }))
      .rejects.toThrow('initialState has shape [2,2,8,6]; expected [N,H,K,V] = [3,2,8,6] (N = 3, the number of sequences of cuSeqlens)');
    await expect(fla.chunkGla(one(q), one(q), one(v), one(g), { cuSeqlens: [0, 5, 19] }))
      .rejects.toThrow(/^chunkGla: .*cuSeqlens/);
    await expect(fla.chunkGla(one(q), one(q), one(v), one(g), { cuSeqlens: [0, 20], cuSeqlensCpu: [0, 19] }))
      .rejects.toThrow('chunkGla: option cuSeqlensCpu [0,19] differs from cuSeqlens [0,20]');
  });

  it("FLA options lae does not implement are refused by name, FLA's defaults accepted", async () => {
    const fla = flaOps(await getEngine());
    await expect(fla.chunkLinearAttn(q, q, v)).rejects.toThrow("FLA's chunk_linear_attn defaults to normalize=True, so pass normalize: false explicitly");
    await expect(fla.chunkLinearAttn(q, q, v, { normalize: true })).rejects.toThrow("chunkLinearAttn: FLA's normalize=True");
    await expect(fla.fusedRecurrentLinearAttn(q, q, v, { normalize: true })).rejects.toThrow('Leave normalize out or pass false');
    await expect(fla.chunkGla(q, q, v, g, { headFirst: true })).rejects.toThrow("chunkGla: option 'headFirst' (FLA's head_first) is not supported");
    await expect(fla.chunkGla(q, q, v, g, { stateVFirst: true })).rejects.toThrow("option 'stateVFirst' (FLA's state_v_first) is not supported: the FLA entry points take and return the state as [N,H,K,V]");
    await expect(fla.chunkSimpleGla(q, q, v, null, { gGamma: { data: new Float32Array(H), shape: [H] } })).rejects.toThrow("option 'gGamma' (FLA's g_gamma) is not supported: pass the per-head log decay as g");
    await expect(fla.fusedRecurrentGla(q, q, v, g, { reverse: true })).rejects.toThrow("option 'reverse' (FLA's reverse) is not supported");
    await expect(fla.fusedRecurrentGla(q, q, v, g, { gv: v })).rejects.toThrow("option 'gv' (FLA's gv) is not supported: a decay along V is not implemented in lae");
    await expect(fla.chunkGatedDeltaRule(q, q, v, beta, beta, { useGateInKernel: true })).rejects.toThrow("option 'useGateInKernel' (FLA's use_gate_in_kernel) is not supported");
    await expect(fla.chunkGatedDeltaRule(q, q, v, beta, beta, { aLog: beta })).rejects.toThrow("option 'aLog' (FLA's A_log) is not supported");
    await expect(fla.chunkKda(q, q, v, g, beta, { useBetaSigmoidInKernel: true })).rejects.toThrow('pass beta = sigmoid(beta)');
    await expect(fla.chunkKda(q, q, v, g, beta, { lowerBound: -5 })).rejects.toThrow("option 'lowerBound' (FLA's lower_bound) is not supported");
    await expect(fla.chunkKda(q, q, v, g, beta, { chunkSize: 16 })).rejects.toThrow("chunkKda: option chunkSize must be one of 32, 64, got 16 (a number) (FLA's chunk_kda allows 32 and 64)");
    await expect(fla.chunkGla(q, q, v, g, { chunkSize: 16 })).rejects.toThrow("chunkGla: unknown option 'chunkSize' (FLA's chunk_gla takes no chunk_size either");
    await expect(fla.chunkGla(q, q, v, g, { cu_seqlens: [0, 20] })).rejects.toThrow("chunkGla: unknown option 'cu_seqlens'; did you mean 'cuSeqlens'?");
    await expect(fla.chunkGla(q, q, v, g, { useQkL2normInKernel: true })).rejects.toThrow("chunkGla: unknown option 'useQkL2normInKernel' (chunkGla takes scale, initialState, outputFinalState, cuSeqlens, cuSeqlensCpu, allowPositiveLogDecay; 'useQkL2normInKernel' belongs to");
    // The engine's own checks (a positive log decay, refused before the chunked kernels), with the FLA name of a renamed input.
    const w = { data: new Float32Array(B * T * H * K).fill(0.5), shape: [B, T, H, K] };
    const u = { data: new Float32Array(H * K), shape: [H, K] };
    await expect(fla.chunkRwkv6(q, q, v, w, u)).rejects.toThrow(/^chunkRwkv6: .*'w'.*\(lae's input 'q' is chunk_rwkv6's 'r'\)$/s);
    const [o] = await fla.chunkRwkv6(q, q, v, w, u, { allowPositiveLogDecay: true }); // lae's opt-out, passed on
    expect(o.shape).toEqual([B, T, H, V]);
    // False / null are FLA's defaults, the same computation: accepted (the shape error comes next).
    await expect(fla.chunkGla(q, q, v, beta, { headFirst: false, stateVFirst: false })).rejects.toThrow("tensor 'g' has shape");
    await expect(fla.chunkKda(q, q, v, beta, beta, { aLog: null, useGateInKernel: false, safeGate: false })).rejects.toThrow("tensor 'g' has shape");
  });
});
