// The buffer-level API's arguments: tensors given as the caller's GPUBuffers (or ranges of them),
// checked against the shapes and dtypes of a call and turned into the plan runner's sources.
// Who owns what: every buffer the caller gives stays the caller's (lae binds it, writes the
// outputs into it, and never clears, keeps or destroys it); lae's scratch is the runner's
// workspace for the call's plan and size (plan-run.ts).
import { inputShape, numel, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { checkBinding, type CallerBinding, type GpuBinding } from './plan-run.js';
import { InputError } from './errors.js';
import type { StorageDtype } from './dtypes.js';
import { describeValue } from './options.js';

export type { GpuBinding };

/** Inputs of a variant (and h0) as GPU tensors, by the spec's names. */
export type GpuInputs = Readonly<Record<string, GpuBinding | undefined>>;

/** Where encodeForward writes: o [B,T,H,V] (packed 16-bit when dtypes.o is bf16/f16) and,
 * when given, the final state ht (laid out like h0). */
export interface ForwardOutputs { readonly o: GpuBinding; readonly ht?: GpuBinding }
/** Where encodeStep writes the step's o [B,N,H,V]. */
export interface StepOutputs { readonly o: GpuBinding }
/** The backward's seeds on the GPU: do [B,T,H,V] and, optionally, dht (laid out like h0). */
export interface GpuSeeds { readonly do: GpuBinding; readonly dht?: GpuBinding }
/** Gradient buffers by name ('d' + input name, dh0): each one given is written in place. */
export type GpuGradients = Readonly<Record<string, GpuBinding | undefined>>;

/** Bytes of `n` elements stored as `dtype` (16-bit values packed two per u32 word). */
export const storedBytes = (n: number, dtype: StorageDtype = 'f32') => (dtype === 'f32' ? n * 4 : Math.ceil(n / 2) * 4);

/** Bytes of the state (h0, ht, dh0, dht, the step state). */
export const stateBytes = (def: VariantDef, size: ProblemSize) => numel(stateShape(def, size)) * 4;

export interface CheckedTensors {
  /** Plan buffer name -> the caller's binding. */
  readonly sources: Record<string, CallerBinding>;
  /** Every caller binding, for the device check. */
  readonly callers: CallerBinding[];
}

/** Builds sources from the caller's tensors: `named` gives, per argument key, the plan buffer
 * name, the tensor's label in errors and the bytes it needs. Unknown keys are refused with what
 * the call takes. */
export function bindTensors(device: GPUDevice, what: string, given: unknown,
  named: ReadonlyMap<string, { readonly buffer: string; readonly label: string; readonly bytes: number; readonly required: boolean; readonly shape: string }>,
  into: CheckedTensors, unknownHint?: (name: string) => string | undefined): void {
  if (!given || typeof given !== 'object' || ArrayBuffer.isView(given)) {
    throw new InputError(`${what} must be an object of GPU tensors by name (${[...named.keys()].join(', ')}), got ${describeValue(given)}`);
  }
  for (const name of Object.keys(given)) {
    if (!named.has(name) && (given as Record<string, unknown>)[name] !== undefined) {
      const hint = unknownHint?.(name);
      throw new InputError(`unknown ${what.replace(/s$/, '')} '${name}'${hint ? `: ${hint}` : ''}; ${what} takes ${[...named.entries()].map(([k, v]) => `${k}${v.shape}`).join(', ')}`);
    }
  }
  for (const [name, n] of named) {
    const b = (given as Record<string, unknown>)[name];
    if (b === undefined || b === null) {
      if (n.required) throw new InputError(`missing ${n.label} ${n.shape}: ${what} needs it as a GPUBuffer or { buffer, offset?, size? }`);
      continue;
    }
    const src = checkBinding(device, n.label, b, n.bytes);
    into.sources[n.buffer] = src;
    into.callers.push(src);
  }
}

/** The spec's inputs (and h0) as bindTensors entries: each input's bytes from its shape and dtype. */
export function inputEntries(def: VariantDef, size: ProblemSize, dtypes: Readonly<Partial<Record<string, StorageDtype>>>, withH0: boolean) {
  const m = new Map<string, { buffer: string; label: string; bytes: number; required: boolean; shape: string }>();
  for (const d of def.inputs) {
    const shape = inputShape(def, d, size);
    const dtype = dtypes[d.name] ?? 'f32';
    m.set(d.name, { buffer: `in_${d.name}`, label: `input '${d.name}'`, bytes: storedBytes(numel(shape), dtype), required: true, shape: `[${shape.join(',')}]${dtype === 'f32' ? '' : ` ${dtype}`}` });
  }
  if (withH0) m.set('h0', { buffer: 'h0', label: "input 'h0'", bytes: stateBytes(def, size), required: false, shape: `[${stateShape(def, size).join(',')}] (optional)` });
  return m;
}
