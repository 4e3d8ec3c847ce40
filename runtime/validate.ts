// Argument checks for the host API: every error names the tensor or field, what was expected
// and what came, so nothing runs on a wrong shape.
import { numel, inputShape, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { MAX_HEAD_DIM } from '../codegen/index.js';
import { STORAGE_DTYPES, type StorageDtype } from './dtypes.js';
import { InputError } from './errors.js';
import { checkCuSeqlens } from './varlen.js';
import { describeValue } from './options.js';

export type HostArray = Float32Array | Float64Array;
/** Inputs by name: float arrays, or Uint16Array of raw bf16/f16 bits (with `dtypes` saying which). */
export type HostInputs = Readonly<Record<string, HostArray | Uint16Array | undefined>>;
export type DtypeOptions = Readonly<Partial<Record<string, StorageDtype>>>;

export { InputError };

/** The problem size as the kernels see it: H state heads, and with `HV` (grouped value heads,
 * FLA's GVA) H = HV and G = HV / H value heads per query/key head. */
export function validateSize(opts: (Partial<ProblemSize> & { HV?: number }) | undefined): ProblemSize {
  if (!opts || typeof opts !== 'object') throw new InputError('options with the problem size { B, T, H, K, V } are required');
  for (const d of ['B', 'T', 'H', 'K', 'V'] as const) {
    const v = opts[d];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new InputError(`option ${d} must be a positive integer, got ${describeValue(v)}`);
    }
  }
  const { B, T, H, K, V } = opts as ProblemSize;
  for (const [d, v] of [['K', K], ['V', V]] as const) {
    if (v > MAX_HEAD_DIM) throw new InputError(`${d} = ${v} exceeds the largest head dim the kernels support (${MAX_HEAD_DIM})`);
  }
  const HV = opts.HV;
  if (HV === undefined || HV === H) return { B, T, H, K, V };
  if (typeof HV !== 'number' || !Number.isInteger(HV) || HV < H || HV % H !== 0) {
    throw new InputError(`option HV (value heads) must be a multiple of H = ${H} (the query/key heads), got ${describeValue(HV)}`);
  }
  return { B, T, H: HV, K, V, G: HV / H };
}

/** Checks `dtypes` (input names or 'o'; f32, bf16 or f16; h0 and states stay f32). */
export function validateDtypes(def: VariantDef, dtypes: unknown): DtypeOptions {
  if (dtypes === undefined) return {};
  if (!dtypes || typeof dtypes !== 'object') throw new InputError("option dtypes must be an object like { q: 'bf16', o: 'bf16' }");
  const names = new Set([...def.inputs.map((i) => i.name), 'o']);
  for (const [name, d] of Object.entries(dtypes)) {
    if (!names.has(name)) {
      throw new InputError(`option dtypes.${name}: '${name}' is not a tensor of '${def.name}' with a storage dtype; use ${[...names].join(', ')} (h0 and states are f32)`);
    }
    if (!(STORAGE_DTYPES as readonly unknown[]).includes(d)) throw new InputError(`option dtypes.${name} must be one of ${STORAGE_DTYPES.join(', ')}, got ${describeValue(d)}`);
  }
  return dtypes as DtypeOptions;
}

export function validateForwardArgs(def: VariantDef, inputs: HostInputs, opts: Partial<ProblemSize> & { HV?: number; dtypes?: unknown; cuSeqlens?: unknown }): ProblemSize {
  let size = validateSize(opts);
  if (opts.cuSeqlens !== undefined) size = { ...size, S: checkCuSeqlens(opts.cuSeqlens, size.T, size.B).length - 1 };
  const dtypes = validateDtypes(def, opts.dtypes);
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
    const half = dtypes[name] === 'bf16' || dtypes[name] === 'f16';
    if (a instanceof Uint16Array && !half) {
      throw new InputError(`input '${name}' is a Uint16Array (raw 16-bit floats): say which with dtypes: { ${name}: 'bf16' } or 'f16'` +
        (name === 'h0' ? ' (h0 must be float32: states stay f32)' : ''));
    }
    if (!(a instanceof Float32Array) && !(a instanceof Float64Array) && !(a instanceof Uint16Array)) {
      throw new InputError(`input '${name}' must be a Float32Array (or Float64Array, or Uint16Array of bf16/f16 bits), got ${Object.prototype.toString.call(a).slice(8, -1)}`);
    }
    if (a.length !== numel(shape)) {
      const perSequence = name === 'h0' && size.S !== undefined ? ' (one state per sequence of cuSeqlens)' : '';
      throw new InputError(`input '${name}' has ${a.length} elements; expected shape [${shape.join(',')}] = ${numel(shape)} elements${perSequence}`);
    }
  };
  for (const decl of def.inputs) check(decl.name, inputShape(def, decl, size), false);
  check('h0', stateShape(def, size), true);
  return size;
}

function expected(def: VariantDef): string {
  return [...def.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`), `h0[${def.stateLayout === 'kv' ? 'B,H,K,V' : 'B,H,V,K'}] (optional)`].join(', ');
}
