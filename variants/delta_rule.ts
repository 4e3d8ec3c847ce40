// S_t = S_{t-1} + k_t (beta_t (v_t - S_{t-1}^T k_t))^T  (FLA chunk_delta_rule; k L2-normalized by the caller)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'delta_rule',
  description: 'DeltaNet: rank-1 delta correction',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], beta: ['B', 'T', 'H'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'none',
  correction: 'delta', beta: ({ beta }) => beta,
});
