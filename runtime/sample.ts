// Random inputs in each variant's natural domain (FLA's and helion's test recipes): log-decays
// from logsigmoid, beta from sigmoid, L2-normalized keys for the delta rule, mamba's dt from
// softplus and A < 0. Used by `lae demo`, the benchmarks and the tests; deterministic by seed.
import { numel, inputShape, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
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

export function sampleInputs(def: VariantDef, size: ProblemSize, seed = 1, withH0 = true): Record<string, Float32Array> {
  const rnd = seededRandom(seed);
  const out: Record<string, Float32Array> = {};
  const unit = normalizedInputs(def);
  for (const decl of def.inputs) {
    const shape = inputShape(def, decl, size);
    const recipe = BY_NAME[decl.name] ?? (({ normal }: { normal: () => number }) => normal());
    const a = Float32Array.from({ length: numel(shape) }, () => recipe(rnd));
    if (unit.includes(decl.name)) {
      const d = shape[shape.length - 1]!;
      for (let i = 0; i < a.length; i += d) {
        let n = 0;
        for (let j = 0; j < d; j++) n += a[i + j]! ** 2;
        n = Math.sqrt(n) + 1e-6;
        for (let j = 0; j < d; j++) a[i + j]! /= n;
      }
    }
    out[decl.name] = a;
  }
  if (withH0) out.h0 = Float32Array.from({ length: numel(stateShape(def, size)) }, () => 0.5 * rnd.normal());
  return out;
}
