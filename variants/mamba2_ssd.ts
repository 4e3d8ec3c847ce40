// S_t = exp(A dt_t) S_{t-1} + B_t (x_t dt_t)^T;  y_t = C_t^T S_t + D x_t  (mamba_ssm ssd; state V-first)
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'mamba2_ssd',
  description: 'Mamba-2 SSD: q = C, k = B, v = x dt, log-decay A dt, plus D x',
  inputs: {
    x: ['B', 'T', 'H', 'V'], dt: ['B', 'T', 'H'], A: ['H'],
    Bm: ['B', 'T', 'H', 'K'], Cm: ['B', 'T', 'H', 'K'], D: ['H'],
  },
  q: ({ Cm }) => Cm, k: ({ Bm }) => Bm, v: ({ x, dt }) => x.mul(dt),
  decay: 'scalar', logDecay: ({ A, dt }) => A.mul(dt),
  correction: 'none',
  outputAdd: ({ D, x }) => D.mul(x),
  scale: 1,
  stateLayout: 'vk',
});
