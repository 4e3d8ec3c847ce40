// Index arithmetic (WGSL u32) as a small expression tree that folds its constants before it is
// rendered: `(fsr * 1u + 0u) * 16u` becomes `fsr * 16u`, `(fsr * 2u + 0u) * 16u` becomes
// `fsr * 32u`. The kernels' float expressions have their own IR (dsl's ExprNode, rendered by
// wgsl-expr.ts); this one is for the offsets and row / column indices the emitters compute from
// names already in scope (a subgroup's fragment row, a lane, a slab's first column) and numbers
// known when the kernel is generated. Only identities exact in u32 arithmetic are applied
// (x + 0, x * 1, x * 0, constant folding, (x * a) * b = x * (a b)); wrap-around is never assumed
// away, so no division or modulo is folded past a constant operand pair.
import { rawWgsl, type Wgsl } from './wgsl.js';

export type IndexExpr =
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'add' | 'sub' | 'mul' | 'div' | 'mod'; readonly a: IndexExpr; readonly b: IndexExpr };

/** An index operand: a WGSL u32 name or expression already in scope, a non-negative integer, or
 * a tree. A string is taken as one operand (parenthesized where precedence needs it). */
export type IndexLike = IndexExpr | string | number;

const U32_MAX = 0xffffffff;

function lift(x: IndexLike): IndexExpr {
  if (typeof x === 'number') {
    if (!Number.isInteger(x) || x < 0 || x > U32_MAX) throw new Error(`internal: index constant ${x} is not a u32`);
    return { kind: 'const', value: x };
  }
  if (typeof x === 'string') {
    if (!x.trim()) throw new Error('internal: empty index operand');
    // A u32 literal ('16u') is a constant, so that it folds too.
    const lit = /^\s*(\d+)u\s*$/.exec(x);
    return lit ? lift(Number(lit[1])) : { kind: 'name', name: x };
  }
  return x;
}

const constOf = (e: IndexExpr) => (e.kind === 'const' ? e.value : null);

/** a + b, folded. */
export function add(a: IndexLike, b: IndexLike): IndexExpr {
  const [x, y] = [lift(a), lift(b)];
  const [cx, cy] = [constOf(x), constOf(y)];
  if (cx !== null && cy !== null && cx + cy <= U32_MAX) return lift(cx + cy);
  if (cx === 0) return y;
  if (cy === 0) return x;
  return { kind: 'add', a: x, b: y };
}

/** a - b, folded (constants only where the result stays a u32). */
export function sub(a: IndexLike, b: IndexLike): IndexExpr {
  const [x, y] = [lift(a), lift(b)];
  const [cx, cy] = [constOf(x), constOf(y)];
  if (cx !== null && cy !== null && cx >= cy) return lift(cx - cy);
  if (cy === 0) return x;
  return { kind: 'sub', a: x, b: y };
}

/** a * b, folded; a constant factor of a product with a constant factor is merged into it. */
export function mul(a: IndexLike, b: IndexLike): IndexExpr {
  let [x, y] = [lift(a), lift(b)];
  if (constOf(x) !== null && constOf(y) === null) [x, y] = [y, x];
  const [cx, cy] = [constOf(x), constOf(y)];
  if (cx !== null && cy !== null && cx * cy <= U32_MAX) return lift(cx * cy);
  if (cy === 1) return x;
  if (cy === 0) return lift(0);
  if (cy !== null && x.kind === 'mul') {
    const inner = constOf(x.b);
    if (inner !== null && inner * cy <= U32_MAX) return mul(x.a, inner * cy);
  }
  return { kind: 'mul', a: x, b: y };
}

/** a / b (u32 division), folded only between constants and for b = 1. */
export function div(a: IndexLike, b: IndexLike): IndexExpr {
  const [x, y] = [lift(a), lift(b)];
  const [cx, cy] = [constOf(x), constOf(y)];
  if (cy === 0) throw new Error('internal: index division by zero');
  if (cx !== null && cy !== null) return lift(Math.floor(cx / cy));
  if (cy === 1) return x;
  return { kind: 'div', a: x, b: y };
}

/** a % b (u32), folded only between constants and for b = 1. */
export function mod(a: IndexLike, b: IndexLike): IndexExpr {
  const [x, y] = [lift(a), lift(b)];
  const [cx, cy] = [constOf(x), constOf(y)];
  if (cy === 0) throw new Error('internal: index modulo by zero');
  if (cx !== null && cy !== null) return lift(cx % cy);
  if (cy === 1) return lift(0);
  return { kind: 'mod', a: x, b: y };
}

const OPS = { add: ' + ', sub: ' - ', mul: ' * ', div: ' / ', mod: ' % ' } as const;
const PRECEDENCE = { add: 1, sub: 1, mul: 2, div: 2, mod: 2 } as const;

/** WGSL text of the tree: constants as `Nu`, parentheses only where precedence needs them (a
 * name operand, which may be any expression, is parenthesized unless it is a plain identifier
 * or literal). */
export function renderIndex(e: IndexLike): Wgsl {
  return rawWgsl(render(lift(e), 0));
}

/** The same, parenthesized unless it is a single name or constant: safe as an operand anywhere. */
export function renderIndexOperand(e: IndexLike): Wgsl {
  return rawWgsl(render(lift(e), 3));
}

const ATOM = /^[A-Za-z_][A-Za-z0-9_.]*$|^\d+u$/;

function render(e: IndexExpr, outer: number): string {
  switch (e.kind) {
    case 'const': return `${e.value}u`;
    case 'name': return ATOM.test(e.name.trim()) ? e.name.trim() : `(${e.name})`;
    default: {
      const p = PRECEDENCE[e.kind];
      // Left-associative: the right operand of - / % (and of any op at the same level) keeps
      // its parentheses.
      const text = `${render(e.a, p)}${OPS[e.kind]}${render(e.b, p + 1)}`;
      return p < outer ? `(${text})` : text;
    }
  }
}
