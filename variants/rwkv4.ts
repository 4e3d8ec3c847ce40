// wkv_t = (sum_{i<t} e^{-(t-1-i) e^w + k_i} v_i + e^{u + k_t} v_t) / (the same with v = 1), per channel
// (BlinkDL's RWKV-LM v4 wkv: w = time_decay, u = time_first, k and v [B,T,C]). Channels are
// lae's heads: run it with { B, T, H: C, K: 1, V: 1 }; the state per channel is [aa, bb, pp].
import { defineVariant } from '../dsl/index.js';

export default defineVariant({
  name: 'rwkv4',
  description: "RWKV-4's wkv: per-channel exponential decay, bonus u, normalized by the weights' sum",
  inputs: { k: ['B', 'T', 'H'], v: ['B', 'T', 'H'], w: ['H'], u: ['H'] },
  q: () => 1, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'fixed', logDecay: ({ w }) => w.exp().neg(),
  correction: 'none',
  bonus: 'u', u: ({ u }) => u,
  normalize: 'exp',
  scale: 1,
});
