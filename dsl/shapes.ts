// Concrete shapes: problem sizes, tensor shapes in them, and element offsets.
import type { Dim, InputDecl, VariantDef } from './spec.js';

export interface ProblemSize { readonly B: number; readonly T: number; readonly H: number; readonly K: number; readonly V: number }

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

/** Shape of h0/ht in the variant's state layout. */
export function stateShape(def: VariantDef, size: ProblemSize): number[] {
  return def.stateLayout === 'kv' ? [size.B, size.H, size.K, size.V] : [size.B, size.H, size.V, size.K];
}

export function inputShape(decl: InputDecl, size: ProblemSize): number[] {
  return shapeOf(decl.dims, size);
}
