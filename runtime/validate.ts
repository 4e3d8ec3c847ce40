// Argument checks for the host API: every error names the tensor or field, what was expected
// and what came, so nothing runs on a wrong shape.
import { numel, shapeOf, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { MAX_HEAD_DIM } from '../codegen/index.js';

export type HostArray = Float32Array | Float64Array;
export type HostInputs = Readonly<Record<string, HostArray | undefined>>;

export class InputError extends Error {
  constructor(message: string) { super(message); this.name = 'InputError'; }
}

export function validateSize(opts: Partial<ProblemSize> | undefined): ProblemSize {
  if (!opts || typeof opts !== 'object') throw new InputError('options with the problem size { B, T, H, K, V } are required');
  for (const d of ['B', 'T', 'H', 'K', 'V'] as const) {
    const v = opts[d];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new InputError(`option ${d} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  const size = opts as ProblemSize;
  for (const d of ['K', 'V'] as const) {
    if (size[d] > MAX_HEAD_DIM) throw new InputError(`${d} = ${size[d]} exceeds the largest head dim the kernels support (${MAX_HEAD_DIM})`);
  }
  return size;
}

export function validateForwardArgs(def: VariantDef, inputs: HostInputs, opts: Partial<ProblemSize>): ProblemSize {
  const size = validateSize(opts);
  if (!inputs || typeof inputs !== 'object') throw new InputError(`inputs must be an object of Float32Arrays keyed by name (${expected(def)})`);
  const allowed = new Set([...def.inputs.map((i) => i.name), 'h0']);
  for (const name of Object.keys(inputs)) {
    if (!allowed.has(name)) throw new InputError(`unknown input '${name}' for variant '${def.name}'; it takes ${expected(def)}`);
  }
  const check = (name: string, shape: number[], optional: boolean) => {
    const a = inputs[name];
    if (a === undefined || a === null) {
      if (optional) return;
      throw new InputError(`missing input '${name}' [${shape.join(',')}] for variant '${def.name}'; it takes ${expected(def)}`);
    }
    if (!(a instanceof Float32Array) && !(a instanceof Float64Array)) {
      throw new InputError(`input '${name}' must be a Float32Array (or Float64Array), got ${Object.prototype.toString.call(a).slice(8, -1)}`);
    }
    if (a.length !== numel(shape)) {
      throw new InputError(`input '${name}' has ${a.length} elements; expected shape [${shape.join(',')}] = ${numel(shape)} elements`);
    }
  };
  for (const decl of def.inputs) check(decl.name, shapeOf(decl.dims, size), false);
  check('h0', stateShape(def, size), true);
  return size;
}

function expected(def: VariantDef): string {
  return [...def.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`), `h0[${def.stateLayout === 'kv' ? 'B,H,K,V' : 'B,H,V,K'}] (optional)`].join(', ');
}
