// The generalized delta rule (FLA's DPLR, RWKV-7) in the float64 reference: the forward against
// the recurrence written out here in FLA's own form (an independent transcription of
// recurrent_dplr_delta_rule_ref), and the reverse-mode backward against central differences.
import { describe, expect, it } from 'vitest';
import { TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { centralDiff, referenceLoss } from './helpers/finite-diff.js';
import { relL2, rng } from './helpers/numerics.js';
import type { ProblemSize, VariantDef } from '../dsl/index.js';

/** Random inputs as an RWKV-7 layer makes them: w in [-e^-0.5, 0), kk unit rows, a in (0, 1). */
function rwkv7Inputs(def: VariantDef, size: ProblemSize, seed: number): Record<string, Float64Array> {
  const r = rng(seed);
  const out: Record<string, Float64Array> = {};
  for (const d of def.inputs) {
    const n = d.dims.reduce((p, x) => p * size[x], 1);
    out[d.name] = Float64Array.from({ length: n }, () => {
      if (d.name === 'w' || d.name === 'gk') return -0.6065306597126334 / (1 + Math.exp(-r.normal()));
      if (d.name === 'a' && def.name === 'rwkv7') return 1 / (1 + Math.exp(-r.normal()));
      return r.normal();
    });
  }
  for (const name of def.name === 'rwkv7' ? ['kk'] : ['a', 'b']) {
    // Unit rows, as FLA's tests make a and b (a = -kk, b = kk * sigmoid for RWKV-7).
    const x = out[name]!;
    for (let i = 0; i < x.length; i += size.K) {
      let n = 0;
      for (let j = 0; j < size.K; j++) n += x[i + j]! ** 2;
      for (let j = 0; j < size.K; j++) x[i + j]! /= Math.sqrt(n);
    }
  }
  if (def.name === 'dplr_delta_rule') for (let i = 0; i < out.a!.length; i++) out.a![i] = -out.a![i]! * 0.5;
  return out;
}

/** FLA's recurrent_dplr_delta_rule_ref, step by step, on [B,T,H,*] arrays. */
function flaRecurrence(q: Float64Array, k: Float64Array, v: Float64Array, a: Float64Array, b: Float64Array, gk: Float64Array,
  size: ProblemSize, scale: number, h0: Float64Array) {
  const { B, T, H, K, V } = size;
  const o = new Float64Array(B * T * H * V);
  const ht = new Float64Array(h0.length);
  for (let bb = 0; bb < B; bb++) for (let h = 0; h < H; h++) {
    let S = Array.from({ length: K }, (_, i) => Array.from({ length: V }, (_, j) => h0[((bb * H + h) * K + i) * V + j]!));
    for (let t = 0; t < T; t++) {
      const r = (bb * T + t) * H + h;
      const v2 = Array.from({ length: V }, (_, j) => S.reduce((acc, row, i) => acc + row[j]! * a[r * K + i]!, 0));
      S = S.map((row, i) => row.map((x, j) => x * Math.exp(gk[r * K + i]!) + k[r * K + i]! * v[r * V + j]! + b[r * K + i]! * v2[j]!));
      for (let j = 0; j < V; j++) o[r * V + j] = S.reduce((acc, row, i) => acc + row[j]! * q[r * K + i]! * scale, 0);
    }
    S.forEach((row, i) => row.forEach((x, j) => { ht[((bb * H + h) * K + i) * V + j] = x; }));
  }
  return { o, ht };
}

describe('generalized delta rule: float64 reference', () => {
  const size = { B: 2, T: 7, H: 2, K: 4, V: 3 };
  for (const def of Object.values(TOKEN_SEQUENTIAL_VARIANTS).filter((d) => d.correction === 'dplr')) {
    const inputs = rwkv7Inputs(def, size, 3);
    const r = rng(11);
    const h0 = Float64Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
    it(`${def.name}: forward is FLA's recurrence`, () => {
      const got = referenceForward(def, inputs, size, { h0 });
      const want = def.name === 'rwkv7'
        ? flaRecurrence(inputs.r!, inputs.k!, inputs.v!, inputs.kk!.map((x) => -x), inputs.kk!.map((x, i) => x * inputs.a![i]!), inputs.w!, size, 1, h0)
        : flaRecurrence(inputs.q!, inputs.k!, inputs.v!, inputs.a!, inputs.b!, inputs.gk!, size, size.K ** -0.5, h0);
      expect(relL2(got.o, want.o)).toBeLessThan(1e-13);
      expect(relL2(got.ht, want.ht)).toBeLessThan(1e-13);
    });
    const dO = Float64Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const dht = Float64Array.from({ length: h0.length }, () => r.normal());
    const grads = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
    const loss = referenceLoss(def, inputs, size, h0, dO, dht);
    for (const name of [...def.inputs.map((d) => d.name), 'h0']) {
      it(`${def.name}: d${name} matches central differences`, () => {
        const numeric = centralDiff(name === 'h0' ? h0 : inputs[name]!, loss);
        expect(relL2(grads[`d${name}`]!, numeric)).toBeLessThan(1e-7);
      });
    }
  }
});
