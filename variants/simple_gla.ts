// S_t = exp(g_t) S_{t-1} + k_t v_t^T, g: [B,T,H] log decay  (FLA chunk_simple_gla)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'simple_gla',
  description: 'scalar per-token, per-head decay',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'scalar', logDecay: ({ g }) => g,
  correction: 'none',
});
