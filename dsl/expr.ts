// Symbolic elementwise expressions over a variant's inputs.
//
// A spec's modifiers (q/k/v/decay/beta/bonus/output terms) are written with these, never as
// opaque functions, so codegen can render them into the loads of a kernel (fusion) and, later,
// differentiate them. The IR is a tiny immutable tree; `Expr` wraps it with a fluent builder.

export const UNARY_OPS = [
  'neg', 'exp', 'exp2', 'log', 'log2', 'sqrt', 'rsqrt', 'abs',
  'sigmoid', 'softplus', 'logsigmoid', 'silu',
  // Heaviside: 1 where x > 0, else 0 (what min/max differentiate into; its own derivative is 0).
  'step',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'min', 'max', 'pow'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Index variables an expression may read besides inputs: the head index, as in retention. */
export type IndexVar = 'h';

export type ExprNode =
  | { readonly kind: 'input'; readonly name: string }
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'index'; readonly dim: IndexVar }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly arg: ExprNode }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly a: ExprNode; readonly b: ExprNode };

export type Operand = Expr | number;

export class Expr {
  constructor(readonly node: ExprNode) {}
  add(o: Operand): Expr { return binary('add', this, o); }
  sub(o: Operand): Expr { return binary('sub', this, o); }
  mul(o: Operand): Expr { return binary('mul', this, o); }
  div(o: Operand): Expr { return binary('div', this, o); }
  neg(): Expr { return unary('neg', this); }
  exp(): Expr { return unary('exp', this); }
  log(): Expr { return unary('log', this); }
  toString(): string { return formatExpr(this.node); }
}

export function lift(o: Operand): Expr {
  if (o instanceof Expr) return o;
  if (typeof o !== 'number' || !Number.isFinite(o)) {
    throw new TypeError(`expression operand must be an Expr or a finite number, got ${String(o)}`);
  }
  return new Expr({ kind: 'const', value: o });
}

export function unary(op: UnaryOp, x: Operand): Expr {
  return new Expr({ kind: 'unary', op, arg: lift(x).node });
}
export function binary(op: BinaryOp, a: Operand, b: Operand): Expr {
  return new Expr({ kind: 'binary', op, a: lift(a).node, b: lift(b).node });
}

export const input = (name: string): Expr => new Expr({ kind: 'input', name });
export const constant = (value: number): Expr => lift(value);
/** The head index h = 0..H-1 as a number (retention's decay depends on it). */
export const headIndex: Expr = new Expr({ kind: 'index', dim: 'h' });

export const add = (a: Operand, b: Operand) => binary('add', a, b);
export const sub = (a: Operand, b: Operand) => binary('sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('mul', a, b);
export const div = (a: Operand, b: Operand) => binary('div', a, b);
export const min = (a: Operand, b: Operand) => binary('min', a, b);
export const max = (a: Operand, b: Operand) => binary('max', a, b);
export const pow = (a: Operand, b: Operand) => binary('pow', a, b);
export const neg = (x: Operand) => unary('neg', x);
export const exp = (x: Operand) => unary('exp', x);
export const exp2 = (x: Operand) => unary('exp2', x);
export const log = (x: Operand) => unary('log', x);
export const log2 = (x: Operand) => unary('log2', x);
export const sqrt = (x: Operand) => unary('sqrt', x);
export const rsqrt = (x: Operand) => unary('rsqrt', x);
export const abs = (x: Operand) => unary('abs', x);
export const sigmoid = (x: Operand) => unary('sigmoid', x);
/** softplus(x) = log(1 + e^x), the identity above 20 as in FLA and mamba. */
export const softplus = (x: Operand) => unary('softplus', x);
export const logsigmoid = (x: Operand) => unary('logsigmoid', x);
export const silu = (x: Operand) => unary('silu', x);
export const step = (x: Operand) => unary('step', x);
/** min(max(x, lo), hi). */
export const clamp = (x: Operand, lo: Operand, hi: Operand) => min(max(x, lo), hi);

/** Names of the inputs an expression reads, in first-use order. */
export function inputsOf(node: ExprNode, out: string[] = []): string[] {
  switch (node.kind) {
    case 'input': if (!out.includes(node.name)) out.push(node.name); break;
    case 'unary': inputsOf(node.arg, out); break;
    case 'binary': inputsOf(node.a, out); inputsOf(node.b, out); break;
    default: break;
  }
  return out;
}

export function formatExpr(node: ExprNode): string {
  switch (node.kind) {
    case 'input': return node.name;
    case 'const': return String(node.value);
    case 'index': return node.dim;
    case 'unary': return `${node.op}(${formatExpr(node.arg)})`;
    case 'binary': return `${node.op}(${formatExpr(node.a)}, ${formatExpr(node.b)})`;
  }
}
