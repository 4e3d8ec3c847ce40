// Input checks beyond shapes: log-decays must be <= 0 (a positive one makes the chunked kernels'
// 2^(G_i - G_j) factors overflow, FLA issue #215), and, on request, every tensor finite.
import { evaluate, stridesOf, decayDims, type Dim, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { InputError, type HostInputs } from './validate.js';

/** `[i0,i1,...]` of flat index `flat` in a row-major shape, with the dims' names. */
export function formatIndex(flat: number, shape: readonly number[], names?: readonly string[]): string {
  const idx: number[] = [];
  let rem = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rem % shape[d]!);
    rem = Math.floor(rem / shape[d]!);
  }
  return `[${idx.map((v, i) => (names ? `${names[i]}=${v}` : String(v))).join(',')}]`;
}

/** Throws if the spec's log-decay is positive anywhere, naming the tensor (or role) and index. */
export function checkLogDecay(def: VariantDef, inputs: HostInputs, size: ProblemSize): void {
  const node = def.roles.logDecay;
  if (!node || def.decay === 'none') return;
  const hint = 'log-decays must be <= 0 (natural-log gates, as in FLA); a positive one overflows the chunked ' +
    "kernels. Pass allowPositiveLogDecay: true to run anyway (mode: 'recurrent' tolerates mild values)";
  // The common case, a gate that is an input itself: scan it directly.
  if (node.kind === 'input') {
    const decl = def.inputs.find((i) => i.name === node.name)!;
    const a = inputs[node.name]!;
    for (let i = 0; i < a.length; i++) {
      if (a[i]! > 0) {
        throw new InputError(`input '${node.name}' (the log-decay) is ${a[i]} > 0 at ${formatIndex(i, decl.dims.map((d) => size[d]), decl.dims)}: ${hint}`);
      }
    }
    return;
  }
  const dims = decayDims(def.decay);
  const shape = dims.map((d) => (d === 'H' || d === 'K' || d === 'B' || d === 'T' ? size[d] : 1));
  const strides = new Map(def.inputs.map((d) => [d.name, stridesOf(d.dims, size)]));
  const idx: Record<Dim, number> = { B: 0, T: 0, H: 0, K: 0, V: 0 };
  const read = (name: string) => {
    const s = strides.get(name)!;
    return inputs[name]![idx.B * s.B + idx.T * s.T + idx.H * s.H + idx.K * s.K + idx.V * s.V]!;
  };
  const total = shape.reduce((p, x) => p * x, 1);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    for (let d = dims.length - 1; d >= 0; d--) {
      idx[dims[d]!] = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    const value = evaluate(node, read, idx.H);
    if (value > 0) {
      throw new InputError(`the log-decay of '${def.name}' is ${value} > 0 at ${formatIndex(flat, shape, dims)} (from its inputs ` +
        `${def.inputs.filter((i) => JSON.stringify(node).includes(`"name":"${i.name}"`)).map((i) => `'${i.name}'`).join(', ')}): ${hint}`);
    }
  }
}

export class NonFiniteError extends Error {
  constructor(message: string) { super(message); this.name = 'NonFiniteError'; }
}

/** Throws at the first NaN or infinity of any named tensor, with its multi-dim index. */
export function checkFinite(what: 'input' | 'output' | 'seed' | 'gradient', tensors: Record<string, { data: ArrayLike<number>; shape: readonly number[] } | undefined>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) continue;
    for (let i = 0; i < t.data.length; i++) {
      const x = t.data[i]!;
      if (!Number.isFinite(x)) {
        throw new NonFiniteError(`${what} '${name}' has ${x} at ${formatIndex(i, t.shape)} (checkFinite)`);
      }
    }
  }
}
