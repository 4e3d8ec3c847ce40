// Device-free: every plan of every variant, in both tiers and at several tilings, binds only
// buffers it declares (or its forward does), declares in WGSL exactly what it binds, and binds
// every scratch and output buffer it declares (codegen/check.ts). Golden WGSL of three variants'
// forward and backward kernels (test/__snapshots__/wgsl): a codegen refactor shows as a diff.
import { describe, expect, it } from 'vitest';
import { checkPlan, planBackward, planForward, planStep, type CodegenConfig } from '../codegen/index.js';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';

const CONFIGS: CodegenConfig[] = [
  { K: 64, V: 32, chunk: 64 },
  { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix' },
  { K: 48, V: 40, chunk: 32, fragments: 'portable', compactLoops: true },
  { K: 18, V: 10, chunk: 16, varlen: true, fragments: 'subgroup-matrix', inputDtypes: { v: 'bf16' }, outputDtype: 'f16' },
  // The smallest layouts the tuning knob fragmentMemory can ask for at these dims.
  { K: 32, V: 32, chunk: 32, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 16384 },
];

describe('plan check', () => {
  it.each(VARIANT_NAMES)('%s: forward, recurrent, step, step pool and backward plans are consistent', (name) => {
    const def = VARIANTS[name];
    for (const cfg0 of CONFIGS) {
      const cfg = { ...cfg0, inputDtypes: cfg0.inputDtypes && def.inputs.some((i) => i.name === 'v') ? cfg0.inputDtypes : undefined };
      const fwd = planForward(def, cfg);
      const plans = [fwd, planForward(def, cfg, 'recurrent'), planStep(def, cfg), planStep(def, cfg, 'stepPool')];
      for (const p of plans) expect(checkPlan(p), `${p.mode} ${JSON.stringify(cfg)}`).toEqual([]);
      expect(checkPlan(planBackward(def, cfg), fwd), `backward ${JSON.stringify(cfg)}`).toEqual([]);
    }
  });
  it('a fragment-memory budget the tensor-core layouts cannot fit is an error that says what to raise', () => {
    expect(() => planForward(VARIANTS.gated_delta_rule, { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 16384 }))
      .toThrow(/no prep tiling of the tensor-core tier fits 16384 bytes of workgroup memory \(K = 128, V = 128, chunk 64\); raise tuning.fragmentMemory/);
    expect(() => planForward(VARIANTS.gla, { K: 128, V: 128, chunk: 64, fragmentMemory: 100 })).toThrow(/fragmentMemory 100 must be a whole number of bytes, at least 8192/);
  });
  it('reports a binding to an undeclared buffer, a declaration the WGSL lacks, and an unbound output', () => {
    const plan = planForward(VARIANTS.gla, CONFIGS[0]!);
    const k = plan.kernels[1]!;
    const broken = {
      ...plan,
      buffers: [...plan.buffers, { name: 'orphan', kind: 'output' as const, elems: [4] }],
      kernels: [{ ...k, bindings: [...k.bindings, { buffer: 'nowhere', access: 'read' as const }] }, ...plan.kernels.slice(2)],
    };
    const problems = checkPlan(broken);
    expect(problems.some((p) => p.includes("'nowhere'") && p.includes('no such buffer'))).toBe(true);
    expect(problems.some((p) => p.includes("'nowhere'") && p.includes('does not declare'))).toBe(true);
    expect(problems.some((p) => p.includes("buffer 'orphan'"))).toBe(true);
  });
});

describe('golden WGSL', () => {
  const cases = [
    ['gla', { K: 64, V: 64, chunk: 64 }],
    ['gated_delta_rule', { K: 64, V: 64, chunk: 64 }],
    ['mamba2_ssd', { K: 64, V: 64, chunk: 64 }],
    ['gated_delta_rule', { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix' }],
    ['gla', { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix' }],
  ] as const;
  it.each(cases)('%s %o', async (name, cfg) => {
    const def = VARIANTS[name];
    const tier = 'fragments' in cfg ? 'tc' : 'f32';
    // The tensor-core tier's backward is the f32 tier's kernels: its forward only.
    for (const plan of tier === 'tc' ? [planForward(def, cfg)] : [planForward(def, cfg), planBackward(def, cfg)]) {
      for (const k of plan.kernels) {
        await expect(k.wgsl).toMatchFileSnapshot(`__snapshots__/wgsl/${tier}/${k.name}.${plan.mode}.wgsl`);
      }
    }
  });
});
