// mamba2Ssd(opts): mamba2_ssd as mamba_chunk_scan_combined takes its arguments (dt_bias,
// dt_softplus, dt_limit, z) and with the Mamba2 layer's A_log. Each spec is checked three ways:
// lae's float64 reference against a float64 transcription of mamba's own dt processing and scan
// (test/helpers/model-formulas.ts), with mamba's head groups (ngroups < nheads); the GPU forward
// against that reference; and, for the fullest option set, the backward and the decode step.
import { describe, expect, it } from 'vitest';
import { mamba2Ssd, VARIANTS, type Mamba2SsdOptions } from '../variants/index.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { referenceForward } from '../runtime/reference.js';
import type { ProblemSize } from '../dsl/index.js';
import { relL2, rng } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { mambaDtRef, mambaScanRef } from './helpers/model-formulas.js';

const r = rng(211);
const f32s = (n: number, draw: () => number) => Float64Array.from({ length: n }, () => Math.fround(draw()));
const normal = (n: number, sd = 1, mean = 0) => f32s(n, () => mean + sd * r.normal());

/** Inputs under mamba's names and shapes (B and C are Bm and Cm in lae: B is a dim's name). */
function layerInputs(opts: Mamba2SsdOptions, s: { batch: number; seqlen: number; nheads: number; ngroups: number; headdim: number; dstate: number }) {
  const { batch, seqlen, nheads, ngroups, headdim, dstate } = s;
  const tok = batch * seqlen;
  return {
    x: normal(tok * nheads * headdim),
    // Raw dt spans the clamp's lower side (negative before softplus) and past the limits.
    dt: opts.dtSoftplus ? normal(tok * nheads, 2, -1) : normal(tok * nheads, 0.6, 0.2),
    ...(opts.dtBias ? { dt_bias: normal(nheads, 0.5) } : {}),
    ...(opts.aLog ? { A_log: normal(nheads, 0.5) } : { A: f32s(nheads, () => -Math.exp(0.5 * r.normal())) }),
    Bm: normal(tok * ngroups * dstate), Cm: normal(tok * ngroups * dstate), D: normal(nheads),
    ...(opts.z ? { z: normal(tok * nheads * headdim) } : {}),
    h0: normal(batch * nheads * headdim * dstate),
  } as Record<string, Float64Array>;
}

/** mamba's result for these inputs: its dt processing, A = -exp(A_log), its scan. */
function mambaResult(opts: Mamba2SsdOptions, i: Record<string, Float64Array>, s: Parameters<typeof mambaScanRef>[8]) {
  const processed = opts.dtBias || opts.dtSoftplus || opts.dtLimit;
  const dt = processed ? mambaDtRef(i.dt!, i.dt_bias ?? null, Boolean(opts.dtSoftplus), opts.dtLimit ?? [0, Infinity], s.nheads) : i.dt!;
  const A = opts.aLog ? i.A_log!.map((a) => -Math.exp(a)) : i.A!;
  return mambaScanRef(i.x!, dt, A, i.Bm!, i.Cm!, i.D!, i.z ?? null, i.h0!, s);
}

const CASES: { name: string; opts: Mamba2SsdOptions }[] = [
  { name: 'the Mamba2 layer: dt_bias, dt_softplus, A_log (dt_limit default)', opts: { dtBias: true, dtSoftplus: true, aLog: true } },
  { name: 'dt_bias, dt_softplus, dt_limit (0.05, 1.5), A_log, z', opts: { dtBias: true, dtSoftplus: true, dtLimit: [0.05, 1.5], aLog: true, z: true } },
  { name: "the kernel's defaults on raw dt: dt_limit (0, inf) clamps dt at 0", opts: { dtLimit: [0, Infinity] } },
  { name: 'dt_bias without softplus (clamped at 0 as mamba does), z', opts: { dtBias: true, z: true } },
];

