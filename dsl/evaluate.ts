// Float64 interpreter for expression trees: what the CPU reference uses to read a role.
import type { ExprNode, UnaryOp, BinaryOp } from './expr.js';

export const softplus64 = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
export const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));

export const UNARY_F64: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  exp2: (x) => 2 ** x,
  log: Math.log,
  log2: Math.log2,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  sigmoid: sigmoid64,
  softplus: softplus64,
  logsigmoid: (x) => -softplus64(-x),
  silu: (x) => x * sigmoid64(x),
  step: (x) => (x > 0 ? 1 : 0),
};

export const BINARY_F64: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  min: Math.min,
  max: Math.max,
  pow: Math.pow,
};

/** Evaluates `node` with `read(name)` giving each input's value at the current index. */
export function evaluate(node: ExprNode, read: (name: string) => number, head: number): number {
  switch (node.kind) {
    case 'input': return read(node.name);
    case 'const': return node.value;
    case 'index': return head;
    case 'unary': return UNARY_F64[node.op](evaluate(node.arg, read, head));
    case 'binary': return BINARY_F64[node.op](evaluate(node.a, read, head), evaluate(node.b, read, head));
  }
}
