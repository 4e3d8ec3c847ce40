// Symbolic differentiation of expression trees: d(expr)/d(input), as another expression tree.
// This is how the gradients of a spec's modifiers (mamba2's v = x*dt, A*dt, D*x, ...) are
// derived, for the float64 reference backward and for the generated backward kernels.
import type { ExprNode } from './expr.js';

const c = (value: number): ExprNode => ({ kind: 'const', value });
const isConst = (n: ExprNode, v: number) => n.kind === 'const' && n.value === v;
const un = (op: Extract<ExprNode, { kind: 'unary' }>['op'], arg: ExprNode): ExprNode => ({ kind: 'unary', op, arg });

function add(a: ExprNode, b: ExprNode): ExprNode {
  if (isConst(a, 0)) return b;
  if (isConst(b, 0)) return a;
  return { kind: 'binary', op: 'add', a, b };
}
function sub(a: ExprNode, b: ExprNode): ExprNode {
  if (isConst(b, 0)) return a;
  if (isConst(a, 0)) return un('neg', b);
  return { kind: 'binary', op: 'sub', a, b };
}
function mul(a: ExprNode, b: ExprNode): ExprNode {
  if (isConst(a, 0) || isConst(b, 0)) return c(0);
  if (isConst(a, 1)) return b;
  if (isConst(b, 1)) return a;
  return { kind: 'binary', op: 'mul', a, b };
}
const div = (a: ExprNode, b: ExprNode): ExprNode => (isConst(a, 0) ? c(0) : { kind: 'binary', op: 'div', a, b });


/** f'(u) for node = f(u), as an expression over u and node itself. */
function unaryDerivative(node: Extract<ExprNode, { kind: 'unary' }>): ExprNode {
  const u = node.arg;
  switch (node.op) {
    case 'neg': return c(-1);
    case 'exp': return node;
    case 'exp2': return mul(node, c(Math.LN2));
    case 'log': return div(c(1), u);
    case 'log2': return div(c(1), mul(u, c(Math.LN2)));
    case 'sqrt': return div(c(1), mul(c(2), node));
    case 'rsqrt': return mul(c(-0.5), div(node, u));
    case 'abs': return div(u, node);
    case 'sigmoid': return mul(node, sub(c(1), node));
    // softplus' = sigmoid (also right above the identity threshold 20, within 2e-9).
    case 'softplus': return un('sigmoid', u);
    case 'logsigmoid': return un('sigmoid', un('neg', u));
    case 'step': return c(0);
    case 'silu': {
      const s = un('sigmoid', u);
      return add(s, mul(u, mul(s, sub(c(1), s))));
    }
  }
}

/** d(node)/d(input `wrt`), simplified where a factor is a constant 0 or 1. */
export function diff(node: ExprNode, wrt: string): ExprNode {
  switch (node.kind) {
    case 'input': return c(node.name === wrt ? 1 : 0);
    case 'const':
    case 'index': return c(0);
    case 'unary': {
      const du = diff(node.arg, wrt);
      return isConst(du, 0) ? c(0) : mul(unaryDerivative(node), du);
    }
    case 'binary': {
      const { a, b } = node;
      const da = diff(a, wrt);
      const db = diff(b, wrt);
      switch (node.op) {
        case 'add': return add(da, db);
        case 'sub': return sub(da, db);
        case 'mul': return add(mul(da, b), mul(a, db));
        case 'div': return div(sub(mul(da, b), mul(a, db)), mul(b, b));
        case 'pow': {
          // d(a^b) = b a^(b-1) da + a^b ln(a) db
          const viaA = isConst(da, 0) ? c(0) : mul(mul(b, { kind: 'binary', op: 'pow', a, b: sub(b, c(1)) }), da);
          const viaB = isConst(db, 0) ? c(0) : mul(mul(node, un('log', a)), db);
          return add(viaA, viaB);
        }
        case 'min':
        case 'max': {
          // The derivative of the operand that wins: min picks a where a < b, max where a > b
          // (at a tie, b's), written with the Heaviside step.
          if (isConst(da, 0) && isConst(db, 0)) return c(0);
          const aWins = node.op === 'min' ? un('step', sub(b, a)) : un('step', sub(a, b));
          return add(mul(aWins, da), mul(sub(c(1), aWins), db));
        }
      }
    }
  }
}
