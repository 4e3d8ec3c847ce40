// Float64 transcriptions of the gate, dt and normalization code of the models lae's preamble
// helpers are named for, written from each model's published code (the PyTorch reference paths,
// not lae's expressions), so that a helper is checked against its model and not against itself.
// Arrays are flat, row-major, in the layouts the layers use ([B,T,H] / [B,T,H,K], heads last).

/** torch.nn.functional.softplus(x) (beta = 1, threshold = 20: the identity above 20). */
export const torchSoftplus = (x: number) => (x * 1 > 20 ? x : Math.log1p(Math.exp(x)));
export const torchSigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Qwen3-Next (transformers' Qwen3NextGatedDeltaNet.forward):
 *   beta = b.sigmoid()
 *   g = -self.A_log.float().exp() * F.softplus(a.float() + self.dt_bias)
 * a: [B,T,HV], A_log and dt_bias: [HV] (num_v_heads). Returns g: [B,T,HV].
 */
export function qwen3NextG(aLog: ArrayLike<number>, a: ArrayLike<number>, dtBias: ArrayLike<number>, HV: number): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => {
    const h = i % HV;
    return -Math.exp(aLog[h]!) * torchSoftplus(a[i]! + dtBias[h]!);
  });
}

/**
 * Kimi-Linear (KimiDeltaAttention: `fused_kda_gate(g, self.A_log, self.head_dim, g_bias=self.dt_bias)`,
 * whose torch reference is FLA's naive_kda_gate):
 *   g = rearrange(g, '... (h d) -> ... h d', d=head_k_dim) + g_bias.view(H, K)   (when g_bias)
 *   g = -A_log.view(H).exp().unsqueeze(-1) * F.softplus(g)
 * g: [B,T,H,K]; A_log: [H]; dt_bias: [H*K] (per key) or, per head, [H] broadcast over K.
 */
export function kimiLinearG(aLog: ArrayLike<number>, g: ArrayLike<number>, dtBias: ArrayLike<number>, H: number, K: number): Float64Array {
  const perKey = dtBias.length === H * K;
  return Float64Array.from({ length: g.length }, (_, i) => {
    const hk = i % (H * K);
    const h = Math.floor(hk / K);
    return -Math.exp(aLog[h]!) * torchSoftplus(g[i]! + dtBias[perKey ? hk : h]!);
  });
}

/**
 * GLM's KDA forget gate with gate_lower_bound set (the safe_gate branch; FLA's kda gate with
 * lower_bound):
 *   decay_rate = A_log.exp();  g = g + dt_bias
 *   g = lower_bound * torch.sigmoid(decay_rate * g)
 * Same shapes as kimiLinearG.
 */
export function glmG(aLog: ArrayLike<number>, g: ArrayLike<number>, dtBias: ArrayLike<number>, H: number, K: number, lowerBound: number): Float64Array {
  const perKey = dtBias.length === H * K;
  return Float64Array.from({ length: g.length }, (_, i) => {
    const hk = i % (H * K);
    const h = Math.floor(hk / K);
    return lowerBound * torchSigmoid(Math.exp(aLog[h]!) * (g[i]! + dtBias[perKey ? hk : h]!));
  });
}

/**
 * mamba's dt, as _chunk_cumsum_fwd_kernel (mamba_ssm/ops/triton/ssd_chunk_state.py) computes it:
 *   if HAS_DT_BIAS: dt += dt_bias
 *   if DT_SOFTPLUS: dt = tl.where(dt <= 20.0, softplus(dt), dt)      # softplus = log(exp(dt) + 1)
 *   dt = tl.minimum(tl.maximum(dt, dt_min), dt_max)                  # dt_limit, default (0, inf)
 * dt: [B,T,nheads]; dt_bias: [nheads] or null.
 */
