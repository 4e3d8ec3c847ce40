// The tensor-core tier through its portable lowering: the same tiles, staging, masks and
// epilogues as the subgroup-matrix lowering (the tensor cores), with the fragments as plain
// per-lane arrays, so it runs on any adapter with shader-f16 (lavapipe here). Forward, backward
// (the f32 kernels reading the tier's forward buffers) and step of every variant against the
// float64 reference, within the tier's bounds: operands are rounded to f16, sums stay f32.
import { describe, expect, it } from 'vitest';
import { VARIANT_NAMES, VARIANTS, type VariantName } from '../variants/index.js';
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import { createEngine, type Engine } from '../runtime/engine.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { planForward, planBackward, DEFAULT_DQK_FORM, DQK_FORMS, type KernelStage } from '../codegen/index.js';
import { UNVERIFIED_ON_GPU, fragmentKernel } from '../codegen/backward.js';
import { relL2, rng } from './helpers/numerics.js';
import { getTensorCoreEngine } from './helpers/engine.js';
import { FULL, sweep } from './helpers/tier.js';

const TOL = { o: 3e-3, grads: 1e-2 };

async function tcEngine(): Promise<Engine> {
  const engine = await getTensorCoreEngine();
  expect(engine.tier).toBe('portable');
  return engine;
}

function seeds(size: ProblemSize, seed: number) {
  const r = rng(seed);
  const rows = size.S ?? size.B;
  return {
    do: Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal()),
    dht: Float32Array.from({ length: rows * size.H * size.K * size.V }, () => r.normal()),
  };
}

async function checkForwardBackward(def: VariantDef, size: ProblemSize, chunk: 16 | 32 | 64, withH0: boolean) {
  const engine = await tcEngine();
  const op = engine.variant(def.name);
  const inputs = sampleInputs(def, size, 31 + chunk, withH0);
  const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
  const got = await op.forward(inputs, { ...size, chunkSize: chunk, poisonOutputs: true });
  expect(relL2(got.o, ref.o), 'o').toBeLessThan(TOL.o);
  expect(relL2(got.ht!, ref.ht), 'ht').toBeLessThan(TOL.o);
  const s = seeds(size, 5);
  const grads = await op.backward(inputs, s, { ...size, chunkSize: chunk, poisonOutputs: true });
  const { h0, ...rest } = inputs;
  const refGrads = referenceBackward(def, rest, size, s, { h0 });
  const names = [...def.inputs.map((i) => `d${i.name}`), ...(withH0 ? ['dh0'] : [])];
  expect(Object.keys(grads).sort()).toEqual(names.sort());
  for (const k of names) expect(relL2(grads[k]!, refGrads[k]!), k).toBeLessThan(TOL.grads);
}

describe.each(VARIANT_NAMES)('%s on the tensor-core tier (portable lowering)', (name) => {
  const def = VARIANTS[name];
  // Partial last chunk, K and V padded to whole fragments, vec4 staging (K, V multiples of 4).
  it('C=64 (B,T,H,K,V)=(1,150,2,48,40) with h0: forward, backward, step', async () => {
    const size = { B: 1, T: 150, H: 2, K: 48, V: 40 };
    await checkForwardBackward(def, size, 64, true);
    // The step runs its f32 kernel (codegen/kernels/step.ts) on the tier's engine.
    const engine = await tcEngine();
    const inputs = sampleInputs(def, size, 95, true);
    const { h0, ...rest } = inputs;
    const ref = referenceForward(def, inputs, size, { h0 });
    const state = Float32Array.from(h0!);
    const res = await engine.variant(name).step(rest, state, { B: 1, H: size.H, K: size.K, V: size.V, N: size.T });
    expect(relL2(res.o, ref.o), 'step o').toBeLessThan(1e-5);
    expect(relL2(state, ref.ht), 'step state').toBeLessThan(1e-5);
  });
});

