// Bad input and the options around it: positive log-decays refused (with the opt-out),
// checkFinite naming the first NaN/Inf, the state-layout option for h0/ht/dh0/step state, and a
// fuzz of the host API: wrong shapes, dtypes and option names (every call works or throws a
// clear error, and the device survives), hard resets, extreme gates and NaN in late tokens (every
// call that runs matches the float64 reference, non-finite elements included), and overlapping
// calls whose arguments are edited while they run.
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { NonFiniteError } from '../runtime/limits.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

// K = 16, V = 8: the head dims of FLA's first fixture case, whose plans test/backward.test.ts
// and test/forward-fixtures.test.ts compile (chunks of 16, the token-sequential kernel), so
// lavapipe compiles them once per run.
const size = { B: 1, T: 20, H: 2, K: 16, V: 8 };
/** The fuzz's head dims: those of test/backward.test.ts's chunk-64 case (and test/tensor-cores.test.ts's),
 * whose forward and backward plans at the default chunk (64) that file compiles. */
const FUZZ = { K: 48, V: 40 };

/** [B,H,K,V] <-> [B,H,V,K]. */
function transposeState(s: Float32Array | Float64Array, B: number, H: number, R: number, C: number): Float32Array {
  const out = new Float32Array(s.length);
  for (let bh = 0; bh < B * H; bh++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[(bh * C + c) * R + r] = s[(bh * R + r) * C + c]!;
  return out;
}

describe('positive log-decays', () => {
  it('a positive gate input is refused with its index, and the opt-out runs', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, size, 1, true);
    const g = inputs.g!.slice();
    g[(0 * size.T + 7) * size.H * size.K + 1 * size.K + 3] = 0.25;
    await expect(op.forward({ ...inputs, g }, size)).rejects.toThrow(/input 'g' \(the log-decay\) is 0\.25 > 0 at \[B=0,T=7,H=1,K=3\].*allowPositiveLogDecay/);
    await expect(op.backward({ ...inputs, g }, { do: new Float32Array(size.B * size.T * size.H * size.V).fill(1) }, size)).rejects.toThrow(/log-decay/);
    const { o } = await op.forward({ ...inputs, g }, { ...size, allowPositiveLogDecay: true });
    const ref = referenceForward(op.def, { ...inputs, g }, size, { h0: inputs.h0 });
    expect(relL2(o, ref.o)).toBeLessThan(1e-4);
    // The token-sequential mode does not need the check.
    await op.forward({ ...inputs, g }, { ...size, mode: 'recurrent' });
  });
  it('a positive decay computed by the spec (mamba2: A * dt) names the role and its inputs', async () => {
    const engine = await getEngine();
    const op = engine.variant('mamba2_ssd');
    const inputs = sampleInputs(op.def, size, 1, true);
    const A = inputs.A!.slice();
    A[1] = 0.5;
    await expect(op.forward({ ...inputs, A }, size)).rejects.toThrow(/log-decay of 'mamba2_ssd' is .* > 0 at \[B=0,T=0,H=1\] \(from its inputs 'dt', 'A'\)/);
  });
});

describe('checkFinite', () => {
  it('names the first NaN input by tensor and index', async () => {
    const engine = await getEngine();
    const op = engine.variant('simple_gla');
    const inputs = sampleInputs(op.def, size, 2, true);
    const q = inputs.q!.slice();
    q[5 * size.H * size.K + size.K + 1] = Number.NaN;
    await expect(op.forward({ ...inputs, q }, { ...size, checkFinite: true })).rejects.toThrow(NonFiniteError);
    await expect(op.forward({ ...inputs, q }, { ...size, checkFinite: true })).rejects.toThrow(/input 'q' has NaN at \[0,5,1,1\]/);
  });
  it('names an output that overflowed; without the option the call returns', async () => {
    const engine = await getEngine();
    const op = engine.variant('linear_attn');
    const inputs = sampleInputs(op.def, size, 3, false);
    const v = inputs.v!.map(() => 3e38);
    const k = inputs.k!.map((x) => Math.abs(x) + 1);
    await expect(op.forward({ ...inputs, k, v }, { ...size, checkFinite: true })).rejects.toThrow(/output '(o|ht)' has -?Infinity at \[/);
    const { o } = await op.forward({ ...inputs, k, v }, size);
    expect(o.some((x) => !Number.isFinite(x))).toBe(true);
  });
  it('checks the backward seeds and gradients too', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, size, 4, true);
    const dO = new Float32Array(size.B * size.T * size.H * size.V).fill(0.5);
    dO[3] = Number.POSITIVE_INFINITY;
    await expect(op.backward(inputs, { do: dO }, { ...size, checkFinite: true })).rejects.toThrow(/seed 'do' has Infinity at \[0,0,0,3\]/);
  });
});

