// Random inputs in each variant's natural domain (FLA's and helion's test recipes): log-decays
// from logsigmoid, beta from sigmoid, L2-normalized keys for the delta rule, mamba's dt from
// softplus and A < 0, and for the generalized delta rule a stable transition (below). Used by `lae demo`, the benchmarks and the tests; deterministic by seed.
import { numel, inputShape, inputsOf, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { softplus64, sigmoid64 } from '../dsl/evaluate.js';

export function seededRandom(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

type Recipe = (x: { normal: () => number; uniform: () => number }) => number;
const logsigmoid: Recipe = ({ normal }) => -softplus64(-normal());
/** Per input name, when the variant's own recipe does not say otherwise. */
const BY_NAME: Record<string, Recipe> = {
  g: logsigmoid,
  w: logsigmoid,
  gk: logsigmoid,
  beta: ({ normal }) => sigmoid64(normal()),
  dt: ({ normal }) => softplus64(normal() - 1),
  A: ({ uniform }) => -(uniform() + 0.5),
  u: ({ normal }) => 0.5 * normal(),
};

/** Inputs whose last axis is L2-normalized (the delta rule expects unit keys). */
function normalizedInputs(def: VariantDef): string[] {
  if (def.correction !== 'delta') return [];
  const k = def.roles.k;
  return k && k.kind === 'input' ? [k.name] : [];
}

/** The generalized delta rule as FLA's tests and RWKV-7 build it, so the transition
 * diag(exp(g)) + b a^T stays contractive: the input role a reads is given unit rows (FLA:
 * a = normalize(a); RWKV-7: kk = normalize(k k_k)); a b that is an input of its own becomes
 * -a * sigmoid(x) (FLA: b = -a); inputs only b reads are in (0, 1) (RWKV-7's a = sigmoid(...)). */
function dplrInputs(def: VariantDef, out: Record<string, Float32Array>, rnd: { normal: () => number }, K: number): void {
  const ra = def.roles.a!, rb = def.roles.b!;
  const aIn = ra.kind === 'input' ? ra.name : ra.kind === 'unary' && ra.arg.kind === 'input' ? ra.arg.name : null;
  if (aIn) unitRows(out[aIn]!, K);
  if (rb.kind === 'input' && aIn && rb.name !== aIn) {
    const a = out[aIn]!, sign = ra.kind === 'input' ? -1 : 1;
    out[rb.name] = Float32Array.from(a, (x) => sign * x * sigmoid64(rnd.normal()));
    return;
  }
  const readByA = new Set(inputsOf(ra));
  for (const name of inputsOf(rb)) if (!readByA.has(name)) out[name] = Float32Array.from(out[name]!, () => sigmoid64(rnd.normal()));
}

/** A state the normalized form can have reached: its denominator columns positive (a sum of
 * weights, scaled), its maximum columns of the keys' size. */
function normalizedState(def: VariantDef, h0: Float32Array, size: ProblemSize, rnd: { normal: () => number; uniform: () => number }): void {
  const SV = size.V + 2;
  for (let r = 0; r < h0.length / (size.K * SV); r++) for (let d = 0; d < size.K; d++) {
    const at = (c: number) => (def.stateLayout === 'kv' ? (r * size.K + d) * SV + c : (r * SV + c) * size.K + d);
    h0[at(size.V)] = 0.5 + rnd.uniform();
    h0[at(size.V + 1)] = rnd.normal();
  }
}

function unitRows(a: Float32Array, d: number): void {
  for (let i = 0; i < a.length; i += d) {
    let n = 0;
    for (let j = 0; j < d; j++) n += a[i + j]! ** 2;
    n = Math.sqrt(n) + 1e-6;
    for (let j = 0; j < d; j++) a[i + j]! /= n;
  }
}

export function sampleInputs(def: VariantDef, size: ProblemSize, seed = 1, withH0 = true): Record<string, Float32Array> {
  const rnd = seededRandom(seed);
  const out: Record<string, Float32Array> = {};
  const unit = normalizedInputs(def);
  for (const decl of def.inputs) {
    const shape = inputShape(def, decl, size);
    const recipe = BY_NAME[decl.name] ?? (({ normal }: { normal: () => number }) => normal());
    const a = Float32Array.from({ length: numel(shape) }, () => recipe(rnd));
    if (unit.includes(decl.name)) unitRows(a, shape[shape.length - 1]!);
    out[decl.name] = a;
  }
  if (def.correction === 'dplr') dplrInputs(def, out, rnd, size.K);
  if (withH0) out.h0 = Float32Array.from({ length: numel(stateShape(def, size)) }, () => 0.5 * rnd.normal());
  if (withH0 && def.normalize === 'exp') normalizedState(def, out.h0!, size, rnd);
  return out;
}

/** Random backward seeds for a forward of `size`: do [B,T,H,V] then dht (the state's shape),
 * standard normal, from one seeded stream (the benchmarks, `lae tune` and the demo). */
export function sampleSeeds(def: VariantDef, size: ProblemSize, seed = 4): { do: Float32Array; dht: Float32Array } {
  const rnd = seededRandom(seed);
  const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => rnd.normal());
  const dht = Float32Array.from({ length: numel(stateShape(def, size)) }, () => rnd.normal());
  return { do: dO, dht };
}
