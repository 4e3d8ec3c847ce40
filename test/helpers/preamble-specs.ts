// Specs built from the fused input preambles (dsl/preambles.ts), shared by the GPU test of them
// (preambles.test.ts) and the device-free limit check (plan-check.test.ts): more inputs than any
// built-in variant, L2 normalization and an output gate.
import {
  defineVariant, gatedDeltaGate, kdaGate, mambaDt, sigmoidBeta, logsigmoid, silu, softplus, type VariantDef,
} from '../../dsl/index.js';

const softplusNeg = (g: Parameters<typeof logsigmoid>[0]) => logsigmoid(g);

/** Each spec with a title and the inputs its test checks against finite differences. */
export const PREAMBLE_SPECS: readonly { title: string; def: VariantDef; fd: readonly string[] }[] = [
  {
    title: 'Gated DeltaNet with its gate and sigmoid beta (2*sigmoid: negative eigenvalues)',
    def: defineVariant({
      name: 'gdn_preamble',
      inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], a: ['B', 'T', 'H'], A_log: ['H'], dt_bias: ['H'], b: ['B', 'T', 'H'] },
      q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'scalar', logDecay: ({ A_log, a, dt_bias }) => gatedDeltaGate(A_log, a, dt_bias),
      correction: 'delta', beta: ({ b }) => sigmoidBeta(b, { allowNegativeEigenvalues: true }),
    }),
    fd: ['a', 'A_log', 'dt_bias', 'b'],
  },
  {
    title: 'KDA with its bounded per-key gate',
    def: defineVariant({
      name: 'kda_preamble',
      inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], a: ['B', 'T', 'H', 'K'], A_log: ['H'], dt_bias: ['H', 'K'], b: ['B', 'T', 'H'] },
      q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'diagonal', logDecay: ({ A_log, a, dt_bias }) => kdaGate(A_log, a, dt_bias, -5),
      correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
    }),
    fd: ['A_log', 'dt_bias'],
  },
  {
    title: 'mamba2 with dt = softplus(dt + dt_bias) clamped to dt_limit',
    def: defineVariant({
      name: 'mamba2_dt_preamble',
      inputs: { x: ['B', 'T', 'H', 'V'], dt: ['B', 'T', 'H'], dt_bias: ['H'], A_log: ['H'], Bm: ['B', 'T', 'H', 'K'], Cm: ['B', 'T', 'H', 'K'], D: ['H'] },
      q: ({ Cm }) => Cm, k: ({ Bm }) => Bm,
      v: ({ x, dt, dt_bias }) => x.mul(mambaDt(dt, dt_bias, [0.2, 1.2])),
      decay: 'scalar', logDecay: ({ A_log, dt, dt_bias }) => A_log.exp().neg().mul(mambaDt(dt, dt_bias, [0.2, 1.2])),
      correction: 'none', outputAdd: ({ D, x }) => D.mul(x), scale: 1, stateLayout: 'vk',
    }),
    fd: ['dt', 'dt_bias', 'A_log'],
  },
  {
    title: 'L2-normalized q and k (delta rule), the normalization fused with its backward',
    def: defineVariant({
      name: 'delta_l2norm', l2norm: ['q', 'k'],
      inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H'], b: ['B', 'T', 'H'] },
      q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
      decay: 'scalar', logDecay: ({ g }) => softplusNeg(g),
      correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
    }),
    fd: ['q', 'k'],
  },
  {
    title: 'an output gate o * silu(z) with mamba2 (and an L2-normalized k)',
    def: defineVariant({
      name: 'mamba2_gated', l2norm: ['k'],
      inputs: { x: ['B', 'T', 'H', 'V'], dt: ['B', 'T', 'H'], A_log: ['H'], Bm: ['B', 'T', 'H', 'K'], Cm: ['B', 'T', 'H', 'K'], D: ['H'], z: ['B', 'T', 'H', 'V'] },
      q: ({ Cm }) => Cm, k: ({ Bm }) => Bm, v: ({ x, dt }) => x.mul(softplus(dt)),
      decay: 'scalar', logDecay: ({ A_log, dt }) => A_log.exp().neg().mul(softplus(dt)),
      correction: 'none', outputAdd: ({ D, x }) => D.mul(x), outputGate: ({ z }) => silu(z), scale: 1, stateLayout: 'vk',
    }),
    fd: ['z', 'Bm', 'D'],
  },
];
