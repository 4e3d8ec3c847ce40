// The input preambles real models put in front of linear attention, as expressions: spec
// authors use them in role functions, and because they are plain expression trees they are
// fused into the kernels' loads and differentiated by diff() for the backward like any other.
// Each gate is named for the model whose layer computes it, so that an author porting a model
// picks the model's own formula; test/model-gates.test.ts holds each to a float64 transcription
// of that model's code.
import { clamp, exp, lift, max, min, mul, sigmoid, softplus, add, neg, Expr, type Operand } from './expr.js';

/** beta = sigmoid(b), or 2 * sigmoid(b) to allow negative eigenvalues (DeltaNet's option). */
export function sigmoidBeta(b: Operand, opts: { allowNegativeEigenvalues?: boolean } = {}): Expr {
  return opts.allowNegativeEigenvalues ? mul(2, sigmoid(b)) : sigmoid(b);
}

/** Gated DeltaNet's gate: g = -exp(A_log) * softplus(a + dt_bias) (FLA's GatedDeltaNet layer;
 * the same formula as qwen3NextGate and kimiLinearGate). */
export function gatedDeltaGate(aLog: Operand, a: Operand, dtBias: Operand): Expr {
  return mul(neg(exp(aLog)), softplus(add(a, dtBias)));
}

/** Qwen3-Next's gate (Qwen3NextGatedDeltaNet): `g = -A_log.exp() * softplus(a + dt_bias)`, with
 * A_log and dt_bias per value head ([HV]) and a: [B,T,HV]: a scalar decay (`decay: 'scalar'`). */
export function qwen3NextGate(aLog: Operand, a: Operand, dtBias: Operand): Expr {
  return gatedDeltaGate(aLog, a, dtBias);
}

/** Kimi-Linear's KDA gate (KimiDeltaAttention, FLA's fused_kda_gate without lower_bound):
 * `g = -A_log.exp() * softplus(g + dt_bias)` per key, with A_log per head ([H]), the gate's
 * pre-activation a: [B,T,H,K] and dt_bias per key ([H,K], Kimi's `dt_bias` of H*K) or per head
 * ([H]): a per-key decay (`decay: 'diagonal'`). Not GLM's bounded gate (glmGate). */
export function kimiLinearGate(aLog: Operand, a: Operand, dtBias: Operand): Expr {
  return gatedDeltaGate(aLog, a, dtBias);
}

function checkLowerBound(who: string, lowerBound: unknown): number {
  if (typeof lowerBound !== 'number' || !Number.isFinite(lowerBound) || !(lowerBound < 0)) {
    throw new RangeError(`${who}: lowerBound must be negative and finite (a log-decay bound; the models use -5), got ${String(lowerBound)}`);
  }
  return lowerBound;
}

/** GLM's bounded KDA gate (its forget gate when `gate_lower_bound` is set; FLA's fused_kda_gate
 * with lower_bound / safe_gate): `g = lower_bound * sigmoid(exp(A_log) * (a + dt_bias))`, so
 * lower_bound < g < 0. A_log [H]; a [B,T,H,K]; dt_bias [H,K] or [H]. */
export function glmGate(aLog: Operand, a: Operand, dtBias: Operand, lowerBound = -5): Expr {
  const lb = checkLowerBound('glmGate', lowerBound);
  return mul(lb, sigmoid(mul(exp(aLog), add(a, dtBias))));
}

/** @deprecated The name says KDA, but this is GLM's bounded gate
 * (lowerBound * sigmoid(exp(A_log) * (a + dt_bias))): use `glmGate`. Kimi-Linear's own KDA layer
 * computes `kimiLinearGate` (-exp(A_log) * softplus(a + dt_bias)), a different model. Kept so
 * existing specs keep working; it builds exactly the expression glmGate builds. */
export function kdaGate(aLog: Operand, a: Operand, dtBias: Operand, lowerBound = -5): Expr {
  const lb = checkLowerBound('kdaGate', lowerBound);
  return mul(lb, sigmoid(mul(exp(aLog), add(a, dtBias))));
}

/** What mamba's kernels (mamba_chunk_scan_combined, _chunk_cumsum_fwd) do to dt, by their
 * argument names: dt + dt_bias (when given), softplus when dt_softplus, then clamped to
 * dt_limit = [lo, hi] (mamba's default [0, Infinity]). */
