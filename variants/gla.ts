// S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, g: [B,T,H,K]  (FLA chunk_gla)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'gla',
  description: 'gated linear attention: per-key decay',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal', logDecay: ({ g }) => g,
  correction: 'none',
});
