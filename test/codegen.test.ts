// The plan and its WGSL, without a device: which stages each variant gets, what the cache key
// depends on, and that the spec's expressions are fused into the loads.
import { describe, expect, it } from 'vitest';
import { planBackward, planForward } from '../codegen/index.js';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';

const cfg = { K: 64, V: 32, chunk: 64 } as const;

describe('kernel plans', () => {
  it('chooses the stages from decay and correction, never from the variant name', () => {
    const stages = Object.fromEntries(VARIANT_NAMES.map((n) => [n, planForward(VARIANTS[n], cfg).kernels.map((k) => k.stage).join(' ')]));
    expect(stages).toEqual({
      linear_attn: 'chunkState stateScan output',
      simple_gla: 'prep chunkState stateScan output',
      retention: 'prep chunkState stateScan output',
      gla: 'prep chunkState stateScan output',
      delta_rule: 'prep deltaScan output',
      gated_delta_rule: 'prep deltaScan output',
      kda: 'prep deltaScan output',
      rwkv6: 'prep chunkState stateScan output',
      mamba2_ssd: 'prep chunkState stateScan output',
    });
    expect(planForward(VARIANTS.gla, cfg, 'recurrent').kernels.map((k) => k.stage)).toEqual(['recurrent']);
  });
  it('keys the cache by the spec hash and exactly the config the WGSL depends on', () => {
    const a = planForward(VARIANTS.gla, cfg);
    expect(planForward(VARIANTS.gla, { ...cfg }).key).toBe(a.key);
    for (const other of [{ ...cfg, K: 32 }, { ...cfg, V: 64 }, { ...cfg, chunk: 32 as const }, { ...cfg, wgMemory: 49152 as const }]) {
      expect(planForward(VARIANTS.gla, other).key).not.toBe(a.key);
    }
    expect(planForward(VARIANTS.simple_gla, cfg).key).not.toBe(a.key);
    expect(a.key).toContain(VARIANTS.gla.hash);
  });
  it('fuses mamba2 modifiers into the loads and labels every kernel', () => {
    const plan = planForward(VARIANTS.mamba2_ssd, cfg);
    const wgsl = plan.kernels.map((k) => k.wgsl).join('\n');
    expect(wgsl).toContain('fn role_v(b: u32, t: u32, h: u32, j: u32) -> f32 { return (in_x[');
    expect(wgsl).toMatch(/fn role_v\([^)]*\) -> f32 \{ return \(in_x\[[^\]]+\] \* in_dt\[[^\]]+\]\); \}/);
    expect(wgsl).toMatch(/fn role_logDecay\([^)]*\) -> f32 \{ return \(in_A\[h\] \* in_dt\[/);
    expect(wgsl).toMatch(/fn role_outputAdd\([^)]*\) -> f32 \{ return \(in_D\[h\] \* in_x\[/);
    for (const k of plan.kernels) {
      expect(k.wgsl.startsWith(`// lae kernel '${k.name}' (${k.stage}) for variant 'mamba2_ssd'`)).toBe(true);
      expect(k.wgsl).toContain(`spec hash ${VARIANTS.mamba2_ssd.hash}`);
    }
  });
  it('refuses configs the kernels do not support', () => {
    expect(() => planForward(VARIANTS.gla, { ...cfg, K: 257 })).toThrow(/K = 257 is not supported: the kernels take head dims 1..256/);
    expect(() => planForward(VARIANTS.gla, { ...cfg, chunk: 128 as 64 })).toThrow(/chunk size 128 is not supported; use one of 16, 32, 64/);
  });
});

describe('backward plans', () => {
  it('skip the chain kernel of an input read only as a role itself: its gradient is that role buffer', () => {
    const aliases = (name: keyof typeof VARIANTS, extra: object = {}) => Object.fromEntries(planBackward(VARIANTS[name], { ...cfg, ...extra }).buffers
      .filter((b) => b.name.startsWith('grad_in_')).map((b) => [b.name.slice(8), b.aliasOf ?? null]));
    expect(aliases('gla')).toEqual({ q: 'grad_q', k: 'grad_k', v: 'grad_v', g: 'grad_logDecay' });
    // mamba2: C and B are q and k as they are; x, dt, A and D enter through products.
    expect(aliases('mamba2_ssd')).toEqual({ x: null, dt: null, A: null, Bm: 'grad_k', Cm: 'grad_q', D: null });
    // RWKV6's u is per head while its role gradient is per token: it needs the chain's sum.
    expect(aliases('rwkv6').u).toBeNull();
    // Grouped heads: q and k sum over each group of value heads.
    expect(aliases('gated_delta_rule', { qkInputs: ['q', 'k'] })).toMatchObject({ q: null, k: null, v: 'grad_v', beta: 'grad_beta' });
    const chains = planBackward(VARIANTS.gla, cfg).kernels.filter((k) => k.stage === 'chain');
    expect(chains).toEqual([]);
  });
});
