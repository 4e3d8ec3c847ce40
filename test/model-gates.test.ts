// The gate helpers named for their models (dsl/preambles.ts), each against a float64
// transcription of that model's own code (test/helpers/model-formulas.ts): elementwise, in the
// float64 evaluator and as the kernels compute them on the GPU; then through a whole forward,
// where the spec built from the helper (on the GPU, and in lae's reference) must match the
// built-in variant's reference fed with the gate the model's formula computes. Kimi-Linear's and
// GLM's gates are different models: the test also shows each differs from the other.
import { describe, expect, it } from 'vitest';
import {
  defineVariant, evaluate, glmGate, input, kdaGate, kimiLinearGate, mambaDt, qwen3NextGate, rwkv6LogDecay, sigmoidBeta,
  type Dim, type Expr, type ProblemSize, type VariantDef,
} from '../dsl/index.js';
import { VARIANTS } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { flaL2norm, glmG, kimiLinearG, mambaDtRef, qwen3NextG, rwkv6LogW, torchSigmoid } from './helpers/model-formulas.js';

const r = rng(131);
/** Values rounded to f32, so the GPU and the float64 formulas see the same numbers. */
const f32s = (n: number, draw: () => number) => Float64Array.from({ length: n }, () => Math.fround(draw()));
const uniform = (lo: number, hi: number) => () => lo + (hi - lo) * r.uniform();

/** Element i of `got` within `abs + rel * |want|` of `want`; the worst excess is reported. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, abs: number, rel: number, what: string) {
  expect(got.length, what).toBe(want.length);
  let worst = -Infinity, at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i]! - want[i]!) - (abs + rel * Math.abs(want[i]!));
    if (!(excess <= worst)) { worst = excess; at = i; }
  }
  expect(worst, `${what}: element ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(0);
}

/** A helper's value at every element of an index space [B,1,H,K], on the GPU: a spec whose k
 * role is the helper (v = 1, q = 0, no decay) leaves k itself in ht after one token. */
async function onGpu(inputs: Record<string, readonly Dim[]>, values: Record<string, Float64Array>, build: (i: Record<string, Expr>) => Expr,
  size: { B: number; H: number; K: number }): Promise<Float64Array> {
  const probe = defineVariant({
    name: 'gate_probe', inputs,
    q: () => 0, k: (i) => build(i as Record<string, Expr>), v: () => 1,
    decay: 'none', correction: 'none', scale: 1,
  });
  const engine = await getEngine();
  const { B, H, K } = size;
  // One token: the token-sequential kernel (one pipeline per probe, not the chunked plan's three).
  const { ht } = await engine.variant(probe).forward(values, { B, T: 1, H, K, V: 1, mode: 'recurrent', outputFinalState: true, poisonOutputs: true });
  return Float64Array.from(ht!); // [B,H,K,1] = [B,1,H,K]
}

/** The float64 evaluator's value of an expression over [B,1,H,K] (what lae's reference uses). */
function onHost(inputs: Record<string, readonly Dim[]>, values: Record<string, Float64Array>, e: Expr, size: { B: number; H: number; K: number }) {
  const def = defineVariant({ name: 'gate_host', inputs, q: () => 0, k: () => e, v: () => 1, decay: 'none', correction: 'none', scale: 1 });
  const { B, H, K } = size;
  return referenceForward(def, values, { B, T: 1, H, K, V: 1 }).ht;
}

const S = { B: 16, H: 2, K: 8 };
const BHK = S.B * S.H * S.K;
const BH = S.B * S.H;

/** A [B,1,H] array broadcast over K (the probe's index space). */
function overK(a: Float64Array): Float64Array {
  return Float64Array.from({ length: a.length * S.K }, (_, i) => a[Math.floor(i / S.K)]!);
}

