// The decode step's kernel (codegen/kernels/step.ts) over its layouts and tilings, against the
// float64 reference: both state layouts, vec4 and scalar state words, rows past K and columns
// past V in a workgroup's block, each column width of tuning.stepColumns, the fused L2 norms, an
// output gate and a plan whose inputs are packed to fit 8 storage buffers.
import { afterAll, describe, expect, it } from 'vitest';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';
import { withStateLayout, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { sampleInputs } from '../runtime/sample.js';
import { referenceForward } from '../runtime/reference.js';
import { createEngine, type Engine } from '../runtime/engine.js';
import { checkLimits, checkPlan, planStep, DEFAULT_LIMITS, STEP_COLUMNS } from '../codegen/index.js';
import { stepLayout } from '../codegen/kernels/step.js';
import { relL2 } from './helpers/numerics.js';
import { roundTo, storageBytes } from '../runtime/dtypes.js';
import { GpuTensor } from '../runtime/tensor.js';
import { getEngine } from './helpers/engine.js';
import { PREAMBLE_SPECS } from './helpers/preamble-specs.js';

const preamble = (name: string) => PREAMBLE_SPECS.find((s) => s.def.name === name)!.def;

/** [title, spec, size (T = tokens of the one step call), stepColumns]. */
const CASES: [string, VariantDef, ProblemSize, number | undefined][] = [
  // V % 4 == 0: vec4 words along V; K = 40 leaves rows past K in the last row item; V = 36: the
  // second workgroup holds 4 columns of 32.
  ['gla kv, vec4 words, partial blocks', VARIANTS.gla, { B: 2, T: 3, H: 2, K: 40, V: 36 }, undefined],
  ['delta_rule kv, 8 columns per workgroup', VARIANTS.delta_rule, { B: 1, T: 3, H: 2, K: 20, V: 12 }, 8],
  ['gated_delta_rule kv, 64 columns per workgroup', VARIANTS.gated_delta_rule, { B: 1, T: 2, H: 3, K: 64, V: 64 }, 64],
  // 'vk': K contiguous.
  ['kda vk, vec4 words', withStateLayout(VARIANTS.kda, 'vk'), { B: 2, T: 3, H: 1, K: 36, V: 20 }, undefined],
  ['rwkv6 vk, scalar words (K = 6)', withStateLayout(VARIANTS.rwkv6, 'vk'), { B: 1, T: 3, H: 2, K: 6, V: 12 }, undefined],
  ['mamba2_ssd (vk), 16 columns per workgroup', VARIANTS.mamba2_ssd, { B: 2, T: 2, H: 2, K: 64, V: 40 }, 16],
  ['simple_gla kv, scalar words (V = 10), 16 columns', VARIANTS.simple_gla, { B: 1, T: 3, H: 2, K: 12, V: 10 }, 16],
  ['L2-normalized q and k, delta rule (fused norms)', preamble('delta_l2norm'), { B: 2, T: 3, H: 2, K: 32, V: 16 }, undefined],
  ['mamba2 with an output gate and L2-normalized k (inputs packed)', preamble('mamba2_gated'), { B: 1, T: 3, H: 2, K: 16, V: 24 }, undefined],
];

const engines = new Map<number, Promise<Engine>>();
const engineFor = (columns: number | undefined) => {
  if (columns === undefined) return getEngine();
  if (!engines.has(columns)) engines.set(columns, createEngine({ tuning: { stepColumns: columns } }));
  return engines.get(columns)!;
};
afterAll(async () => { for (const e of engines.values()) (await e).destroy(); });

describe('step kernel layouts vs the float64 reference', () => {
  it.each(CASES)('%s', async (_title, def, size, columns) => {
    const engine = await engineFor(columns);
    const op = engine.variant(def);
    const { h0, ...inputs } = sampleInputs(def, size, 7, true);
    const ref = referenceForward(def, inputs, size, { h0: h0! });
    const state = Float32Array.from(h0!);
    const { o } = await op.step(inputs, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T });
    expect(o.every(Number.isFinite)).toBe(true);
    expect(relL2(o, ref.o), 'o').toBeLessThan(1e-5);
    expect(relL2(state, ref.ht), 'state').toBeLessThan(1e-5);
  });
});