describe('tensor-core tier: other tilings', () => {
  // Chunk 16 (one 16-row block: no anchored pairs), K not a multiple of 4 (scalar staging), a
  // V tile narrower than a fragment, two sequences. The fast tier runs it for a per-key decay and
  // for the delta rule; the full tier for a scalar decay and the bonus too.
  for (const name of sweep(['gla', 'gated_delta_rule'] as const, ['mamba2_ssd', 'rwkv6'] as const)) {
    it(`${name} C=16 (B,T,H,K,V)=(2,40,1,18,10) without h0`, async () => {
      await checkForwardBackward(VARIANTS[name], { B: 2, T: 40, H: 1, K: 18, V: 10 }, 16, false);
    });
  }
  for (const name of sweep(['kda'] as const, ['simple_gla'] as const)) {
    it(`${name} C=32 (B,T,H,K,V)=(1,100,2,32,36) with h0`, async () => {
      await checkForwardBackward(VARIANTS[name], { B: 1, T: 100, H: 2, K: 32, V: 36 }, 32, true);
    });
  }
  // The output's scores of a per-key decay in the output stage (tuning.outputScores 'output',
  // kept for timing both on a GPU; the default, computed before the output and read by the
  // backward instead of bwdScores, runs in every tier above; plan-check covers the bindings).
  if (FULL) it.each(['gla', 'kda', 'rwkv6'] as const)("%s, tuning.outputScores 'output': the output stage's own A_qk gives the default's o and ht, and bwdScores' the gradients", async (name) => {
    const size = { B: 1, T: 150, H: 2, K: 48, V: 40 };
    const def = VARIANTS[name];
    const inputs = sampleInputs(def, size, 95, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const opts = { ...size, chunkSize: 64 as const, poisonOutputs: true };
    const early = await (await tcEngine()).variant(name).forward(inputs, opts);
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: 'off', tuning: { outputScores: 'output' } });
    try {
      const op = engine.variant(name);
      const got = await op.forward(inputs, opts);
      expect(relL2(got.o, ref.o), 'o').toBeLessThan(TOL.o);
      expect(relL2(got.ht!, ref.ht), 'ht').toBeLessThan(TOL.o);
      // The same products, rounded to f16 at the same points (the f32 sums in another order).
      expect(relL2(got.o, early.o), "o against the early scores'").toBeLessThan(1e-5);
      expect(Array.from(got.ht!), 'ht: the scores do not reach the state').toEqual(Array.from(early.ht!));
      const s = seeds(size, 5);
      const grads = await op.backward(inputs, s, opts);
      const { h0, ...rest } = inputs;
      const refGrads = referenceBackward(def, rest, size, s, { h0 });
      for (const k of Object.keys(refGrads)) expect(relL2(grads[k]!, refGrads[k]!), k).toBeLessThan(TOL.grads);
    } finally {
      engine.destroy();
    }
  });
  // dq and dk of a per-key decay (tc-bwd-dqk.ts) in two key tiles of 64, the second partial (16
  // of its columns), and a last chunk of 40 rows (three 16-row blocks, the third partial); the
  // bonus form, whose diagonal is u and whose query side reads the exclusive gate.
  it('rwkv6 C=64 (B,T,H,K,V)=(1,104,1,80,16) with h0: dq and dk in two key tiles', async () => {
    await checkForwardBackward(VARIANTS.rwkv6, { B: 1, T: 104, H: 1, K: 80, V: 16 }, 64, true);
  });
  // Packed sequences, here and below, at the per-variant cases' K = 48, V = 40 (chunk 64): the
  // backward's sequences run alone on those cases' plans, so only the packed plans compile here.
  it('packed sequences: gated_delta_rule and gla equal each sequence run alone', async () => {
    const engine = await tcEngine();
    const cu = [0, 37, 37, 130];
    for (const name of ['gated_delta_rule', 'gla'] as const) {
      const def = VARIANTS[name];
      const op = engine.variant(name);
      const size = { B: 1, T: 130, H: 2, K: 48, V: 40 };
      const inputs = sampleInputs(def, { ...size, S: 3 }, 41, true);
      const packed = await op.forward(inputs, { ...size, cuSeqlens: cu, poisonOutputs: true });
      for (let s = 0; s < 3; s++) {
        const T = cu[s + 1]! - cu[s]!;
        const part = Object.fromEntries(def.inputs.map((d) => {
          const full = inputs[d.name]!;
          if (!d.dims.includes('T')) return [d.name, full];
          const row = full.length / size.T;
          return [d.name, full.slice(cu[s]! * row, cu[s + 1]! * row)];
        }));
        const per = size.H * size.K * size.V;
        const h0 = inputs.h0!.slice(s * per, (s + 1) * per);
        const ref = referenceForward(def, part, { ...size, T }, { h0 });
        const rowO = size.H * size.V;
        if (T > 0) expect(relL2(packed.o.slice(cu[s]! * rowO, cu[s + 1]! * rowO), ref.o), `${name} o of sequence ${s}`).toBeLessThan(TOL.o);
        expect(relL2(packed.ht!.slice(s * per, (s + 1) * per), ref.ht), `${name} ht of sequence ${s}`).toBeLessThan(TOL.o);
      }
    }
  });
  // The backward on packed sequences (the tier's reverse scan and key gradients read the chunk
  // table; an empty sequence between two others): bit for bit each sequence's backward alone. The
  // delta rule's in the fast tier, a per-key decay's (with and without the delta rule) in the full.
  for (const name of sweep(['gated_delta_rule'] as const, ['gla', 'kda'] as const)) {
    it(`packed sequences: ${name}'s backward equals each sequence's alone`, async () => {
      const engine = await tcEngine();
      const def = VARIANTS[name];
      const op = engine.variant(name);
      const cu = [0, 37, 37, 130];
      const size = { B: 1, T: 130, H: 2, K: 48, V: 40 };
      const inputs = sampleInputs(def, { ...size, S: 3 }, 41, true);
      const r = rng(9);
      const rowO = size.H * size.V;
      const dO = Float32Array.from({ length: size.T * rowO }, () => r.normal());
      const packed = await op.backward(inputs, { do: dO }, { ...size, cuSeqlens: cu, poisonOutputs: true });
      const per = size.H * size.K * size.V;
      for (let s = 0; s < 3; s++) {
        const T = cu[s + 1]! - cu[s]!;
        if (T === 0) continue;
        const part: Record<string, Float32Array> = Object.fromEntries(def.inputs.map((d) => {
          const full = inputs[d.name]!;
          if (!d.dims.includes('T')) return [d.name, full];
          const row = full.length / size.T;
          return [d.name, full.slice(cu[s]! * row, cu[s + 1]! * row)];
        }));
        const alone = await op.backward({ ...part, h0: inputs.h0!.slice(s * per, (s + 1) * per) },
          { do: dO.slice(cu[s]! * rowO, cu[s + 1]! * rowO) }, { ...size, T, poisonOutputs: true });
        for (const [k, g] of Object.entries(alone)) {
          const full = packed[k]!;
          const got = k === 'dh0' ? full.slice(s * per, (s + 1) * per) : full.slice(cu[s]! * (full.length / size.T), cu[s + 1]! * (full.length / size.T));
          expect(Array.from(got), `${k} of sequence ${s}`).toEqual(Array.from(g));
        }
      }
    });
  }
  it('grouped value heads and bf16 inputs: gated_delta_rule', async () => {
    const engine = await tcEngine();
    const def = VARIANTS.gated_delta_rule;
    const size = { B: 1, T: 70, H: 1, HV: 2, K: 32, V: 16 };
    const inputs = sampleInputs(def, { ...size, H: 1 }, 43, true);
    // q, k with H heads, the rest with HV: resample the value-headed inputs at HV.
    const wide = sampleInputs(def, { ...size, H: 2 }, 44, true);
    const mixed = { q: inputs.q!, k: inputs.k!, v: wide.v!, g: wide.g!, beta: wide.beta!, h0: wide.h0! };
    const got = await engine.variant('gated_delta_rule').forward(mixed, { ...size, poisonOutputs: true, dtypes: { v: 'bf16' } });
    const off = await createEngine({ tensorCores: 'off' });
    try {
      const want = await off.variant('gated_delta_rule').forward(mixed, { ...size, dtypes: { v: 'bf16' } });
      expect(relL2(got.o, want.o)).toBeLessThan(TOL.o);
      expect(relL2(got.ht!, want.ht!)).toBeLessThan(TOL.o);
    } finally {
      off.destroy();
    }
  });
});