// One variant per kernel family: per-key decay (gla), the delta rule (gated_delta_rule), the
// bonus form (rwkv6), and a V-first spec switched to K-first (mamba2_ssd). The layout enters the
// kernels only through KernelSource.stateIndex, shared by every stage.
describe.each(['gla', 'gated_delta_rule', 'rwkv6', 'mamba2_ssd'] as const)('%s with the other state layout', (name) => {
  it('h0, ht, dh0, dht and the step state follow the chosen layout', async () => {
    const engine = await getEngine();
    const base = engine.variant(name);
    const other = base.def.stateLayout === 'kv' ? 'vk' : 'kv';
    const op = engine.variant(name, { stateLayout: other });
    expect(op.def.stateLayout).toBe(other);
    expect(op.def.hash).not.toBe(base.def.hash);
    const { K, V, B, H } = size;
    // Base layout is [B,H,R,C]; the other is its transpose.
    const [R, C] = base.def.stateLayout === 'kv' ? [K, V] : [V, K];
    const inputs = sampleInputs(base.def, size, 5, true);
    const h0Other = transposeState(inputs.h0!, B, H, R, C);
    const want = await base.forward(inputs, { ...size, chunkSize: 16 });
    const got = await op.forward({ ...inputs, h0: h0Other }, { ...size, chunkSize: 16 });
    expect(relL2(got.o, want.o)).toBeLessThan(1e-6);
    expect(relL2(got.ht!, transposeState(want.ht!, B, H, R, C))).toBeLessThan(1e-6);
    const r = rng(6);
    const dO = Float32Array.from({ length: B * size.T * H * V }, () => r.normal());
    const dht = Float32Array.from({ length: B * H * K * V }, () => r.normal());
    const { h0, ...rest } = inputs;
    const ref = referenceBackward(base.def, rest, size, { do: dO, dht }, { h0 });
    const grads = await op.backward({ ...inputs, h0: h0Other }, { do: dO, dht: transposeState(dht, B, H, R, C) }, { ...size, chunkSize: 16 });
    expect(relL2(grads.dh0!, transposeState(ref.dh0!, B, H, R, C))).toBeLessThan(1e-4);
    for (const d of base.def.inputs) expect(relL2(grads[`d${d.name}`]!, ref[`d${d.name}`]!), d.name).toBeLessThan(1e-4);
    // Two decode steps from h0 in the other layout end in the forward's state after two tokens.
    const first2 = sampleInputs(base.def, { ...size, T: 2 }, 7, true);
    const { h0: s0, ...tokens } = first2;
    const state = transposeState(s0!, B, H, R, C);
    await op.step(tokens, state, { B, H, K, V, N: 2 });
    const ref2 = referenceForward(base.def, tokens, { ...size, T: 2 }, { h0: s0 });
    expect(relL2(state, transposeState(ref2.ht, B, H, R, C))).toBeLessThan(1e-5);
  });
});


type Host = Record<string, Float32Array | Float64Array>;

/** The float64 reference of a call the fuzz made, packed sequences run one by one (every input
 * of the fuzzed variants is [1, T, H, ...] then). */
