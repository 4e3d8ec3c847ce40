// The input preambles real models put in front of linear attention, as expressions: spec
// authors use them in role functions, and because they are plain expression trees they are
// fused into the kernels' loads and differentiated by diff() for the backward like any other.
import { clamp, exp, mul, sigmoid, softplus, add, neg, type Expr, type Operand } from './expr.js';

/** beta = sigmoid(b), or 2 * sigmoid(b) to allow negative eigenvalues (DeltaNet's option). */
export function sigmoidBeta(b: Operand, opts: { allowNegativeEigenvalues?: boolean } = {}): Expr {
  return opts.allowNegativeEigenvalues ? mul(2, sigmoid(b)) : sigmoid(b);
}

/** Gated DeltaNet's gate: g = -exp(A_log) * softplus(a + dt_bias). */
export function gatedDeltaGate(aLog: Operand, a: Operand, dtBias: Operand): Expr {
  return mul(neg(exp(aLog)), softplus(add(a, dtBias)));
}

/** KDA's bounded gate: g = lowerBound * sigmoid(exp(A_log) * (a + dt_bias)), lowerBound < 0. */
export function kdaGate(aLog: Operand, a: Operand, dtBias: Operand, lowerBound = -5): Expr {
  if (!(lowerBound < 0)) throw new RangeError(`kdaGate: lowerBound must be negative (a log-decay bound), got ${lowerBound}`);
  return mul(lowerBound, sigmoid(mul(exp(aLog), add(a, dtBias))));
}

/** mamba2's time step: dt = softplus(dt + dt_bias), clamped to [lo, hi] (dt_limit). */
export function mambaDt(dt: Operand, dtBias: Operand, limit: readonly [number, number] = [0, Number.MAX_VALUE]): Expr {
  const [lo, hi] = limit;
  if (!(lo <= hi)) throw new RangeError(`mambaDt: dt_limit must be [lo, hi] with lo <= hi, got [${lo}, ${hi}]`);
  return clamp(softplus(add(dt, dtBias)), lo, Math.min(hi, 3.4e38));
}
