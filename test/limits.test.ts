// Bad input and the options around it: positive log-decays refused (with the opt-out),
// checkFinite naming the first NaN/Inf, the state-layout option for h0/ht/dh0/step state, and a
// fuzz of the host API with wrong shapes and dtypes (every call works or throws a clear error,
// and the device survives).
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { NonFiniteError } from '../runtime/limits.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const size = { B: 1, T: 20, H: 2, K: 8, V: 4 };

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
    q[5 * size.H * size.K + 9] = Number.NaN;
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

describe('fuzzing the host API', () => {
  it('random wrong shapes and types: every call works or throws a clear error; the device survives', async () => {
    const engine = await getEngine();
    const r = rng(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length)]!;
    const makers: ((n: number) => unknown)[] = [
      (n) => new Float32Array(n), (n) => new Float64Array(n), (n) => new Float32Array(Math.max(0, n - 1)),
      (n) => new Float32Array(n + 3), (n) => new Uint16Array(n), (n) => new Int32Array(n), (n) => Array.from({ length: n }, () => 0.1),
      () => undefined, () => null, () => 'q', () => 3,
    ];
    let threw = 0, ran = 0;
    // Few variants and one head-dim pair, so the fuzz spends its time on calls, not on compiling.
    for (let trial = 0; trial < 60; trial++) {
      const name = pick(['gla', 'gated_delta_rule'] as const);
      const op = engine.variant(name);
      const s = { B: pick([1, 2]), T: pick([1, 5, 17]), H: pick([1, 2]), K: 4, V: 4 };
      const good = sampleInputs(op.def, s, trial, r.uniform() < 0.5);
      const bad: Record<string, unknown> = { ...good };
      const victim = pick([...op.def.inputs.map((i) => i.name), 'h0', 'extra']);
      const n = (good[victim]?.length ?? 8);
      if (r.uniform() < 0.8) bad[victim] = pick(makers)(n);
      const opts: Record<string, unknown> = { ...s };
      if (r.uniform() < 0.2) opts[pick(['B', 'T', 'H', 'K', 'V'])] = pick([0, -1, 1.5, 300, Number.NaN, '4']);
      if (r.uniform() < 0.1) opts.chunkSize = pick([8, 48, 128]);
      // Packed sequences: valid offsets (then h0 and the step state need one row per sequence)
      // or offsets that are wrong in one way each.
      if (r.uniform() < 0.2) {
        opts.cuSeqlens = pick([
          Int32Array.from([0, Math.floor(s.T / 2), s.T]), [0, s.T], Int32Array.from([0, s.T, s.T]),
          Int32Array.from([0, s.T + 1]), Int32Array.from([1, s.T]), Int32Array.from([0, 3, 2, s.T]), [0], new Float32Array([0, s.T]), 'x', [0, 0.5, s.T],
        ]);
      }
      const call = pick(['forward', 'backward', 'step'] as const);
      try {
        if (call === 'forward') await op.forward(bad as never, opts as never);
        else if (call === 'backward') await op.backward(bad as never, { do: new Float32Array(s.B * s.T * s.H * s.V) }, opts as never);
        else {
          const { h0: _h0, ...tok } = bad;
          await op.step(tok as never, new Float32Array(s.B * s.H * s.K * s.V), { ...(opts as object), N: s.T } as never);
        }
        ran++;
      } catch (e) {
        threw++;
        expect(e).toBeInstanceOf(Error);
        const msg = (e as Error).message;
        expect(msg.length, msg).toBeGreaterThan(20);
        // A clear error names what is wrong: a tensor, an option, or a limit.
        expect(msg, msg).toMatch(/input|seed|option|state|chunk|tensor|exceeds|supported|must be|missing|unknown|log-decay|head dim|cuSeqlens/i);
      }
    }
    expect(threw).toBeGreaterThan(10);
    expect(ran).toBeGreaterThan(3);
    // The device is still usable.
    const op = engine.variant('gla');
    const inputs = sampleInputs(op.def, size, 1, true);
    const { o } = await op.forward(inputs, size);
    expect(relL2(o, referenceForward(op.def, inputs, size, { h0: inputs.h0 }).o)).toBeLessThan(1e-4);
  }, 600_000);
});