function reference(def: VariantDef, inputs: Host, s: ProblemSize, cu: readonly number[] | undefined, dO?: Float32Array) {
  const { h0, ...rest } = inputs;
  const bounds = cu ?? [0, s.T];
  const S = bounds.length - 1;
  const rows = cu ? S : s.B;
  const state = s.H * s.K * s.V;
  const o = new Float64Array(s.B * s.T * s.H * s.V);
  const ht = new Float64Array(rows * state);
  const grads: Record<string, Float64Array> = Object.fromEntries([...def.inputs.map((d) => [`d${d.name}`, new Float64Array(rest[d.name]!.length)]), ['dh0', new Float64Array(rows * state)]]);
  for (let q = 0; q < (cu ? S : 1); q++) {
    const [t0, t1] = [bounds[q]!, bounds[q + 1]!];
    const part = cu ? { ...s, B: 1, T: t1 - t0 } : s;
    const at = (a: ArrayLike<number>, width: number) => (cu ? Float64Array.from(a).slice(t0 * s.H * width, t1 * s.H * width) : Float64Array.from(a));
    const width = (name: string) => rest[name]!.length / (s.B * s.T * s.H);
    const mine: Host = Object.fromEntries(Object.keys(rest).map((n) => [n, at(rest[n]!, width(n))]));
    const myH0 = h0 && (cu ? h0.slice(q * state, (q + 1) * state) : h0);
    if (t1 > t0) {
      const ref = referenceForward(def, mine, part, { h0: myH0 });
      o.set(ref.o, cu ? t0 * s.H * s.V : 0);
      ht.set(ref.ht, cu ? q * state : 0);
    } else {
      ht.set(myH0 ?? new Float64Array(state), q * state);
    }
    if (dO && t1 > t0) {
      const g = referenceBackward(def, mine, part, { do: at(dO, s.V) }, { h0: myH0 });
      for (const d of def.inputs) grads[`d${d.name}`]!.set(g[`d${d.name}`]!, cu ? t0 * s.H * width(d.name) : 0);
      grads.dh0!.set(g.dh0!, cu ? q * state : 0);
    }
  }
  return { o, ht, grads };
}

/** Same non-finite elements, and the finite ones within 1e-4 (relative L2). A reference that is
 * all but zero is measured against an RMS of 1e-3 instead of its own norm: the gate gradient of
 * a call whose every token resets is exp(-Inf) = 0 in the reference and, in the chunked
 * backward, the rounding residue of q.dq - k.dk (terms of order 1 that cancel). */
function expectLikeReference(got: ArrayLike<number>, ref: ArrayLike<number>, what: string) {
  expect(got.length, what).toBe(ref.length);
  const a: number[] = [];
  const b: number[] = [];
  let differ = -1;
  for (let i = 0; i < ref.length; i++) {
    const f = Number.isFinite(ref[i]!);
    if (Number.isFinite(got[i]!) !== f) { differ = i; break; }
    if (f) { a.push(got[i]!); b.push(ref[i]!); }
  }
  expect(differ, `${what}: first element finite in one and not the other`).toBe(-1);
  if (!b.length) return;
  const norm = Math.sqrt(b.reduce((acc, x) => acc + x * x, 0));
  const floor = 1e-3 * Math.sqrt(b.length);
  expect(norm >= floor ? relL2(a, b) : relL2(a, b) * norm / floor, what).toBeLessThan(1e-4);
}