describe('gate helpers equal their models\' formulas, elementwise (float64 evaluator and GPU)', () => {
  // Pre-activations spanning softplus' threshold (20) and its flat negative side.
  const pre = f32s(BHK, uniform(-25, 25));
  const aLog = f32s(S.H, uniform(-2, 2));

  it("Qwen3-Next: qwen3NextGate = -A_log.exp() * softplus(a + dt_bias), per head", async () => {
    const a = f32s(BH, uniform(-25, 25));
    const dtBias = f32s(S.H, uniform(-3, 3));
    const want = overK(qwen3NextG(aLog, a, dtBias, S.H));
    const dims = { A_log: ['H'], a: ['B', 'T', 'H'], dt_bias: ['H'] } as Record<string, Dim[]>;
    const values = { A_log: aLog, a, dt_bias: dtBias };
    const build = (i: Record<string, Expr>) => qwen3NextGate(i.A_log!, i.a!, i.dt_bias!);
    expectClose(onHost(dims, values, build({ A_log: input('A_log'), a: input('a'), dt_bias: input('dt_bias') }), S), want, 1e-15, 1e-13, 'host');
    expectClose(await onGpu(dims, values, build, S), want, 2e-6, 2e-6, 'GPU');
  });

  for (const perKey of [true, false]) {
    const biasDims: Dim[] = perKey ? ['H', 'K'] : ['H'];
    const dtBias = f32s(perKey ? S.H * S.K : S.H, uniform(-3, 3));
    const dims = { A_log: ['H'], g: ['B', 'T', 'H', 'K'], dt_bias: biasDims } as Record<string, Dim[]>;
    const values = { A_log: aLog, g: pre, dt_bias: dtBias };
    const handles = { A_log: input('A_log'), g: input('g'), dt_bias: input('dt_bias') };

    it(`Kimi-Linear: kimiLinearGate = -A_log.exp() * softplus(g + dt_bias), dt_bias ${perKey ? '[H,K]' : '[H]'}`, async () => {
      const want = kimiLinearG(aLog, pre, dtBias, S.H, S.K);
      const build = (i: Record<string, Expr>) => kimiLinearGate(i.A_log!, i.g!, i.dt_bias!);
      expectClose(onHost(dims, values, build(handles), S), want, 1e-15, 1e-13, 'host');
      expectClose(await onGpu(dims, values, build, S), want, 2e-6, 2e-6, 'GPU');
    });

    it(`GLM: glmGate = lower_bound * sigmoid(A_log.exp() * (g + dt_bias)), dt_bias ${perKey ? '[H,K]' : '[H]'}, bounds -5 and -2`, async () => {
      for (const lb of [-5, -2]) {
        const want = glmG(aLog, pre, dtBias, S.H, S.K, lb);
        const build = (i: Record<string, Expr>) => glmGate(i.A_log!, i.g!, i.dt_bias!, lb);
        expectClose(onHost(dims, values, build(handles), S), want, 1e-15, 1e-13, `host, bound ${lb}`);
        expectClose(await onGpu(dims, values, build, S), want, 2e-6, 2e-6, `GPU, bound ${lb}`);
        // The two KDA gates are different models: on these inputs they differ by far more than rounding.
        expect(relL2(want, kimiLinearG(aLog, pre, dtBias, S.H, S.K))).toBeGreaterThan(0.1);
      }
    });
  }

  it('kdaGate (deprecated) builds exactly glmGate\'s expression', () => {
    const [A, a, d] = [input('A_log'), input('g'), input('dt_bias')];
    expect(kdaGate(A, a, d).node).toEqual(glmGate(A, a, d).node);
    expect(kdaGate(A, a, d, -3).node).toEqual(glmGate(A, a, d, -3).node);
  });

  const dtCases: { name: string; bias: boolean; softplus: boolean; limit?: [number, number] }[] = [
    { name: 'Mamba2 layer: bias, softplus, default dt_limit (0, inf)', bias: true, softplus: true },
    { name: 'bias, softplus, dt_limit (0.05, 1.5)', bias: true, softplus: true, limit: [0.05, 1.5] },
    { name: 'kernel defaults: no bias, no softplus, dt_limit (0, inf) clamps at 0', bias: false, softplus: false },
    { name: 'bias, no softplus, dt_limit (-0.5, 2)', bias: true, softplus: false, limit: [-0.5, 2] },
  ];
  for (const c of dtCases) {
    it(`mamba: mambaDt(dt, { dtBias, dtSoftplus, dtLimit }), ${c.name}`, async () => {
      const dt = f32s(BH, uniform(-25, 25));
      const dtBias = f32s(S.H, uniform(-2, 2));
      const want = overK(mambaDtRef(dt, c.bias ? dtBias : null, c.softplus, c.limit ?? [0, Infinity], S.H));
      const dims = { dt: ['B', 'T', 'H'], ...(c.bias ? { dt_bias: ['H'] } : {}) } as Record<string, Dim[]>;
      const values = { dt, ...(c.bias ? { dt_bias: dtBias } : {}) };
      const build = (i: Record<string, Expr>) => mambaDt(i.dt!, { ...(c.bias ? { dtBias: i.dt_bias! } : {}), dtSoftplus: c.softplus, ...(c.limit ? { dtLimit: c.limit } : {}) });
      expectClose(onHost(dims, values, build({ dt: input('dt'), dt_bias: input('dt_bias') }), S), want, 1e-15, 1e-13, 'host');
      expectClose(await onGpu(dims, values, build, S), want, 2e-6, 2e-6, 'GPU');
    });
  }

  it('mamba: the original mambaDt(dt, dt_bias, [lo, hi]) form is unchanged (softplus, then the clamp)', () => {
    const read = (vals: Record<string, number>) => (n: string) => vals[n]!;
    for (let i = 0; i < 40; i++) {
      const v = { dt: 6 * r.normal(), d: r.normal() };
      const want = mambaDtRef([v.dt], [v.d], true, [0.05, 1.5], 1)[0]!;
      expect(evaluate(mambaDt(input('dt'), input('d'), [0.05, 1.5]).node, read(v), 0)).toBeCloseTo(want, 13);
    }
  });

  it('RWKV-6: rwkv6LogDecay(ww, time_decay) = log(exp(-exp(time_decay + ww)))', async () => {
    const ww = f32s(BHK, uniform(-6, 2));
    const td = f32s(S.H * S.K, uniform(-2, 1));
    const want = rwkv6LogW(ww, td, S.H * S.K);
    const dims = { w: ['B', 'T', 'H', 'K'], time_decay: ['H', 'K'] } as Record<string, Dim[]>;
    const values = { w: ww, time_decay: td };
    const build = (i: Record<string, Expr>) => rwkv6LogDecay(i.w!, i.time_decay!);
    expectClose(onHost(dims, values, build({ w: input('w'), time_decay: input('time_decay') }), S), want, 1e-15, 1e-13, 'host');
    expectClose(await onGpu(dims, values, build, S), want, 2e-6, 2e-6, 'GPU');
    // Without time_decay: -exp(w).
    const alone = rwkv6LogW(ww, new Float64Array(S.H * S.K), S.H * S.K);
    expectClose(onHost({ w: dims.w! }, { w: ww }, rwkv6LogDecay(input('w')), S), alone, 1e-15, 1e-13, 'host, w alone');
  });

  it('refuse bounds that make no sense, naming the helper and the limit', () => {
    const [A, a, d] = [input('A'), input('a'), input('d')];
    expect(() => glmGate(A, a, d, 0)).toThrow(/glmGate: lowerBound must be negative and finite.*got 0/);
    expect(() => glmGate(A, a, d, -Infinity)).toThrow(/glmGate: lowerBound/);
    expect(() => kdaGate(A, a, d, 2)).toThrow(/kdaGate: lowerBound must be negative/);
    expect(() => mambaDt(input('dt'), { dtLimit: [1, 0] })).toThrow(/dtLimit \(mamba's dt_limit\) must be \[lo, hi\].*\[1,0\]/);
    expect(() => mambaDt(input('dt'), { dtLimit: [Number.NaN, 1] as [number, number] })).toThrow(/dtLimit/);
    expect(() => mambaDt(input('dt'), { dt_bias: d } as never)).toThrow(/unknown option 'dt_bias'; options: dtBias, dtSoftplus, dtLimit/);
    expect(() => mambaDt(input('dt'), { dtSoftplus: 'yes' } as never)).toThrow(/dtSoftplus must be a boolean/);
  });
});

// ---- Through a forward: the spec built from the helper vs the model's gate fed to the built-in.

// K = 16, V = 8, FLA's first fixture case: the layers' kernels that do not read their own inputs
// are that case's, compiled once per run.
const size: ProblemSize = { B: 2, T: 21, H: 2, K: 16, V: 8 };
const n = (dims: readonly Dim[], s: ProblemSize = size) => dims.reduce((p, d) => p * s[d], 1);
const normal = (len: number, sd = 1) => f32s(len, () => sd * r.normal());

/** Kimi-Linear's / GLM's KDA layer as its code calls chunk_kda: raw g, A_log, dt_bias [H,K],
 * b (beta = b.sigmoid()), q and k L2-normalized in the kernel. */
const kdaLayer = (gate: 'kimi' | 'glm') => defineVariant({
  name: gate === 'kimi' ? 'kimi_linear_kda' : 'glm_kda', l2norm: ['q', 'k'],
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'], A_log: ['H'], dt_bias: ['H', 'K'], b: ['B', 'T', 'H'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal', logDecay: ({ A_log, g, dt_bias }) => (gate === 'kimi' ? kimiLinearGate(A_log, g, dt_bias) : glmGate(A_log, g, dt_bias, -5)),
  correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
});

async function forwardAgainst(def: VariantDef, inputs: Record<string, Float64Array>, opts: { H: number; HV?: number; scale?: number },
  builtin: VariantDef, builtinInputs: Record<string, Float64Array>, refSize: ProblemSize) {
  const r2 = rng(7);
  const h0 = f32s(refSize.B * refSize.H * refSize.K * refSize.V, () => r2.normal());
  const want = referenceForward(builtin, builtinInputs, refSize, { h0, ...(opts.scale !== undefined ? { scale: opts.scale } : {}) });
  // lae's reference of the helper spec is the same computation to float64 rounding.
  const host = referenceForward(def, inputs, refSize, { h0, ...(opts.scale !== undefined ? { scale: opts.scale } : {}) });
  expect(relL2(host.o, want.o), 'reference o').toBeLessThan(1e-12);
  expect(relL2(host.ht, want.ht), 'reference ht').toBeLessThan(1e-12);
  const engine = await getEngine();
  const got = await engine.variant(def).forward({ ...inputs, h0 }, {
    B: refSize.B, T: refSize.T, H: opts.H, ...(opts.HV ? { HV: opts.HV } : {}), K: refSize.K, V: refSize.V, chunkSize: 16,
    outputFinalState: true, poisonOutputs: true, ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
  });
  expect(relL2(got.o, want.o), 'GPU o').toBeLessThan(1e-4);
  expect(relL2(got.ht!, want.ht), 'GPU ht').toBeLessThan(1e-4);
}

describe('model layers through a forward: helper spec on the GPU vs the built-in fed the model\'s own gate', () => {
  it('Qwen3-Next (num_k_heads 2, num_v_heads 4): gated_delta_rule with qwen3NextGate, sigmoid beta, l2norm q/k', async () => {
    const H = 2, HV = 4;
    const s: ProblemSize = { ...size, H: HV, G: HV / H };
    const def = defineVariant({
      name: 'qwen3_next_gdn', l2norm: ['q', 'k'],
      inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], a: ['B', 'T', 'H'], A_log: ['H'], dt_bias: ['H'], b: ['B', 'T', 'H'] },
      q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'scalar', logDecay: ({ A_log, a, dt_bias }) => qwen3NextGate(A_log, a, dt_bias),
      correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
    });
    const qk = size.B * size.T * H * size.K;
    const inputs = {
      q: normal(qk), k: normal(qk), v: normal(n(['B', 'T', 'H', 'V'], s)), a: normal(size.B * size.T * HV, 2),
      A_log: f32s(HV, uniform(-1, 1)), dt_bias: f32s(HV, uniform(-1, 1)), b: normal(size.B * size.T * HV),
    };
    const builtinInputs = {
      q: flaL2norm(inputs.q, size.K), k: flaL2norm(inputs.k, size.K), v: inputs.v,
      g: qwen3NextG(inputs.A_log, inputs.a, inputs.dt_bias, HV), beta: inputs.b.map(torchSigmoid),
    };
    await forwardAgainst(def, inputs, { H, HV }, VARIANTS.gated_delta_rule, builtinInputs, s);
  });

  for (const gate of ['kimi', 'glm'] as const) {
    it(`${gate === 'kimi' ? 'Kimi-Linear: kda with kimiLinearGate' : 'GLM: kda with glmGate(-5)'} (dt_bias [H,K]), sigmoid beta, l2norm q/k`, async () => {
      const def = kdaLayer(gate);
      const qk = n(['B', 'T', 'H', 'K']);
      const inputs = {
        q: normal(qk), k: normal(qk), v: normal(n(['B', 'T', 'H', 'V'])), g: normal(qk, 2),
        A_log: f32s(size.H, uniform(-1, 1)), dt_bias: normal(size.H * size.K), b: normal(n(['B', 'T', 'H'])),
      };
      const g = gate === 'kimi'
        ? kimiLinearG(inputs.A_log, inputs.g, inputs.dt_bias, size.H, size.K)
        : glmG(inputs.A_log, inputs.g, inputs.dt_bias, size.H, size.K, -5);
      const builtinInputs = { q: flaL2norm(inputs.q, size.K), k: flaL2norm(inputs.k, size.K), v: inputs.v, g, beta: inputs.b.map(torchSigmoid) };
      await forwardAgainst(def, inputs, { H: size.H }, VARIANTS.kda, builtinInputs, size);
    });
  }

  it('RWKV-6: rwkv6 with rwkv6LogDecay(w, time_decay), u = time_faaaa, scale 1', async () => {
    const def = defineVariant({
      name: 'rwkv6_layer',
      inputs: { r: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], w: ['B', 'T', 'H', 'K'], time_decay: ['H', 'K'], time_faaaa: ['H', 'K'] },
      q: ({ r: rr }) => rr, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'diagonal', logDecay: ({ w, time_decay }) => rwkv6LogDecay(w, time_decay),
      correction: 'none', bonus: 'u', u: ({ time_faaaa }) => time_faaaa,
    });
    const qk = n(['B', 'T', 'H', 'K']);
    const inputs = {
      r: normal(qk), k: normal(qk), v: normal(n(['B', 'T', 'H', 'V'])), w: f32s(qk, uniform(-4, 1)),
      time_decay: f32s(size.H * size.K, uniform(-2, 0.5)), time_faaaa: normal(size.H * size.K),
    };
    const builtinInputs = { q: inputs.r, k: inputs.k, v: inputs.v, w: rwkv6LogW(inputs.w, inputs.time_decay, size.H * size.K), u: inputs.time_faaaa };
    await forwardAgainst(def, inputs, { H: size.H, scale: 1 }, VARIANTS.rwkv6, builtinInputs, size);
  });
});