describe('tensor-core tier: unrolled staging (tuning.unrollStaging)', () => {
  // The staging slots written out one by one: the same values as the loops, on the kernels of
  // a delta and a non-delta variant (prep, scans, outputs, the backward's fragment stages).
  // (Small tiles: lavapipe's JIT takes long on unrolled code, so few slots per thread.) K = 16,
  // V = 8: the same unrolled slots as at V = 16 (checked in the WGSL), and the kernels without
  // staging are those test/nonfinite.test.ts compiles on this tier (and the f32 ones of FLA's
  // first fixture case).
  it.each(['gated_delta_rule', 'gla'] as const)('%s C=16 (B,T,H,K,V)=(1,40,1,16,8) with h0', async (name) => {
    const engine = await createEngine({ tensorCores: 'portable', tuning: { unrollStaging: true } });
    const def = VARIANTS[name];
    const size = { B: 1, T: 40, H: 1, K: 16, V: 8 };
    const inputs = sampleInputs(def, size, 44, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const got = await engine.variant(name).forward(inputs, { ...size, chunkSize: 16, poisonOutputs: true });
    expect(relL2(got.o, ref.o), 'o').toBeLessThan(TOL.o);
    const s = seeds(size, 6);
    const grads = await engine.variant(name).backward(inputs, s, { ...size, chunkSize: 16, poisonOutputs: true });
    const { h0, ...rest } = inputs;
    const refGrads = referenceBackward(def, rest, size, s, { h0 });
    for (const k of [...def.inputs.map((i) => `d${i.name}`), 'dh0']) expect(relL2(grads[k]!, refGrads[k]!), k).toBeLessThan(TOL.grads);
  });
});

describe('tensor-core tier: output tile (tuning.outputTile)', () => {
  // Output columns in tiles of 32: two workgroups per chunk, the second's tile partial (V = 40),
  // each recomputing the chunk's scores; a variant with per-key decay and its gate's fragments.
  it('gla C=16 (B,T,H,K,V)=(2,40,1,16,40) with h0: forward', async () => {
    const engine = await createEngine({ tensorCores: 'portable', tuning: { outputTile: 32 } });
    const def = VARIANTS.gla;
    const size = { B: 2, T: 40, H: 1, K: 16, V: 40 };
    const inputs = sampleInputs(def, size, 46, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const got = await engine.variant('gla').forward(inputs, { ...size, chunkSize: 16, poisonOutputs: true });
    expect(relL2(got.o, ref.o), 'o').toBeLessThan(TOL.o);
    expect(relL2(got.ht!, ref.ht), 'ht').toBeLessThan(TOL.o);
    engine.destroy();
  });
});

describe('tensor-core tier: forms of dq and dk of a per-key decay (tuning.dqkForm)', () => {
  // Each form other than the default ('staged') computes the same sums in the same order from the
  // same f32 values and f16 operands, only loaded at other times or from workgroup memory
  // (tc-bwd-dqk.ts): every gradient equals the default form's bit for bit, and the float64
  // reference's within the tier's bounds. gla at chunk 64 (a partial last chunk, K = 48: one key
  // tile of three slabs); rwkv6 (the bonus form) in two key tiles of 64 (the second partial) and
  // a last chunk of 40 rows; kda (the delta rule's dq and dk on the same kernel) at chunk 32.
  const cases = [
    ['gla', { B: 1, T: 150, H: 2, K: 48, V: 40 }, 64],
    ['rwkv6', { B: 1, T: 104, H: 1, K: 80, V: 16 }, 64],
    ['kda', { B: 1, T: 100, H: 2, K: 32, V: 36 }, 32],
  ] as const;
  async function gradients(engine: Engine, name: VariantName, size: ProblemSize, chunk: 16 | 32 | 64) {
    const def = VARIANTS[name];
    const inputs = sampleInputs(def, size, 51, true);
    return engine.variant(name).backward(inputs, seeds(size, 7), { ...size, chunkSize: chunk, poisonOutputs: true });
  }
  const baseline = new Map<string, Promise<Record<string, Float32Array>>>();
  const defaultGradients = async (name: VariantName, size: ProblemSize, chunk: 16 | 32 | 64) => {
    const key = `${name} ${chunk}`;
    if (!baseline.has(key)) baseline.set(key, tcEngine().then((e) => gradients(e, name, size, chunk)) as Promise<Record<string, Float32Array>>);
    return baseline.get(key)!;
  };
  // Each form's own code (when and whence it loads) is the same for every variant: the fast tier
  // runs it on gla (three slabs, a partial chunk), the full tier on rwkv6 and kda too. The bonus
  // (rwkv6) and the delta rule's dq / dk (kda) go through the default form, the same emitter
  // (emitTcBwdDqkForm), in every tier's per-variant tests above.
  const formCases = sweep(cases.slice(0, 1), cases.slice(1));
  for (const form of DQK_FORMS.filter((f) => f !== DEFAULT_DQK_FORM)) {
    it(`${form}: ${formCases.map(([n]) => n).join(', ')} equal the default form and the float64 reference`, async () => {
      const engine = await createEngine({ tensorCores: 'portable', tuningCache: 'off', tuning: { dqkForm: form } });
      try {
        for (const [name, size, chunk] of formCases) {
          const plan = engine.variant(name).plan({ K: size.K, V: size.V, chunkSize: chunk });
          expect(plan.config.dqkForm, name).toBe(form);
          const got = await gradients(engine, name, size, chunk);
          const want = await defaultGradients(name, size, chunk);
          const def = VARIANTS[name];
          const inputs = sampleInputs(def, size, 51, true);
          const { h0, ...rest } = inputs;
          const ref = referenceBackward(def, rest, size, seeds(size, 7), { h0 });
          for (const k of Object.keys(want)) {
            expect(Array.from(got[k]!), `${name} ${k}`).toEqual(Array.from(want[k]!));
            expect(relL2(got[k]!, ref[k]!), `${name} ${k}`).toBeLessThan(TOL.grads);
          }
        }
      } finally {
        engine.destroy();
      }
    });
  }
  // The staging slots written out (unrollStaging, the subgroup matrices' default) and, at chunk
  // 32 within 32 KiB (fragmentMemory), the widest slab: SK = 64, each subgroup two row blocks.
  it.each(['pipelined', 'staged'] as const)('%s: gla C=32 (1,70,1,64,16), fragmentMemory 32768 (slabs of 64 keys) and unrolled staging', async (form) => {
    const engine = await createEngine({ tensorCores: 'portable', tuningCache: 'off', tuning: { dqkForm: form, fragmentMemory: 32768, unrollStaging: true } });
    try {
      const size = { B: 1, T: 70, H: 1, K: 64, V: 16 };
      const got = await gradients(engine, 'gla', size, 32);
      const def = VARIANTS.gla;
      const inputs = sampleInputs(def, size, 51, true);
      const { h0, ...rest } = inputs;
      const ref = referenceBackward(def, rest, size, seeds(size, 7), { h0 });
      for (const k of Object.keys(ref)) expect(relL2(got[k]!, ref[k]!), k).toBeLessThan(TOL.grads);
    } finally {
      engine.destroy();
    }
  });
});

describe('tensor-core tier: generated WGSL', () => {
  it('the subgroup-matrix lowering uses subgroup matrices, the portable one plain arrays, both the same buffers', () => {
    for (const name of ['gla', 'kda', 'gated_delta_rule'] as const) {
      const cfg = { K: 64, V: 64, chunk: 64 as const, wgMemory: 49152 as const };
      const hw = planForward(VARIANTS[name], { ...cfg, fragments: 'subgroup-matrix' });
      const sw = planForward(VARIANTS[name], { ...cfg, fragments: 'portable' });
      expect(hw.key).not.toBe(sw.key);
      expect(hw.kernels.map((k) => k.stage)).toEqual(sw.kernels.map((k) => k.stage));
      for (const [i, k] of hw.kernels.entries()) {
        expect(k.bindings).toEqual(sw.kernels[i]!.bindings);
        if (k.stage === 'output') {
          expect(k.wgsl).toMatch(/^enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;/);
          expect(k.wgsl).toContain('subgroupMatrixMultiplyAccumulate');
          expect(sw.kernels[i]!.wgsl).not.toContain('subgroup_matrix');
        }
      }
      // The backward follows the tier's forward, reading its buffers: the scores (where the
      // forward did not keep them), their gradient and the intra-chunk du, the state terms, the
      // chunk states and value gradient of the parallel scan, the delta rule's reverse scan,
      // dT, X1 and key gradient (wyDk; with a per-key decay by sub-blocks, X2 its own wyX2 stage)
      // and (per-key decay) dq and dk on fragments, every other stage with the f32 kernels.
      // Kernels not yet checked on a GPU (UNVERIFIED_ON_GPU: bwdDu's form with the intra-chunk
      // part, 'bwdDu:local', wyM and wyDA) keep their checked forms on the subgroup matrices
      // unless asked.
      const def = VARIANTS[name];
      const onFragments = (stage: string, unverified: boolean) => (unverified || !UNVERIFIED_ON_GPU.has(fragmentKernel(def, stage as KernelStage)))
        && (['bwdScores', 'bwdDScores', 'bwdDvLocal', 'bwdInter', 'bwdDu', 'bwdChunkState'].includes(stage)
          || (def.correction === 'delta' && ['bwdScan', 'wyDT', 'wyM', 'wyDA', 'wyDv', 'wyX2', 'wyDk'].includes(stage))
          || (def.decay === 'diagonal' && (stage === 'bwdDq' || stage === 'bwdDk')));
      const bwd = planBackward(def, hw.config);
      for (const k of bwd.kernels) expect(k.wgsl.includes('subgroup_matrix'), k.name).toBe(onFragments(k.stage, false));
      const all = planBackward(def, { ...hw.config, unverifiedFragments: true });
      for (const k of all.kernels) expect(k.wgsl.includes('subgroup_matrix'), k.name).toBe(onFragments(k.stage, true));
      const swBwd = planBackward(VARIANTS[name], planForward(VARIANTS[name], { ...cfg, fragments: 'portable' }).config);
      expect(swBwd.kernels.map((k) => k.stage)).toEqual(all.kernels.map((k) => k.stage));
    }
  });
});
