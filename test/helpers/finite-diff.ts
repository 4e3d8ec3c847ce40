// Finite differences of the float64 reference: the ground truth for symbolic gradients (CPU and
// GPU) of specs FLA has no fixtures for.
import { defineVariant, sigmoid, silu, softplus, type ProblemSize, type VariantDef } from '../../dsl/index.js';
import { referenceForward } from '../../runtime/reference.js';
import { seededRandom as rng } from '../../runtime/sample.js';

/** L = sum(o * do) + sum(ht * dht) of the float64 reference, the fixtures' loss convention. */
export function referenceLoss(def: VariantDef, inputs: Record<string, Float64Array>, size: ProblemSize,
  h0: Float64Array, dO: ArrayLike<number>, dht: ArrayLike<number>): () => number {
  return () => {
    const { o, ht } = referenceForward(def, inputs, size, { h0 });
    let l = 0;
    for (let i = 0; i < o.length; i++) l += o[i]! * dO[i]!;
    for (let i = 0; i < ht.length; i++) l += ht[i]! * dht[i]!;
    return l;
  };
}

/** Central differences of `loss` w.r.t. every element of `arr` (perturbed in place, restored). */
export function centralDiff(arr: Float64Array, loss: () => number, eps = 1e-6): Float64Array {
  return Float64Array.from(arr, (_, i) => {
    const x = arr[i]!;
    arr[i] = x + eps; const lp = loss();
    arr[i] = x - eps; const lm = loss();
    arr[i] = x;
    return (lp - lm) / (2 * eps);
  });
}

/** A spec none of the nine is: the scalar gate -softplus(a) * c with its own inputs, beta =
 * sigmoid(bb), the value v * silu(z); with random inputs (c > 0), h0 and seeds. */
export function offTheNineProblem(name: string, size: ProblemSize) {
  const def = defineVariant({
    name,
    inputs: {
      q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], z: ['B', 'T', 'H', 'V'],
      a: ['B', 'T', 'H'], c: ['H'], bb: ['B', 'T', 'H'],
    },
    q: ({ q }) => q, k: ({ k }) => k, v: ({ v, z }) => v.mul(silu(z)),
    decay: 'scalar', logDecay: ({ a, c }) => softplus(a).neg().mul(c),
    correction: 'delta', beta: ({ bb }) => sigmoid(bb),
  });
  const r = rng(5);
  const inputs: Record<string, Float64Array> = {};
  for (const d of def.inputs) {
    const n = d.dims.reduce((p, x) => p * size[x], 1);
    inputs[d.name] = Float64Array.from({ length: n }, () => (d.name === 'c' ? 0.5 + r.uniform() : 0.5 * r.normal()));
  }
  const h0 = Float64Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
  const dO = Float64Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
  const dht = Float64Array.from({ length: h0.length }, () => r.normal());
  return { def, inputs, h0, dO, dht, loss: referenceLoss(def, inputs, size, h0, dO, dht) };
}
