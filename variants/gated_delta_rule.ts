// S~ = exp(g_t) S_{t-1};  S_t = S~ + k_t (beta_t (v_t - S~^T k_t))^T  (FLA chunk_gated_delta_rule)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'gated_delta_rule',
  description: 'Gated DeltaNet: scalar decay, then the delta correction',
  inputs: {
    q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'],
    g: ['B', 'T', 'H'], beta: ['B', 'T', 'H'],
  },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'scalar', logDecay: ({ g }) => g,
  correction: 'delta', beta: ({ beta }) => beta,
});