/** Hard resets and extreme gates, NaN in a late token, or (rarely) a positive gate. */
function injectExtremes(def: VariantDef, x: Host, s: ProblemSize, r: ReturnType<typeof rng>, pick: <T>(xs: readonly T[]) => T) {
  const done = { nan: false, positive: false };
  const perToken = (name: string) => x[name]!.length / (s.B * s.T);
  if (r.uniform() < 0.5) {
    const g = x.g!;
    const w = perToken('g');
    for (let n = 0; n < 1 + Math.floor(r.uniform() * 3); n++) {
      const at = Math.floor(r.uniform() * s.B * s.T) * w;
      const value = pick([-Infinity, -3.4e38, -1e30, -200]);
      const all = r.uniform() < 0.5;
      for (let j = 0; j < w; j++) if (all || j === 0) g[at + j] = value;
    }
  }
  // NaN or Inf in a late token of q, k or v. (Not in the gate: the chunked backward takes the
  // decay between two tokens as a difference of in-chunk cumsums, so a NaN gate makes the key
  // and value gradients of the tokens after it in its chunk NaN too, where the recurrence's are
  // finite. The forward is exact there.)
  if (r.uniform() < 0.35) {
    const name = pick(['v', 'k', 'q']);
    const w = perToken(name);
    const t = Math.floor(s.T / 2) + Math.floor(r.uniform() * Math.ceil(s.T / 2));
    const b = Math.floor(r.uniform() * s.B);
    x[name]![(b * s.T + Math.min(t, s.T - 1)) * w + Math.floor(r.uniform() * w)] = pick([Number.NaN, Number.NaN, Infinity]);
    done.nan = true;
  }
  if (r.uniform() < 0.05) {
    x.g![Math.floor(r.uniform() * x.g!.length)] = 0.5;
    done.positive = true;
  }
  return done;
}