describe('mamba2Ssd: the spec as mamba_chunk_scan_combined takes it', () => {
  it('with no option it is the built-in mamba2_ssd (dt already processed, A given)', () => {
    expect(mamba2Ssd()).toBe(VARIANTS.mamba2_ssd);
    expect(mamba2Ssd({ dtBias: false, dtSoftplus: false, aLog: false, z: false })).toBe(VARIANTS.mamba2_ssd);
  });

  // mamba's groups: nheads 4 heads of x, dt, A, D and the state; ngroups 2 of B and C. lae: H = ngroups, HV = nheads.
  // dstate 16, headdim 8 (lae's K, V): FLA's first fixture case's, so the kernels that do not
  // read the spec's inputs are that case's, compiled once per run.
  const s = { batch: 2, seqlen: 37, nheads: 4, ngroups: 2, headdim: 8, dstate: 16 };
  const refSize: ProblemSize = { B: s.batch, T: s.seqlen, H: s.nheads, K: s.dstate, V: s.headdim, G: s.nheads / s.ngroups };
  for (const c of CASES) {
    it(`${c.name}: reference = mamba's scan; GPU forward (ngroups 2, nheads 4) = reference`, async () => {
      const def = mamba2Ssd(c.opts);
      const inputs = layerInputs(c.opts, s);
      const want = mambaResult(c.opts, inputs, s);
      const { h0, ...rest } = inputs;
      const ref = referenceForward(def, rest, refSize, { h0 });
      expect(relL2(ref.o, want.y), 'reference o vs mamba').toBeLessThan(1e-12);
      expect(relL2(ref.ht, want.ht), 'reference ht vs mamba').toBeLessThan(1e-12);
      const engine = await getEngine();
      const got = await engine.variant(def).forward(inputs, {
        B: s.batch, T: s.seqlen, H: s.ngroups, HV: s.nheads, K: s.dstate, V: s.headdim, chunkSize: 16, outputFinalState: true, poisonOutputs: true,
      });
      expect(relL2(got.o, ref.o), 'GPU o').toBeLessThan(1e-4);
      expect(relL2(got.ht!, ref.ht), 'GPU ht').toBeLessThan(1e-4);
    });
  }

  it('backward (GPU vs reference; reference vs finite differences of dt, dt_bias, A_log, z) and step', async () => {
    const opts: Mamba2SsdOptions = { dtBias: true, dtSoftplus: true, dtLimit: [0.05, 1.5], aLog: true, z: true };
    const def = mamba2Ssd(opts);
    const s1 = { batch: 2, seqlen: 21, nheads: 2, ngroups: 2, headdim: 8, dstate: 16 };
    const size: ProblemSize = { B: s1.batch, T: s1.seqlen, H: s1.nheads, K: s1.dstate, V: s1.headdim };
    const { h0, ...inputs } = layerInputs(opts, s1);
    const dO = normal(s1.batch * s1.seqlen * s1.nheads * s1.headdim);
    const dht = normal(h0!.length);
    const engine = await getEngine();
    const op = engine.variant(def);
    const grads = await op.backward({ ...inputs, h0 }, { do: dO, dht }, { ...size, chunkSize: 16, poisonOutputs: true });
    const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
    for (const name of Object.keys(want)) expect(relL2(grads[name]!, want[name]!), name).toBeLessThan(1e-4);
    const loss = referenceLoss(def, inputs, size, h0!, dO, dht);
    for (const name of ['dt', 'dt_bias', 'A_log', 'z']) {
      expect(relL2(want[`d${name}`]!, centralDiff(inputs[name]!, loss)), `d${name} vs finite differences`).toBeLessThan(1e-6);
    }
    // Three decode steps from h0: mamba's selective_state_update with the same options.
    const first = Object.fromEntries(def.inputs.map((d) => {
      const a = inputs[d.name]!;
      return [d.name, d.dims.includes('T') ? Float32Array.from(a.subarray(0, 3 * a.length / s1.seqlen)) : Float32Array.from(a)];
    }));
    const state = Float32Array.from(h0!);
    const step = await op.step(first, state, { B: s1.batch, H: s1.nheads, K: s1.dstate, V: s1.headdim, N: 3 });
    const three = mambaResult(opts, { ...Object.fromEntries(Object.entries(first).map(([k, v]) => [k, Float64Array.from(v)])), h0: h0! }, { ...s1, seqlen: 3 });
    expect(relL2(step.o, three.y), 'step o').toBeLessThan(1e-5);
    expect(relL2(state, three.ht), 'step state').toBeLessThan(1e-5);
  });

  it('refuses unknown options (with the close name) and bad values, naming the option and the limit', () => {
    expect(() => mamba2Ssd({ dt_bias: true } as never)).toThrow(/unknown option 'dt_bias' of mamba2Ssd; did you mean 'dtBias'\?/);
    expect(() => mamba2Ssd({ A_log: true } as never)).toThrow(/did you mean 'aLog'\?/);
    expect(() => mamba2Ssd({ dt_limit: [0, 1] } as never)).toThrow(/did you mean 'dtLimit'\?/);
    expect(() => mamba2Ssd({ dtSoftplus: 1 } as never)).toThrow(/option dtSoftplus must be a boolean, got 1 \(a number\)/);
    expect(() => mamba2Ssd({ dtLimit: [1, 0.5] })).toThrow(/option dtLimit must have lo <= hi.*got \[1, 0.5\]/);
    expect(() => mamba2Ssd({ dtLimit: [0] } as never)).toThrow(/option dtLimit \(mamba's dt_limit\) must be \[lo, hi\], two numbers/);
    expect(() => mamba2Ssd({ dtLimit: [0, Number.NaN] })).toThrow(/option dtLimit/);
    expect(() => mamba2Ssd(null as never)).toThrow(/mamba2Ssd options must be an object, got null/);
  });
});
