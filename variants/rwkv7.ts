// S_t = diag(exp(w_t)) S_{t-1} + (kk_t * a_t) ((-kk_t)^T S_{t-1}) + k_t v_t^T;  o_t = S_t^T r_t
// (FLA's chunk_rwkv7 / fused_mul_recurrent_rwkv7; their names: r, w (log decay), k, v, kk the
// L2-normalized removal key, a the in-context learning rate; DPLR's a = -kk, b = kk * a.)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'rwkv7',
  description: 'RWKV-7 (Goose): per-key decay plus the rank-one removal of kk, the generalized delta rule',
  inputs: {
    r: ['B', 'T', 'H', 'K'], w: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'],
    kk: ['B', 'T', 'H', 'K'], a: ['B', 'T', 'H', 'K'],
  },
  q: ({ r }) => r, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal', logDecay: ({ w }) => w,
  correction: 'dplr', a: ({ kk }) => kk.neg(), b: ({ kk, a }) => kk.mul(a),
  scale: 1,
});
