// o_t = scale q_t^T (S_{t-1} + diag(u) k_t v_t^T);  S_t = diag(exp(w_t)) S_{t-1} + k_t v_t^T  (FLA chunk_rwkv6, q = r)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'rwkv6',
  description: 'RWKV-6: per-key decay after the output, bonus u on the current token',
  inputs: {
    q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'],
    w: ['B', 'T', 'H', 'K'], u: ['H', 'K'],
  },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal', logDecay: ({ w }) => w,
  correction: 'none',
  bonus: 'u', u: ({ u }) => u,
});
