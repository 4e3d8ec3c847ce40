// The block in float64 on the CPU, over the whole sequence at once (prompt and decoded tokens
// alike): what the GPU's prefill and step-by-step decode must both reproduce. The attention core
// is lae's reference recurrence, driven by the same spec.
import { referenceForward } from '../../index.js';
import { CONV_TAPS, NORM_EPS, channels, type BlockConfig, type BlockWeights } from './block.js';
import spec from './spec.js';

export function referenceBlock(c: BlockConfig, w: BlockWeights): Float64Array {
  const { D, H, K, V } = c;
  const T = c.prompt + c.decode;
  const { C, Cin } = channels(c);
  const HK = H * K;
  const proj = new Float64Array(T * Cin);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < Cin; n++) {
      let acc = 0;
      for (let m = 0; m < D; m++) acc += w.x[t * D + m]! * w.wIn[m * Cin + n]!;
      proj[t * Cin + n] = acc;
    }
  }
  const silu = (x: number) => x / (1 + Math.exp(-x));
  const q = new Float64Array(T * HK), k = new Float64Array(T * HK), v = new Float64Array(T * H * V);
  const a = new Float64Array(T * H), b = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let ch = 0; ch < C; ch++) {
      let acc = 0;
      for (let j = 0; j < CONV_TAPS; j++) {
        const s = t + j - (CONV_TAPS - 1);
        if (s >= 0) acc += w.conv[ch * CONV_TAPS + j]! * proj[s * Cin + ch]!;
      }
      const y = silu(acc);
      if (ch < HK) q[t * HK + ch] = y;
      else if (ch < 2 * HK) k[t * HK + ch - HK] = y;
      else v[t * H * V + ch - 2 * HK] = y;
    }
    for (let h = 0; h < H; h++) {
      a[t * H + h] = proj[t * Cin + C + h]!;
      b[t * H + h] = proj[t * Cin + C + H + h]!;
    }
  }
  const { o } = referenceForward(spec, { q, k, v, a, b, A_log: w.aLog, dt_bias: w.dtBias }, { B: 1, T, H, K, V });
  const zAt = C + 2 * H;
  const gated = new Float64Array(T * H * V);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      let ss = 0;
      for (let j = 0; j < V; j++) ss += o[(t * H + h) * V + j]! ** 2;
      const inv = 1 / Math.sqrt(ss / V + NORM_EPS);
      for (let j = 0; j < V; j++) {
        gated[(t * H + h) * V + j] = o[(t * H + h) * V + j]! * inv * w.norm[j]! * silu(proj[t * Cin + zAt + h * V + j]!);
      }
    }
  }
  const y = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < D; n++) {
      let acc = 0;
      for (let m = 0; m < H * V; m++) acc += gated[t * H * V + m]! * w.wOut[m * D + n]!;
      y[t * D + n] = acc;
    }
  }
  return y;
}
