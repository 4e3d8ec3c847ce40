// Device-free: every plan of every variant, in both tiers and at several tilings, binds only
// buffers it declares (or its forward does), declares in WGSL exactly what it binds, and binds
// every scratch and output buffer it declares (codegen/check.ts). Golden WGSL of three variants'
// forward, backward and decode-step kernels (test/__snapshots__/wgsl): a codegen refactor shows as a diff.
import { describe, expect, it } from 'vitest';
import {
  checkLimits, checkPlan, hasBackward, hasChunkedForm, kernelUsage, planBackward, planForward, planStep, DEFAULT_LIMITS, DEFAULT_DQK_FORM, DQK_FORMS, type CodegenConfig, type KernelPlan,
} from '../codegen/index.js';
import { qkHeaded, type VariantDef } from '../dsl/index.js';
import { VARIANTS, VARIANT_NAMES, TOKEN_SEQUENTIAL_NAMES, TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { PREAMBLE_SPECS } from './helpers/preamble-specs.js';
import { tensorCoreLimitBlocker } from '../runtime/tier.js';

const CONFIGS: CodegenConfig[] = [
  { K: 64, V: 32, chunk: 64 },
  { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix' },
  { K: 48, V: 40, chunk: 32, fragments: 'portable', compactLoops: true },
  { K: 18, V: 10, chunk: 16, varlen: true, fragments: 'subgroup-matrix', inputDtypes: { v: 'bf16' }, outputDtype: 'f16' },
  // The smallest layouts the tuning knob fragmentMemory can ask for at these dims.
  { K: 32, V: 32, chunk: 32, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 16384 },
];

// The f32 tier over the option space: CONFIGS without the tensor cores, plus packed sequences at
// the largest head dims, every input 16-bit, grouped value heads (q/k inputs with H / G heads),
// and WebGPU's default 16 KiB of workgroup memory (chunks of 32 and 16).
type Options = CodegenConfig & { allHalf?: true; grouped?: true };
const F32_CONFIGS: Options[] = [
  ...CONFIGS.map(({ fragments: _f, scalarLoads: _s, fragmentMemory: _m, ...c }) => c),
  { K: 128, V: 128, chunk: 64, varlen: true, allHalf: true, grouped: true, outputDtype: 'bf16' },
  { K: 256, V: 256, chunk: 64, varlen: true },
  { K: 256, V: 256, chunk: 16, grouped: true },
  { K: 256, V: 256, chunk: 32, wgMemory: 16384, varlen: true },
  { K: 128, V: 64, chunk: 16, wgMemory: 16384, allHalf: true },
];

/** The config of `opts` for one spec: its inputs' dtypes and grouped inputs filled in. */
function configFor(def: VariantDef, opts: Options): CodegenConfig {
  const { allHalf, grouped, ...cfg } = opts;
  const inputDtypes = allHalf ? Object.fromEntries(def.inputs.map((i) => [i.name, 'f16' as const]))
    : cfg.inputDtypes && def.inputs.some((i) => i.name === 'v') ? cfg.inputDtypes : undefined;
  const qkInputs = grouped ? def.inputs.filter((i) => qkHeaded(def, i.name)).map((i) => i.name) : [];
  return { ...cfg, inputDtypes, ...(qkInputs.length ? { qkInputs } : {}) };
}

/** Every plan of a spec at a config: the chunked (where the spec has it) and token-sequential
 * forwards, both steps, the backward (after the first of the forwards). */
function allPlans(def: VariantDef, cfg: CodegenConfig): KernelPlan[] {
  return [...(hasChunkedForm(def) ? [planForward(def, cfg)] : []), planForward(def, cfg, 'recurrent'), planStep(def, cfg), planStep(def, cfg, 'stepPool'),
    ...(hasBackward(def, cfg) ? [planBackward(def, cfg)] : [])];
}

const SPECS: [string, VariantDef][] = [
  ...VARIANT_NAMES.map((n) => [n, VARIANTS[n]] as [string, VariantDef]),
  ...PREAMBLE_SPECS.map((s) => [s.def.name, s.def] as [string, VariantDef]),
  ...TOKEN_SEQUENTIAL_NAMES.map((n) => [n, TOKEN_SEQUENTIAL_VARIANTS[n]] as [string, VariantDef]),
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
  // The prep binds its five or six inputs (q among them) and six per-chunk outputs (gcum, bg16,
  // tmat, ak16, aqb16, aqk16): 11 storage buffers, past WebGPU's default 8 as the tier's other
  // kernels are; the adapters the tier runs on grant 16 (H200, lavapipe). Under the tuning knob
  // outputScores 'output' the output stage computes its scores and the prep binds fewer.
  it.each(['rwkv7', 'dplr_delta_rule'] as const)("%s: the chunked forward of the tensor-core tier is consistent, within 11 storage buffers per kernel", (name) => {
    const def = TOKEN_SEQUENTIAL_VARIANTS[name];
    for (const cfg0 of CONFIGS.filter((c) => c.fragments)) {
      for (const outputScores of [undefined, 'output' as const]) {
        const cfg = { ...cfg0, inputDtypes: undefined, ...(outputScores ? { outputScores } : {}) };
        const fwd = planForward(def, cfg);
        expect(fwd.kernels.map((k) => k.stage).filter((s) => s !== 'packOut'), JSON.stringify(cfg)).toEqual(['prep', 'chunkState', 'inverse', 'wyFactors', 'deltaScan', 'output']);
        expect(checkPlan(fwd), JSON.stringify(cfg)).toEqual([]);
        // Packed sequences add the chunk table.
        for (const k of fwd.kernels) expect(kernelUsage(k).storageBuffers, `${k.name} ${JSON.stringify(cfg)}`).toBeLessThanOrEqual(cfg.varlen ? 12 : 11);
        // The output's scores: from the prep's f16 blocks, or its own.
        const output = fwd.kernels.find((k) => k.stage === 'output')!;
        expect(output.bindings.some((b) => b.buffer === 'aqk16'), JSON.stringify(cfg)).toBe(!outputScores);
      }
    }
  });
  // The output's scores of a per-key decay come before the output (scoresInPrep): kda's prep
  // computes them beside A_kk, gla's and rwkv6's a scores stage after the prep; the output and
  // the backward's bwdDvLocal read them, and the backward has no bwdScores. Under outputScores
  // 'output' the output stage computes them and the backward recomputes them.
  it.each(['gla', 'kda', 'rwkv6'] as const)("%s: the output's scores come before the output unless tuning.outputScores is 'output'", (name) => {
    for (const cfg0 of CONFIGS.filter((c) => c.fragments)) {
      for (const outputScores of [undefined, 'output' as const]) {
        const cfg = { ...cfg0, inputDtypes: undefined, ...(outputScores ? { outputScores } : {}) };
        const fwd = planForward(VARIANTS[name], cfg);
        const bwd = planBackward(VARIANTS[name], cfg);
        expect(checkPlan(fwd), JSON.stringify(cfg)).toEqual([]);
        expect(checkPlan(bwd, fwd), JSON.stringify(cfg)).toEqual([]);
        const binds = (plan: typeof fwd, stage: string) => plan.kernels.find((k) => k.stage === stage)!.bindings.map((b) => b.buffer);
        const maker = name === 'kda' ? 'prep' : 'scores';
        expect(fwd.kernels.some((k) => k.stage === 'scores'), JSON.stringify(cfg)).toBe(name !== 'kda' && !outputScores);
        if (!outputScores) expect(binds(fwd, maker), JSON.stringify(cfg)).toContain('aqk16');
        expect(binds(fwd, 'output').includes('aqk16'), JSON.stringify(cfg)).toBe(!outputScores);
        // The intra-chunk du: bwdDvLocal, or bwdDu's form that makes it ('bwdDu:local').
        const local = bwd.kernels.some((k) => k.stage === 'bwdDvLocal') ? 'bwdDvLocal' : 'bwdDu';
        expect(binds(bwd, local).includes('aqk16'), JSON.stringify(cfg)).toBe(!outputScores);
        expect(bwd.kernels.some((k) => k.stage === 'bwdScores'), JSON.stringify(cfg)).toBe(!!outputScores);
      }
    }
  });
  // bwdDvLocal stages bwdScores' A whole (8 KiB at chunk 64) where the forward kept no scores:
  // past a 16 KiB fragmentMemory it keeps the f32 kernel; with the forward's aqk16 (gla) it
  // loads A's fragments from storage and fits.
  it('bwdDvLocal runs on fragments where its layout fits the budget, else the f32 kernel', () => {
    const cfg = { K: 64, V: 64, chunk: 64 as const, wgMemory: 49152 as const, fragments: 'subgroup-matrix' as const, fragmentMemory: 16384 };
    const dvLocal = (name: 'linear_attn' | 'gla', extra = {}) => planBackward(VARIANTS[name], { ...cfg, ...extra }).kernels.find((k) => k.stage === 'bwdDvLocal')!;
    expect(dvLocal('linear_attn').workgroupSize, 'f32 kernel').toBe(256);
    expect(dvLocal('linear_attn', { fragmentMemory: 32768 }).workgroupSize, 'fragments').toBe(128);
    expect(dvLocal('gla').workgroupSize, 'fragments').toBe(128);
    expect(kernelUsage(dvLocal('gla')).workgroupBytes).toBeLessThanOrEqual(16384);
  });
  it('the scalar decays and the plain delta rule compute their scores in the output (factored, no aqk16)', () => {
    const cfg = { ...CONFIGS.find((c) => c.fragments)!, inputDtypes: undefined };
    for (const name of ['linear_attn', 'simple_gla', 'gated_delta_rule', 'mamba2_ssd'] as const) {
      expect(planForward(VARIANTS[name], cfg).kernels.some((k) => k.bindings.some((b) => b.buffer === 'aqk16')), name).toBe(false);
      expect(planBackward(VARIANTS[name], cfg).kernels.some((k) => k.stage === 'bwdScores'), name).toBe(true);
    }
  });
  it("rwkv7's chunked stages fit 24 KiB of workgroup memory at K = V = 128, chunk 64 (two workgroups per H200 multiprocessor)", () => {
    const cfg = { K: 128, V: 128, chunk: 64 as const, wgMemory: 49152 as const, fragments: 'subgroup-matrix' as const };
    for (const k of planForward(TOKEN_SEQUENTIAL_VARIANTS.rwkv7, cfg).kernels) expect(kernelUsage(k).workgroupBytes, k.stage).toBeLessThanOrEqual(24576);
  });
  it("the delta rule's prep keeps its inverse where the fused kernel fits 24 KiB, else an inverse stage takes it", () => {
    const cfg = { K: 128, V: 128, chunk: 64 as const, wgMemory: 49152 as const, fragments: 'subgroup-matrix' as const };
    const stages = (name: 'delta_rule' | 'gated_delta_rule' | 'kda', extra = {}) => planForward(VARIANTS[name], { ...cfg, ...extra }).kernels.map((k) => k.stage);
    expect(stages('delta_rule')).toEqual(['prep', 'wyFactors', 'deltaScan', 'output']);
    expect(stages('gated_delta_rule')).toEqual(['prep', 'wyFactors', 'deltaScan', 'output']);
    expect(stages('kda')).toEqual(['prep', 'inverse', 'wyFactors', 'deltaScan', 'output']);
    // One cap (the tuning knob) that the fused kernel fits keeps it fused.
    expect(stages('kda', { fragmentMemory: 49152 })).toEqual(['prep', 'wyFactors', 'deltaScan', 'output']);
    for (const k of planForward(VARIANTS.kda, cfg).kernels) expect(kernelUsage(k).workgroupBytes, k.stage).toBeLessThanOrEqual(24576);
  });
  it("the delta rule's key gradient (wyDk, kda's wyX2) fits 24 KiB at K = V = 128, chunk 64; one cap of 48 KiB keeps the paired layout", () => {
    const cfg = { K: 128, V: 128, chunk: 64 as const, wgMemory: 49152 as const, fragments: 'subgroup-matrix' as const };
    for (const name of ['delta_rule', 'gated_delta_rule', 'kda'] as const) {
      const stage = name === 'kda' ? 'wyX2' : 'wyDk';
      const bytes = (extra = {}) => {
        const fwd = planForward(VARIANTS[name], { ...cfg, ...extra });
        const k = planBackward(VARIANTS[name], fwd.config).kernels.find((x) => x.stage === stage)!;
        expect(k.wgsl, `${name} ${stage}`).toContain('subgroup_matrix');
        return kernelUsage(k).workgroupBytes;
      };
      // Serial: one 64 x 72 left, a 64 x 64 right (f16), one scratch fragment per subgroup, the
      // rows' gate and beta, the non-finite flags. Paired: two lefts, two scratch fragments.
      expect(bytes(), name).toBe(22544);
      expect(bytes({ fragmentMemory: 49152 }), name).toBe(35856);
    }
  });
  // The forms of bwdDq and bwdDk of a per-key decay (tuning.dqkForm, tc-bwd-dqk.ts): the same
  // stages, bindings and workgroup memory as the default form (only 'single' tiles the keys by
  // its slab), every other kernel's WGSL and grid the default's but for the config in its header
  // (kda's wyDk by sub-blocks, which takes tc-bwd-dqk.ts's pieces, among them: portable, and on
  // the subgroup matrices under unverifiedFragments).
  it.each(['gla', 'kda', 'rwkv6'] as const)('%s: each dq / dk form is a consistent plan that changes only bwdDq and bwdDk', (name) => {
    const def = VARIANTS[name];
    const header = (w: string) => w.replace(/^\/\/ spec hash .*$/m, '');
    for (const cfg0 of [...CONFIGS.filter((c) => c.fragments), { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 49152 },
      { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', unverifiedFragments: true }] as CodegenConfig[]) {
      const cfg = { ...cfg0, inputDtypes: undefined };
      const fwd = planForward(def, cfg);
      const base = planBackward(def, cfg);
      for (const dqkForm of DQK_FORMS.filter((f) => f !== DEFAULT_DQK_FORM)) {
        const at = `${dqkForm} ${JSON.stringify(cfg)}`;
        const bwd = planBackward(def, { ...cfg, dqkForm });
        expect(checkPlan(bwd, fwd), at).toEqual([]);
        expect(bwd.kernels.map((k) => k.stage), at).toEqual(base.kernels.map((k) => k.stage));
        for (const [i, k] of bwd.kernels.entries()) {
          const b = base.kernels[i]!;
          expect(kernelUsage(k).storageBuffers, `${k.name} ${at}`).toBe(kernelUsage(b).storageBuffers);
          if (k.stage !== 'bwdDq' && k.stage !== 'bwdDk') {
            expect(header(k.wgsl), `${k.name} ${at}`).toBe(header(b.wgsl));
            expect(k.grid, `${k.name} ${at}`).toEqual(b.grid);
            continue;
          }
          expect(k.wgsl, `${k.name} ${at}`).toContain(cfg.fragments === 'subgroup-matrix' ? 'subgroupMatrixMultiplyAccumulate' : 'var<workgroup> wh');
          if (dqkForm !== 'single') expect([kernelUsage(k).workgroupBytes, k.grid], `${k.name} ${at}`).toEqual([kernelUsage(b).workgroupBytes, b.grid]);
        }
      }
    }
    // At K = V = 128, chunk 64: 22 KiB (slabs of 16 keys) within the default budgets, 33 KiB
    // (slabs of 32) at fragmentMemory 49152; 'single' tiles the keys by 16, or by 32 in 33 KiB.
    const h200 = { K: 128, V: 128, chunk: 64 as const, wgMemory: 49152 as const, fragments: 'subgroup-matrix' as const };
    const dq = (extra: Partial<CodegenConfig>) => planBackward(def, { ...h200, ...extra }).kernels.find((k) => k.stage === 'bwdDq')!;
    expect(kernelUsage(dq({})).workgroupBytes).toBe(22528);
    expect(kernelUsage(dq({ dqkForm: 'pipelined' })).workgroupBytes).toBe(22528);
    expect(kernelUsage(dq({ fragmentMemory: 49152 })).workgroupBytes).toBe(33792);
    expect([kernelUsage(dq({ dqkForm: 'single' })).workgroupBytes, dq({ dqkForm: 'single' }).grid[0]]).toEqual([22528, [8]]);
    expect([kernelUsage(dq({ dqkForm: 'single', fragmentMemory: 49152 })).workgroupBytes, dq({ dqkForm: 'single', fragmentMemory: 49152 }).grid[0]]).toEqual([33792, [4]]);
    expect(() => planBackward(def, { ...h200, dqkForm: 'fast' as never })).toThrow(/dqkForm "fast" must be one of staged, prefetch, shared, pipelined, single/);
  });
  it("kda's key gradient by sub-blocks (wyDk, on the subgroup matrices by default) fits 24 KiB at K = V = 128, chunk 64, and binds the f32 tier's wyDk's buffers", () => {
    const cfg = { K: 128, V: 128, chunk: 64 as const, wgMemory: 49152 as const };
    for (const extra of [{}, { varlen: true as const }]) {
      const wyDk = (fragments?: 'subgroup-matrix') => {
        const fwd = planForward(VARIANTS.kda, { ...cfg, ...extra, ...(fragments ? { fragments } : {}) });
        return planBackward(VARIANTS.kda, fwd.config).kernels.find((x) => x.stage === 'wyDk')!;
      };
      const [f32, tc] = [wyDk(), wyDk('subgroup-matrix')];
      expect(f32.wgsl).not.toContain('subgroup_matrix');
      expect(tc.wgsl).toContain('subgroup_matrix');
      // dA's blocks below the diagonal and one region of anchored rows (f16, key slabs of 16);
      // one scratch fragment per subgroup, G and k of the slab, dA's diagonal blocks, beta (f32).
      expect(kernelUsage(tc).workgroupBytes).toBe(2 * (1536 + 96 * 16) + 4 * (1024 + 2 * 64 * 16 + 1024 + 64));
      expect(kernelUsage(tc).workgroupBytes).toBeLessThanOrEqual(24576);
      expect(tc.bindings.map((b) => b.buffer).sort()).toEqual(f32.bindings.map((b) => b.buffer).sort());
    }
  });
  it('a fragment-memory budget the tensor-core layouts cannot fit is an error that says what to raise', () => {
    expect(() => planForward(VARIANTS.gated_delta_rule, { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 16384 }))
      .toThrow(/the delta rule's triangular inverse at chunk 64 needs 19456 bytes of workgroup memory, past 16384; raise tuning.fragmentMemory/);
    // gla's output computing its own scores (its default, with the scores stage, fits 16 KiB).
    expect(() => planForward(VARIANTS.gla, { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', fragmentMemory: 16384, outputScores: 'output' }))
      .toThrow(/no output tiling of the tensor-core tier fits 16384 bytes of workgroup memory \(K = 128, V = 128, chunk 64\); raise tuning.fragmentMemory/);
    expect(() => planForward(VARIANTS.gla, { K: 128, V: 128, chunk: 64, fragmentMemory: 100 })).toThrow(/fragmentMemory 100 must be a whole number of bytes, at least 8192/);
  });
  // The f32 tier's option space, where fitting into 8 storage buffers packs buffers and moves
  // the state in place (codegen/fit.ts), and the preamble specs, whose many inputs need it most.
  it.each(SPECS)('%s: the plans over the f32 option space are consistent', (_name, def) => {
    for (const opts of F32_CONFIGS) {
      const cfg = configFor(def, opts);
      const [fwd, ...rest] = allPlans(def, cfg);
      for (const p of [fwd!, ...rest]) expect(checkPlan(p, p.mode === 'backward' ? fwd : undefined), `${p.mode} ${JSON.stringify(opts)}`).toEqual([]);
    }
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

describe("the f32 tier within WebGPU's default limits", () => {
  it.each(SPECS)('%s: every kernel of every plan binds <= 8 storage buffers, runs <= 256 invocations, fits its workgroup memory', (_name, def) => {
    const over: string[] = [];
    for (const opts of F32_CONFIGS) {
      const cfg = configFor(def, opts);
      for (const plan of allPlans(def, cfg)) {
        for (const k of plan.kernels) {
          const u = kernelUsage(k);
          if (u.storageBuffers > DEFAULT_LIMITS.maxStorageBuffersPerShaderStage || u.invocations > DEFAULT_LIMITS.maxComputeInvocationsPerWorkgroup
            || u.workgroupBytes > (cfg.wgMemory ?? 32768)) {
            over.push(`${k.name} (${plan.mode}): ${u.storageBuffers} buffers, ${u.invocations} invocations, ${u.workgroupBytes} B at ${JSON.stringify(opts)}`);
          }
        }
      }
    }
    expect(over).toEqual([]);
  });
});

describe('the limit check', () => {
  it('names the kernel, the limit and the count, and says what to do', () => {
    // The tensor-core tier's WY factors bind 9 storage buffers with packed sequences' chunk
    // table: past WebGPU's default 8.
    const tc = checkLimits(planForward(VARIANTS.gated_delta_rule, { K: 128, V: 128, chunk: 64, fragments: 'subgroup-matrix', varlen: true }), DEFAULT_LIMITS);
    const wy = tc.find((v) => v.kernel === 'gated_delta_rule_wyFactors' && v.limit === 'maxStorageBuffersPerShaderStage');
    expect(wy).toMatchObject({ count: 9, max: 8 });
    expect(wy!.message).toMatch(/^kernel 'gated_delta_rule_wyFactors' \(tensor-core tier, 'subgroup-matrix'\) binds 9 storage buffers; this device's maxStorageBuffersPerShaderStage is 8\. Use a device with maxStorageBuffersPerShaderStage >= 9 .*tensorCores: 'off'/);
    // Chunks of 64 need more than 16 KiB of workgroup memory; 32 fit.
    const wide = checkLimits(planForward(VARIANTS.gla, { K: 64, V: 64, chunk: 64, wgMemory: 16384 }), DEFAULT_LIMITS);
    expect(wide.length).toBeGreaterThan(0);
    for (const v of wide) {
      expect(v.limit).toBe('maxComputeWorkgroupStorageSize');
      expect(v.message).toMatch(new RegExp(`^kernel '${v.kernel}' \\(f32 tier\\) needs ${v.count} bytes of workgroup memory; this device's maxComputeWorkgroupStorageSize is 16384\\. Use a smaller chunkSize`));
    }
    expect(checkLimits(planForward(VARIANTS.gla, { K: 64, V: 64, chunk: 32, wgMemory: 16384 }), DEFAULT_LIMITS)).toEqual([]);
    // Invocations, and the size of a bound buffer where the caller knows it.
    const plan = planForward(VARIANTS.gla, { K: 64, V: 64, chunk: 32 });
    const small = { ...DEFAULT_LIMITS, maxComputeInvocationsPerWorkgroup: 128, maxStorageBufferBindingSize: 1024 };
    const found = checkLimits(plan, small, new Map([['in_q', 4096]]));
    expect(found.some((v) => v.limit === 'maxComputeInvocationsPerWorkgroup' && v.count === 256 && v.message.includes('runs 256 invocations per workgroup'))).toBe(true);
    expect(found.some((v) => v.limit === 'maxStorageBufferBindingSize' && v.count === 4096 && /binds 'q' of 4096 bytes/.test(v.message))).toBe(true);
  });
  it("the tensor-core tier is chosen only where the device grants what its kernels need", () => {
    expect(tensorCoreLimitBlocker(DEFAULT_LIMITS)).toMatch(/32768 bytes of workgroup memory; the device grants 16384/);
    expect(tensorCoreLimitBlocker({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 32768 })).toMatch(/its kernel '\w+_wyFactors' needs \d+ \(maxStorageBuffersPerShaderStage\); the device grants 8/);
    // 8 in the delta rule's WY factors, 9 with packed sequences (the chunk table).
    expect(tensorCoreLimitBlocker({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 32768 }, 'portable')).toMatch(/needs 9/);
    expect(tensorCoreLimitBlocker({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 32768, maxStorageBuffersPerShaderStage: 9 }, 'portable')).toBeNull();
  });
});

describe('golden WGSL', () => {
  const cases = [
    ['gla', { K: 64, V: 64, chunk: 64 }],
    ['gated_delta_rule', { K: 64, V: 64, chunk: 64 }],
    ['mamba2_ssd', { K: 64, V: 64, chunk: 64 }],
    // (unverifiedFragments: the backward's tensor-core stages awaiting a GPU check too.)
    ['gated_delta_rule', { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', unverifiedFragments: true }],
    ['gla', { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', unverifiedFragments: true }],
  ] as const;
  it.each(cases)('%s %o', async (name, cfg) => {
    const def = VARIANTS[name];
    const tier = 'fragments' in cfg ? 'tc' : 'f32';
    // The tensor-core tier's backward is the f32 tier's kernels (kept above) but for its own
    // stages (the delta rule's backward scan).
    // The decode step's kernel too (f32 tier; the step has no tensor-core form).
    for (const plan of [planForward(def, cfg), planBackward(def, cfg), ...(tier === 'f32' ? [planStep(def, cfg)] : [])]) {
      for (const k of plan.kernels) {
        if (tier === 'tc' && plan.mode === 'backward' && !k.wgsl.includes('subgroup_matrix')) continue;
        await expect(k.wgsl).toMatchFileSnapshot(`__snapshots__/wgsl/${tier}/${k.name}.${plan.mode}.wgsl`);
      }
    }
  });
  // kda's key gradient by sub-blocks on the subgroup matrices (tc-bwd-wy-diag.ts), which awaits its
  // GPU check (the hardware lowering runs it only under unverifiedFragments).
  it("kda's wyDk by sub-blocks", async () => {
    const cfg = { K: 128, V: 128, chunk: 64, wgMemory: 49152, fragments: 'subgroup-matrix', unverifiedFragments: true } as const;
    const k = planBackward(VARIANTS.kda, cfg).kernels.find((x) => x.stage === 'wyDk')!;
    expect(k.wgsl).toContain('subgroup_matrix');
    await expect(k.wgsl).toMatchFileSnapshot('__snapshots__/wgsl/tc/kda_wyDk.backward.wgsl');
  });
});
