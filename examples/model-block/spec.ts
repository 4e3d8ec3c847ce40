// The attention core of a Gated DeltaNet block (Qwen3-Next's linear-attention layers) as a lae
// spec: the gate and beta preambles are expressions over the projections' raw outputs, so they
// are fused into the kernels' loads (no kernel of the block computes them), and q, k are
// L2-normalized inside the kernels (FLA's use_qk_l2norm_in_kernel).
import { defineVariant, gatedDeltaGate, sigmoidBeta } from '../../index.js';

export default defineVariant({
  name: 'gated_deltanet_block',
  description: 'Gated DeltaNet with its preambles: g = -exp(A_log) * softplus(a + dt_bias), beta = sigmoid(b), l2-normalized q, k',
  inputs: {
    q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'],
    a: ['B', 'T', 'H'], b: ['B', 'T', 'H'], A_log: ['H'], dt_bias: ['H'],
  },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'scalar', logDecay: ({ A_log, a, dt_bias }) => gatedDeltaGate(A_log, a, dt_bias),
  correction: 'delta', beta: ({ b }) => sigmoidBeta(b),
  l2norm: ['q', 'k'],
});
