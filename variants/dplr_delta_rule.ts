// S_t = diag(exp(gk_t)) S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T;  o_t = scale S_t^T q_t
// (FLA's chunk_dplr_delta_rule / fused_recurrent_dplr_delta_rule, its names; scale K^-0.5)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'dplr_delta_rule',
  description: 'generalized delta rule: per-key decay plus a rank-one a b^T transition (FLA DPLR)',
  inputs: {
    q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'],
    a: ['B', 'T', 'H', 'K'], b: ['B', 'T', 'H', 'K'], gk: ['B', 'T', 'H', 'K'],
  },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal', logDecay: ({ gk }) => gk,
  correction: 'dplr', a: ({ a }) => a, b: ({ b }) => b,
});
