// S_t = gamma_h S_{t-1} + k_t v_t^T, gamma_h = 1 - 2^(-5-h)  (FLA chunk_retention)
import { defineVariant, headIndex, exp2, log } from '../dsl/index.js';

export default defineVariant({
  name: 'retention',
  description: 'RetNet: fixed per-head decay',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'fixed', logDecay: () => log(exp2(headIndex.neg().sub(5)).neg().add(1)),
  correction: 'none',
});