describe('the new helpers differentiate: GPU backward vs the reference, the reference vs finite differences', () => {
  async function checkBackward(def: VariantDef, inputs: Record<string, Float64Array>, fd: string[]) {
    const r2 = rng(9);
    const h0 = f32s(size.B * size.H * size.K * size.V, () => r2.normal());
    const dO = f32s(n(['B', 'T', 'H', 'V']), () => r2.normal());
    const dht = f32s(h0.length, () => r2.normal());
    const engine = await getEngine();
    const grads = await engine.variant(def).backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, chunkSize: 16, poisonOutputs: true });
    const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
    for (const name of Object.keys(want)) expect(relL2(grads[name]!, want[name]!), name).toBeLessThan(1e-4);
    const loss = referenceLoss(def, inputs, size, h0, dO, dht);
    for (const name of fd) expect(relL2(want[`d${name}`]!, centralDiff(inputs[name]!, loss)), `d${name} vs finite differences`).toBeLessThan(1e-6);
  }

  it('Kimi-Linear gate with per-key dt_bias', async () => {
    const qk = n(['B', 'T', 'H', 'K']);
    const k = flaL2norm(normal(qk), size.K);
    await checkBackward(kdaLayer('kimi'), {
      q: normal(qk), k, v: normal(n(['B', 'T', 'H', 'V'])), g: normal(qk), A_log: f32s(size.H, uniform(-1, 0.5)),
      dt_bias: normal(size.H * size.K), b: normal(n(['B', 'T', 'H'])),
    }, ['g', 'A_log', 'dt_bias']);
  });

  it('RWKV-6 log-decay with time_decay', async () => {
    const def = defineVariant({
      name: 'rwkv6_layer_bwd',
      inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], w: ['B', 'T', 'H', 'K'], time_decay: ['H', 'K'], u: ['H', 'K'] },
      q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'diagonal', logDecay: ({ w, time_decay }) => rwkv6LogDecay(w, time_decay),
      correction: 'none', bonus: 'u', u: ({ u }) => u,
    });
    const qk = n(['B', 'T', 'H', 'K']);
    await checkBackward(def, {
      q: normal(qk), k: normal(qk), v: normal(n(['B', 'T', 'H', 'V'])), w: f32s(qk, uniform(-3, 0.5)),
      time_decay: f32s(size.H * size.K, uniform(-1, 0.5)), u: normal(size.H * size.K),
    }, ['w', 'time_decay']);
  });
});