describe('fuzzing the host API', () => {
  it('random wrong shapes, types and option names: every call works or throws a clear error; what runs matches the reference, extreme and non-finite values included; the device survives', async () => {
    const engine = await getEngine();
    const r = rng(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length)]!;
    const makers: ((n: number) => unknown)[] = [
      (n) => new Float32Array(n), (n) => new Float64Array(n), (n) => new Float32Array(Math.max(0, n - 1)),
      (n) => new Float32Array(n + 3), (n) => new Uint16Array(n), (n) => new Int32Array(n), (n) => Array.from({ length: n }, () => 0.1),
      () => undefined, () => null, () => 'q', () => 3,
    ];
    let threw = 0, ran = 0, checked = 0, extreme = 0;
    // Few variants and one head-dim pair, so the fuzz spends its time on calls, not on compiling
    // (FUZZ: those plans are compiled anyway).
    for (let trial = 0; trial < 80; trial++) {
      const name = pick(['gla', 'gated_delta_rule'] as const);
      const op = engine.variant(name);
      const s = { B: pick([1, 2]), T: pick([1, 5, 17]), H: pick([1, 2]), ...FUZZ };
      const good = sampleInputs(op.def, s, trial, r.uniform() < 0.5);
      const injected = injectExtremes(op.def, good, s, r, pick);
      if (injected.nan || Object.values(good).some((a) => a.some((v) => v < -1e29))) extreme++;
      const bad: Record<string, unknown> = { ...good };
      const victim = pick([...op.def.inputs.map((i) => i.name), 'h0', 'extra']);
      const n = (good[victim]?.length ?? 8);
      if (r.uniform() < 0.6) bad[victim] = pick(makers)(n);
      const opts: Record<string, unknown> = { ...s };
      if (r.uniform() < 0.15) opts[pick(['B', 'T', 'H', 'K', 'V'])] = pick([0, -1, 1.5, 300, Number.NaN, '4']);
      if (r.uniform() < 0.1) opts.chunkSize = pick([8, 48, 128, '64']);
      // Misspelled or misplaced option names: always an error naming them.
      if (r.uniform() < 0.1) opts[pick(['cu_seqlens', 'checkfinite', 'chunk_size', 'h0', 'allowPositiveLogdecay'])] = pick([true, [0, s.T], 16]);
      // Packed sequences: valid offsets (then h0 and the step state need one row per sequence)
      // or offsets that are wrong in one way each.
      if (r.uniform() < 0.2) {
        opts.cuSeqlens = pick([
          Int32Array.from([0, Math.floor(s.T / 2), s.T]), [0, s.T], Int32Array.from([0, s.T, s.T]),
          Int32Array.from([0, s.T + 1]), Int32Array.from([1, s.T]), Int32Array.from([0, 3, 2, s.T]), [0], new Float32Array([0, s.T]), 'x', [0, 0.5, s.T],
        ]);
      }
      const call = pick(['forward', 'backward', 'step'] as const);
      // What the call is given, as given (the call must not be affected by the edits below).
      const given = Object.fromEntries(Object.entries(bad).map(([k, v]) => [k, ArrayBuffer.isView(v) ? (v as Float32Array).slice() : v]));
      const dO = Float32Array.from({ length: s.B * s.T * s.H * s.V }, () => r.normal());
      const doGiven = dO.slice();
      const { T: _T, chunkSize: _c, ...stepOpts } = opts;
      const stateLen = (Array.isArray(opts.cuSeqlens) || ArrayBuffer.isView(opts.cuSeqlens) ? Math.max(1, (opts.cuSeqlens as ArrayLike<number>).length - 1) : s.B) * s.H * s.K * s.V;
      const state = new Float32Array(stateLen).map(() => 0.5 * r.normal());
      const state0 = state.slice();
      const { h0: _h0, ...tok } = bad;
      try {
        const pending = call === 'forward' ? op.forward(bad as never, opts as never)
          : call === 'backward' ? op.backward(bad as never, { do: dO }, opts as never)
            : op.step(tok as never, state, { ...stepOpts, N: s.T } as never);
        // Edits after the call: the call already read its arguments.
        for (const v of Object.values(bad)) if (v instanceof Float32Array) v.fill(7);
        dO.fill(Number.NaN);
        const out = await pending;
        ran++;
        if (injected.positive && call !== 'step') throw new Error('a positive log-decay was not refused');
        // It ran: the arguments were valid, so the reference can take them as given.
        const size = { B: opts.B, T: opts.T, H: opts.H, K: opts.K, V: opts.V } as ProblemSize;
        const cu = opts.cuSeqlens === undefined ? undefined : Array.from(opts.cuSeqlens as ArrayLike<number>);
        const host = given as Host;
        if (call === 'forward') {
          const ref = reference(op.def, host, size, cu);
          const res = out as { o: Float32Array; ht: Float32Array };
          expectLikeReference(res.o, ref.o, `trial ${trial} ${name} forward o`);
          expectLikeReference(res.ht, ref.ht, `trial ${trial} ${name} forward ht`);
        } else if (call === 'backward') {
          const ref = reference(op.def, host, size, cu, doGiven);
          const grads = out as Record<string, Float32Array>;
          for (const [k, v] of Object.entries(ref.grads)) {
            if (k === 'dh0' && !host.h0) continue;
            // Known: with a NaN in the forward's values, the chunked gate gradient (a reverse
            // in-chunk cumsum of q.dq - k.dk) is NaN over the chunk where the reference's
            // per-token dg is NaN only from the token on.
            if (k === 'dg' && injected.nan) continue;
            expectLikeReference(grads[k]!, v, `trial ${trial} ${name} backward ${k}`);
          }
        } else {
          const { h0: _x, ...tokens } = host;
          const ref = reference(op.def, { ...tokens, h0: state0 }, { ...size, T: s.T }, cu);
          expectLikeReference((out as { o: Float32Array }).o, ref.o, `trial ${trial} ${name} step o`);
          expectLikeReference(state, ref.ht, `trial ${trial} ${name} step state`);
        }
        checked++;
      } catch (e) {
        if (e instanceof Error && e.name === 'AssertionError') throw e;
        threw++;
        expect(e).toBeInstanceOf(Error);
        const msg = (e as Error).message;
        expect(msg.length, msg).toBeGreaterThan(20);
        // A clear error names what is wrong: a tensor, an option, or a limit.
        expect(msg, msg).toMatch(/input|seed|option|state|chunk|tensor|exceeds|supported|must be|missing|unknown|log-decay|head dim|cuSeqlens/i);
      }
    }
    expect(threw).toBeGreaterThan(10);
    expect(checked).toBeGreaterThan(10);
    expect(extreme).toBeGreaterThan(10);
    expect(ran).toBe(checked);
    // The device is still usable.
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, size, 1, true);
    const { o } = await op.forward(inputs, size);
    expect(relL2(o, referenceForward(op.def, inputs, size, { h0: inputs.h0 }).o)).toBeLessThan(1e-4);
  }, 600_000);

  it('overlapping calls on shared arguments, edited while they run: each matches its reference; one saved serves one backward; steps on one state run in turn', async () => {
    const engine = await getEngine();
    const r = rng(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length)]!;
    const s: ProblemSize = { B: 1, T: 17, H: 2, ...FUZZ };
    const so = { B: 1, H: 2, ...FUZZ, N: 17 };
    for (let round = 0; round < 6; round++) {
      const name = pick(['gla', 'gated_delta_rule'] as const);
      const op = engine.variant(name);
      const x = sampleInputs(op.def, s, 100 + round, true);
      injectExtremes(op.def, x, s, r, pick);
      const g = x.g!;
      for (let i = 0; i < g.length; i++) if (g[i]! > 0) g[i] = -1;
      const given = structuredClone(x);
      const { h0, ...tokens } = given;
      const dO = Float32Array.from({ length: s.T * s.H * s.V }, () => r.normal());
      const doGiven = dO.slice();
      const { saved } = await op.forward(x, { ...s, saveForBackward: true });
      const state = h0!.slice();
      const { h0: _h0, ...tok } = x;
      // Everything at once: two forwards, a recomputing backward, two backwards on one saved,
      // and two steps on one state (the second continuing from the first).
      const calls = [
        op.forward(x, s), op.forward(x, { ...s, chunkSize: 64, outputFinalState: false }),
        op.backward(x, { do: dO }, s),
        op.backward(x, { do: dO }, { ...s, saved }), op.backward(x, { do: dO }, { ...s, saved }),
        op.step(tok, state, so), op.step(tok, state, so),
      ];
      // The caller edits everything while the calls run, positive gates included.
      for (const a of Object.values(x)) a.fill(3);
      dO.fill(Number.NaN);
      const res = await Promise.allSettled(calls);
      const ref = reference(op.def, given, s, undefined, doGiven);
      const value = <T>(i: number) => {
        const p = res[i]!;
        if (p.status === 'rejected') throw p.reason;
        return p.value as T;
      };
      for (const i of [0, 1]) expectLikeReference(value<{ o: Float32Array }>(i).o, ref.o, `round ${round} ${name} forward ${i}`);
      expectLikeReference(value<{ ht: Float32Array }>(0).ht, ref.ht, `round ${round} ${name} forward ht`);
      // Exactly one of the two backwards on one saved ran; the other was refused.
      const onSaved = [res[3]!, res[4]!];
      expect(onSaved.filter((p) => p.status === 'fulfilled').length, `round ${round}`).toBe(1);
      const refused = onSaved.find((p) => p.status === 'rejected') as PromiseRejectedResult;
      expect(String(refused.reason), `round ${round}`).toMatch(/saved is in use by a backward still running/);
      const nan = Object.values(given).some((a) => a.some((v) => Number.isNaN(v) || v === Infinity));
      for (const i of [2, onSaved[0]!.status === 'fulfilled' ? 3 : 4]) {
        const grads = value<Record<string, Float32Array>>(i);
        for (const [k, v] of Object.entries(ref.grads)) if (!(k === 'dg' && nan)) expectLikeReference(grads[k]!, v, `round ${round} ${name} backward ${i} ${k}`);
      }
      // The two steps: the sequence, then the sequence again from the state it left.
      const twice = reference(op.def, { ...tokens, h0: Float32Array.from(ref.ht) }, s, undefined);
      expectLikeReference(value<{ o: Float32Array }>(5).o, ref.o, `round ${round} ${name} first step`);
      expectLikeReference(value<{ o: Float32Array }>(6).o, twice.o, `round ${round} ${name} second step`);
      expectLikeReference(state, twice.ht, `round ${round} ${name} state after both steps`);
    }
  }, 600_000);
});
