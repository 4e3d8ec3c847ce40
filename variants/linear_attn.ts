// S_t = S_{t-1} + k_t v_t^T;  o_t = scale * S_t^T q_t  (FLA chunk_linear_attn, normalize=False)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'linear_attn',
  description: 'vanilla linear attention (FLA normalize=False)',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'none',
  correction: 'none',
});