export interface MambaDtOptions {
  /** Added to dt first (mamba's `dt_bias`, per head: an input of dims ['H']). */
  dtBias?: Operand;
  /** softplus after the bias (mamba's `dt_softplus`; default false, as in the kernel). */
  dtSoftplus?: boolean;
  /** [lo, hi] clamp (mamba's `dt_limit`; default [0, Infinity]). A bound that cannot bind is
   * left out of the expression (lo <= 0 after softplus, lo = -Infinity, hi = Infinity). */
  dtLimit?: readonly [number, number];
}
const MAMBA_DT_OPTIONS = ['dtBias', 'dtSoftplus', 'dtLimit'];

function checkDtLimit(limit: unknown): [number, number] {
  if (!Array.isArray(limit) || limit.length !== 2 || limit.some((x) => typeof x !== 'number' || Number.isNaN(x)) || !(limit[0] <= limit[1])
    || limit[0] === Infinity || limit[1] === -Infinity) {
    throw new RangeError(`mambaDt: dtLimit (mamba's dt_limit) must be [lo, hi], numbers with lo <= hi (lo < Infinity, hi > -Infinity), got ${JSON.stringify(limit) ?? String(limit)}`);
  }
  return [limit[0], limit[1]];
}

/**
 * mamba's time step. Two forms:
 * - `mambaDt(dt, { dtBias, dtSoftplus, dtLimit })`: exactly mamba's kernel, its options and
 *   defaults (no bias, no softplus, dt_limit [0, Infinity]);
 * - `mambaDt(dt, dtBias, [lo, hi])` (the original form, the Mamba2 layer's usual call):
 *   dt = softplus(dt + dt_bias) clamped to [lo, hi] (default [0, Number.MAX_VALUE]).
 */
export function mambaDt(dt: Operand, opts: MambaDtOptions): Expr;
export function mambaDt(dt: Operand, dtBias: Operand, limit?: readonly [number, number]): Expr;
export function mambaDt(dt: Operand, second: Operand | MambaDtOptions, limit: readonly [number, number] = [0, Number.MAX_VALUE]): Expr {
  if (second instanceof Expr || typeof second === 'number') {
    const [lo, hi] = limit;
    if (!(lo <= hi)) throw new RangeError(`mambaDt: dt_limit must be [lo, hi] with lo <= hi, got [${lo}, ${hi}]`);
    return clamp(softplus(add(dt, second)), lo, Math.min(hi, 3.4e38));
  }
  if (!second || typeof second !== 'object' || Array.isArray(second)) {
    throw new TypeError(`mambaDt: the second argument must be dt_bias (an Expr or number) or an options object { ${MAMBA_DT_OPTIONS.join(', ')} }, got ${String(second)}`);
  }
  for (const key of Object.keys(second)) {
    if (!MAMBA_DT_OPTIONS.includes(key)) throw new TypeError(`mambaDt: unknown option '${key}'; options: ${MAMBA_DT_OPTIONS.join(', ')}`);
  }
  const { dtBias, dtSoftplus = false } = second;
  if (typeof dtSoftplus !== 'boolean') throw new TypeError(`mambaDt: dtSoftplus must be a boolean, got ${String(dtSoftplus)}`);
  const [lo, hi] = checkDtLimit(second.dtLimit ?? [0, Infinity]);
  let x: Expr = dtBias === undefined ? lift(dt) : add(dt, dtBias);
  if (dtSoftplus) x = softplus(x);
  // mamba: dt = minimum(maximum(dt, dt_min), dt_max); a bound that cannot bind changes nothing.
  if (lo > -Infinity && !(dtSoftplus && lo <= 0)) x = max(x, lo);
  if (hi < Infinity) x = min(x, hi);
  return x;
}

/** RWKV-6's decay in log form: the layer's w = exp(-exp(w_raw)) (RWKV-LM's wkv6 kernel; FLA's
 * RWKV6Attention passes `-exp(w)` to chunk_rwkv6), so the log-decay is -exp(w_raw). With
 * `timeDecay`, w_raw = time_decay + w (RWKV-LM x060: `w = self.time_decay + ww`). */
export function rwkv6LogDecay(w: Operand, timeDecay?: Operand): Expr {
  return neg(exp(timeDecay === undefined ? w : add(timeDecay, w)));
}