// bf16 state storage: the step reads the rounded state, computes in f32 and rounds what it
// writes. The reference starts from the bf16-rounded h0, so o matches to f32 accuracy; the
// state is within bf16's rounding (half an ulp, 2^-9 relative) of the reference's.
describe('step with a bf16 state', () => {
  const cases: [string, VariantDef, ProblemSize][] = [
    ['gla kv', VARIANTS.gla, { B: 2, T: 3, H: 2, K: 40, V: 36 }],
    ['mamba2_ssd vk', VARIANTS.mamba2_ssd, { B: 2, T: 2, H: 2, K: 64, V: 40 }],
    ['L2-normalized delta rule', preamble('delta_l2norm'), { B: 1, T: 3, H: 2, K: 32, V: 16 }],
  ];
  it.each(cases)('%s: host array and GpuTensor state', async (_title, def, size) => {
    const engine = await getEngine();
    const op = engine.variant(def);
    const { h0, ...inputs } = sampleInputs(def, size, 11, true);
    const h0b = roundTo(h0!, 'bf16');
    const ref = referenceForward(def, inputs, size, { h0: h0b });
    const opts = { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T, stateDtype: 'bf16' as const };
    const state = Float32Array.from(h0!);
    const { o } = await op.step(inputs, state, opts);
    expect(relL2(o, ref.o), 'o').toBeLessThan(1e-5);
    expect(relL2(state, ref.ht), 'state').toBeLessThan(2e-3);
    expect(state).toEqual(roundTo(state, 'bf16'));
    // The same on a device state holding the bits.
    const dev = GpuTensor.uploadBytes(engine.device, 'state', storageBytes(h0!, 'bf16'), [h0!.length]);
    try {
      const r = await op.step(inputs, dev, opts);
      expect(relL2(r.o, ref.o), 'o (GpuTensor state)').toBeLessThan(1e-5);
      const bits = new Uint16Array((await dev.readBytes(h0!.length * 2)).buffer, 0, h0!.length);
      expect(bits).toEqual(new Uint16Array(storageBytes(state, 'bf16').buffer, 0, h0!.length));
    } finally {
      dev.destroy();
    }
  });
  it('encodeStep on a bf16 state binding, and its size check in bf16 bytes', async () => {
    const engine = await getEngine();
    const device = engine.device;
    const def = VARIANTS.gated_delta_rule;
    const size = { B: 2, T: 1, H: 2, K: 16, V: 12 };
    const { h0, ...inputs } = sampleInputs(def, size, 3, true);
    const ref = referenceForward(def, inputs, size, { h0: roundTo(h0!, 'bf16') });
    const op = engine.variant(def);
    const given = Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, GpuTensor.upload(device, n, a, [a.length])]));
    const state = GpuTensor.uploadBytes(device, 'state', storageBytes(h0!, 'bf16'), [h0!.length]);
    const o = GpuTensor.empty(device, 'o', [ref.o.length]);
    try {
      const opts = { B: size.B, H: size.H, K: size.K, V: size.V, stateDtype: 'bf16' as const };
      const enc = device.createCommandEncoder();
      await op.encodeStep(enc, Object.fromEntries(Object.entries(given).map(([n, t]) => [n, t.buffer])), state.buffer, { o: o.buffer }, opts);
      device.queue.submit([enc.finish()]);
      expect(relL2(await o.read(), ref.o)).toBeLessThan(1e-5);
      const bits = new Uint16Array((await state.readBytes(h0!.length * 2)).buffer, 0, h0!.length);
      expect(relL2(Float32Array.from(bits, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!), ref.ht)).toBeLessThan(2e-3);
      await expect(op.encodeStep(device.createCommandEncoder(), Object.fromEntries(Object.entries(given).map(([n, t]) => [n, t.buffer])),
        { buffer: state.buffer, size: h0!.length * 2 - 4 }, { o: o.buffer }, opts)).rejects.toThrow(/state \[2,2,16,12\] bf16.*1532/);
    } finally {
      for (const t of [...Object.values(given), state, o]) t.destroy();
    }
  });
  it('is refused where the contiguous axis is not a multiple of 4, naming it', async () => {
    const engine = await getEngine();
    const size = { B: 1, T: 1, H: 1, K: 8, V: 6 };
    const { h0, ...inputs } = sampleInputs(VARIANTS.gla, size, 1, true);
    await expect(engine.variant('gla').step(inputs, h0!, { B: 1, H: 1, K: 8, V: 6, stateDtype: 'bf16' }))
      .rejects.toThrow(/stateDtype 'bf16' needs the state's contiguous axis \(V of \[B,H,K,V\]\) to be a multiple of 4, got V = 6/);
    await expect(engine.variant('gla').step(inputs, h0!, { B: 1, H: 1, K: 8, V: 6, stateDtype: 'f16' as 'bf16' }))
      .rejects.toThrow(/option stateDtype must be 'f32' or 'bf16', got/);
  });
});

