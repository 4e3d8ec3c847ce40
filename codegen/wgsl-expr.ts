// Renders expression trees as WGSL, table-driven: one entry per op.
import type { BinaryOp, ExprNode, UnaryOp } from '../dsl/index.js';

export const UNARY_WGSL: Record<UnaryOp, (x: string) => string> = {
  neg: (x) => `(-${x})`,
  exp: (x) => `exp(${x})`,
  exp2: (x) => `exp2(${x})`,
  log: (x) => `log(${x})`,
  log2: (x) => `log2(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  rsqrt: (x) => `inverseSqrt(${x})`,
  abs: (x) => `abs(${x})`,
  sigmoid: (x) => `lae_sigmoid(${x})`,
  softplus: (x) => `lae_softplus(${x})`,
  logsigmoid: (x) => `(-lae_softplus(-${x}))`,
  silu: (x) => `lae_silu(${x})`,
  step: (x) => `select(0.0, 1.0, ${x} > 0.0)`,
};

export const BINARY_WGSL: Record<BinaryOp, (a: string, b: string) => string> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
  max: (a, b) => `max(${a}, ${b})`,
  pow: (a, b) => `pow(${a}, ${b})`,
};

/** Scalar helpers the rendered expressions may call (softplus is the identity above 20, as in FLA). */
export const EXPR_HELPERS_WGSL = `
fn lae_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn lae_softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn lae_silu(x: f32) -> f32 { return x * lae_sigmoid(x); }
`;

export function wgslFloat(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`cannot render non-finite constant ${v} in WGSL`);
  const s = String(v);
  const lit = /[.eE]/.test(s) ? s : `${s}.0`;
  return v < 0 ? `(${lit})` : lit;
}

/** `readInput(name)` gives the WGSL expression that loads an input at the current index. */
export function renderExpr(node: ExprNode, readInput: (name: string) => string): string {
  switch (node.kind) {
    case 'input': return readInput(node.name);
    case 'const': return wgslFloat(node.value);
    case 'index': return `f32(${node.dim})`;
    case 'unary': return UNARY_WGSL[node.op](renderExpr(node.arg, readInput));
    case 'binary': return BINARY_WGSL[node.op](renderExpr(node.a, readInput), renderExpr(node.b, readInput));
  }
}