export function mambaDtRef(dt: ArrayLike<number>, dtBias: ArrayLike<number> | null, softplus: boolean,
  limit: readonly [number, number], nheads: number): Float64Array {
  return Float64Array.from({ length: dt.length }, (_, i) => {
    let x = dt[i]!;
    if (dtBias) x += dtBias[i % nheads]!;
    if (softplus) x = x <= 20 ? Math.log(Math.exp(x) + 1) : x;
    return Math.min(Math.max(x, limit[0]), limit[1]);
  });
}

/**
 * RWKV-6's decay (RWKV-LM's RWKV_Tmix_x060: `w = self.time_decay + ww`, and the wkv6 kernel's
 * `w = exp(-exp(w))`), in log form: log w = -exp(time_decay + ww). ww: [B,T,H,K]; time_decay: [H*K].
 */
export function rwkv6LogW(ww: ArrayLike<number>, timeDecay: ArrayLike<number>, HK: number): Float64Array {
  return Float64Array.from({ length: ww.length }, (_, i) => Math.log(Math.exp(-Math.exp(timeDecay[i % HK]! + ww[i]!))));
}

/** FLA's l2norm (fla/modules/l2norm.py): y = x * rsqrt(sum(x^2) + eps) per row of K. */
export function flaL2norm(x: ArrayLike<number>, K: number, eps = 1e-6): Float64Array {
  const out = Float64Array.from(x);
  for (let r = 0; r < out.length; r += K) {
    let s = 0;
    for (let j = 0; j < K; j++) s += out[r + j]! ** 2;
    const rstd = 1 / Math.sqrt(s + eps);
    for (let j = 0; j < K; j++) out[r + j]! *= rstd;
  }
  return out;
}

/**
 * mamba_chunk_scan_combined's result, written as the recurrence its reference
 * (mamba_ssm/modules/ssd_minimal.py, and selective_state_update for one step) computes, after
 * the dt processing above:
 *   dA = exp(dt * A);  h = dA * h + dt * x (outer) B;  y = (h C) + D * x;  y *= silu(z) (when z)
 * x: [b, l, nheads, headdim]; dt: [b, l, nheads] (processed); A, D: [nheads];
 * B, C: [b, l, ngroups, dstate]; state h: [b, nheads, headdim, dstate]; head h reads group
 * h / (nheads / ngroups).
 */
export function mambaScanRef(
  x: ArrayLike<number>, dt: ArrayLike<number>, A: ArrayLike<number>, Bm: ArrayLike<number>, Cm: ArrayLike<number>, D: ArrayLike<number>,
  z: ArrayLike<number> | null, h0: ArrayLike<number> | null,
  size: { batch: number; seqlen: number; nheads: number; ngroups: number; headdim: number; dstate: number },
): { y: Float64Array; ht: Float64Array } {
  const { batch, seqlen, nheads, ngroups, headdim: P, dstate: N } = size;
  const rep = nheads / ngroups;
  const y = new Float64Array(batch * seqlen * nheads * P);
  const ht = Float64Array.from(h0 ?? new Float64Array(batch * nheads * P * N));
  for (let b = 0; b < batch; b++) for (let h = 0; h < nheads; h++) {
    const g = Math.floor(h / rep);
    const st = (b * nheads + h) * P * N;
    for (let t = 0; t < seqlen; t++) {
      const ti = (b * seqlen + t) * nheads + h;
      const bi = ((b * seqlen + t) * ngroups + g) * N;
      const d = dt[ti]!;
      const dA = Math.exp(d * A[h]!);
      for (let p = 0; p < P; p++) {
        const xv = x[ti * P + p]!;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const s = dA * ht[st + p * N + n]! + d * xv * Bm[bi + n]!;
          ht[st + p * N + n] = s;
          acc += s * Cm[bi + n]!;
        }
        let out = acc + D[h]! * xv;
        if (z) { const zv = z[ti * P + p]!; out *= zv * torchSigmoid(zv); }
        y[ti * P + p] = out;
      }
    }
  }
  return { y, ht };
}