describe('step plan', () => {
  it('is one kernel, with the L2 norms fused', () => {
    for (const def of [VARIANTS.gla, VARIANTS.mamba2_ssd, preamble('delta_l2norm')]) {
      const plan = planStep(def, { K: 128, V: 128, chunk: 64 });
      expect(plan.kernels.map((k) => k.stage)).toEqual(['step']);
      expect(plan.buffers.some((b) => b.name.startsWith('rn_'))).toBe(false);
    }
  });
  it("is consistent and fits WebGPU's default limits at every column width, both layouts, K = V = 256 and 128, f32 and bf16 state", () => {
    for (const name of VARIANT_NAMES) {
      for (const layout of ['kv', 'vk'] as const) {
        for (const stepColumns of STEP_COLUMNS) {
          for (const D of [128, 256]) {
            for (const stateDtype of [undefined, 'bf16' as const]) {
              const cfg = { K: D, V: D, chunk: 64 as const, stepColumns, ...(stateDtype ? { stateDtype } : {}) };
              for (const mode of ['step', 'stepPool'] as const) {
                const plan = planStep(withStateLayout(VARIANTS[name], layout), cfg, mode);
                expect(checkLimits(plan, DEFAULT_LIMITS), `${name} ${layout} ${JSON.stringify(cfg)} ${mode}`).toEqual([]);
                expect(checkPlan(plan), `${name} ${layout} ${JSON.stringify(cfg)} ${mode}`).toEqual([]);
              }
            }
          }
        }
      }
    }
  });
  it('reads vec4 words where the contiguous axis allows, and fills the workgroup', () => {
    expect(stepLayout(VARIANTS.gla, { K: 128, V: 128, chunk: 64 })).toMatchObject({ kv: true, W: 4, BV: 32, TX: 8, TY: 16, RI: 8, CI: 1 });
    expect(stepLayout(VARIANTS.mamba2_ssd, { K: 128, V: 128, chunk: 64 })).toMatchObject({ kv: false, W: 4, BV: 32, TX: 32, TY: 4, RI: 1, CI: 8 });
    expect(stepLayout(VARIANTS.gla, { K: 8, V: 6, chunk: 64 })).toMatchObject({ W: 1 });
    expect(() => planStep(VARIANTS.gla, { K: 8, V: 8, chunk: 64, stepColumns: 12 })).toThrow(/stepColumns 12 is not supported; use one of 8, 16, 32, 64/);
  });
});
