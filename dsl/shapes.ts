// Concrete shapes: problem sizes, tensor shapes in them, and element offsets.
import type { Dim, InputDecl, VariantDef } from './spec.js';
import { inputsOf, type ExprNode } from './expr.js';

/** H counts the state (value) heads. With grouped value heads (FLA's GVA, HV > H), G > 1 value
 * heads share each query/key head: inputs read only by the q and k roles then have H / G heads. */
/** With packed variable-length sequences (cu_seqlens) B is 1, T the packed length and S the
 * number of sequences: the rows of h0/ht. Absent, the states have B rows. */
export interface ProblemSize { readonly B: number; readonly T: number; readonly H: number; readonly K: number; readonly V: number; readonly G?: number; readonly S?: number }

/** The rows of h0/ht: one per sequence. */
export const stateRows = (size: ProblemSize) => size.S ?? size.B;

export function shapeOf(dims: readonly Dim[], size: ProblemSize): number[] {
  return dims.map((d) => size[d]);
}
export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of an input, keyed by dim (absent dims stride 0: broadcast). */
export function stridesOf(dims: readonly Dim[], size: ProblemSize): Record<Dim, number> {
  const s: Record<Dim, number> = { B: 0, T: 0, H: 0, K: 0, V: 0 };
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) { s[dims[i]!] = acc; acc *= size[dims[i]!]; }
  return s;
}

/** Columns of a state row: V, or V + 2 for the normalized form (its denominator and running
 * maximum follow the numerator's V columns). */
export const stateColumns = (def: VariantDef, V: number) => (def.normalize === 'exp' ? V + 2 : V);

/** Shape of h0/ht in the variant's state layout. */
export function stateShape(def: VariantDef, size: ProblemSize): number[] {
  const S = stateRows(size);
  const V = stateColumns(def, size.V);
  return def.stateLayout === 'kv' ? [S, size.H, size.K, V] : [S, size.H, V, size.K];
}

/** Inputs read only by the q and k roles: with grouped heads they have H / G heads. */
export function qkHeaded(def: VariantDef, name: string): boolean {
  const readers = (Object.entries(def.roles) as [string, ExprNode][]).filter(([, n]) => inputsOf(n).includes(name)).map(([r]) => r);
  return readers.length > 0 && readers.every((r) => r === 'q' || r === 'k');
}

/** An input's shape: its dims' sizes, with H / G heads for a q/k input under grouped heads. */
export function inputShape(def: VariantDef, decl: InputDecl, size: ProblemSize): number[] {
  const G = size.G ?? 1;
  return decl.dims.map((d) => (d === 'H' && G > 1 && qkHeaded(def, decl.name) ? size.H / G : size[d]));
}

/** Row-major strides of an input in its own shape (absent dims stride 0). */
export function inputStrides(def: VariantDef, decl: InputDecl, size: ProblemSize): Record<Dim, number> {
  const shape = inputShape(def, decl, size);
  const s: Record<Dim, number> = { B: 0, T: 0, H: 0, K: 0, V: 0 };
  let acc = 1;
  for (let i = decl.dims.length - 1; i >= 0; i--) { s[decl.dims[i]!] = acc; acc *= shape[i]!; }
  return s;
}
