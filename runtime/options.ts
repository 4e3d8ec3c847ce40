// Option objects are checked against the names each call knows: a misspelled option (FLA's
// `cu_seqlens`, `checkfinite`) would otherwise be ignored and the call would run without it.
// The error names the option and the closest known one; a tensor passed as an option (h0, do,
// dht) is told where it belongs. Values are described with their type, so NaN reads NaN and a
// string reads as one.
import { InputError } from './errors.js';

const SIZE = ['B', 'T', 'H', 'K', 'V', 'HV'] as const;
export const FORWARD_OPTIONS: readonly string[] = [
  ...SIZE, 'scale', 'outputFinalState', 'chunkSize', 'mode', 'poisonOutputs', 'saveForBackward',
  'allowPositiveLogDecay', 'checkFinite', 'dtypes', 'cuSeqlens',
];
export const BACKWARD_OPTIONS: readonly string[] = [...FORWARD_OPTIONS, 'saved'];
export const STEP_OPTIONS: readonly string[] = ['B', 'H', 'K', 'V', 'HV', 'N', 'scale', 'stateIndices', 'dtypes', 'checkFinite', 'cuSeqlens', 'stateDtype'];
export const ENCODE_FORWARD_OPTIONS: readonly string[] = [...SIZE, 'scale', 'chunkSize', 'mode', 'dtypes', 'cuSeqlens'];
export const ENCODE_BACKWARD_OPTIONS: readonly string[] = [...SIZE, 'scale', 'chunkSize', 'dtypes', 'cuSeqlens'];
export const ENCODE_STEP_OPTIONS: readonly string[] = STEP_OPTIONS.filter((o) => o !== 'checkFinite');
export const ENGINE_OPTIONS: readonly string[] = ['device', 'powerPreference', 'dawnFlags', 'tensorCores', 'tuning', 'tuningCache', 'compactLoops'];
export const VARIANT_OPTIONS: readonly string[] = ['stateLayout'];

/** createEngine's tuning knobs (EngineOptions.tuning). */
export const TUNING_OPTIONS: readonly string[] = ['scalarLoads', 'fragmentMemory', 'outputTile', 'unverifiedFragments', 'stepColumns', 'unrollStaging', 'outputScores', 'dqkForm'];
/** mamba2Ssd's options (variants/mamba2_ssd.ts): mamba_chunk_scan_combined's dt_bias, dt_softplus,
 * dt_limit and z, and the Mamba2 layer's A_log. */
export const MAMBA2_SSD_OPTIONS: readonly string[] = ['dtBias', 'dtSoftplus', 'dtLimit', 'aLog', 'z'];
export type OptionsOf = 'forward' | 'backward' | 'step' | 'encodeForward' | 'encodeBackward' | 'encodeStep' | 'createEngine' | 'engine.variant' | 'createEngine tuning' | 'mamba2Ssd';

const KNOWN: Record<OptionsOf, readonly string[]> = {
  forward: FORWARD_OPTIONS, backward: BACKWARD_OPTIONS, step: STEP_OPTIONS,
  encodeForward: ENCODE_FORWARD_OPTIONS, encodeBackward: ENCODE_BACKWARD_OPTIONS, encodeStep: ENCODE_STEP_OPTIONS, createEngine: ENGINE_OPTIONS, 'engine.variant': VARIANT_OPTIONS, 'createEngine tuning': TUNING_OPTIONS,
  mamba2Ssd: MAMBA2_SSD_OPTIONS,
};

/** Where a name that is not an option of `call` belongs, when it is something lae knows. */
function belongsElsewhere(call: OptionsOf, name: string): string | undefined {
  if (call.startsWith('encode')) {
    if (['h0', 'do', 'dht', 'state', 'o', 'ht'].includes(name)) return `'${name}' is a tensor: pass it with the GPU tensors, not among the options`;
    if (name === 'outputFinalState') return 'give outputs.ht, a buffer for the final state, to have it written';
    if (name === 'saved' || name === 'saveForBackward') return 'encodeBackward records the forward it needs itself, in the same encoder';
    if (['checkFinite', 'allowPositiveLogDecay', 'poisonOutputs'].includes(name)) {
      return `'${name}' needs host copies of the tensors (or writes through the queue), and encode calls make none; use op.${call === 'encodeStep' ? 'step' : call === 'encodeBackward' ? 'backward' : 'forward'} with host arrays for it`;
    }
    if (call === 'encodeStep' && name === 'T') return 'encodeStep takes N (tokens per sequence in this call; default 1), not T';
    if (call === 'encodeBackward' && name === 'mode') return 'encodeBackward runs the chunked forward';
    return undefined;
  }
  if (call === 'createEngine tuning' && name === 'dplrScores') return "it was renamed outputScores (2026-12-03), which covers gla, kda and rwkv6 as well: tuning: { outputScores: 'prep' | 'output' }";
  if (name === 'h0') {
    return call === 'step'
      ? "the state is step's second argument: op.step(inputs, state, opts)"
      : 'h0 is an input: pass it with the tensors, op.forward({ ...inputs, h0 }, opts)';
  }
  if (name === 'do' || name === 'dht') return `'${name}' is a seed: op.backward(inputs, { do, dht }, opts)`;
  if (name === 'state') return "the state is step's second argument: op.step(inputs, state, opts)";
  if (call === 'step' && name === 'T') return 'step takes N (tokens per sequence in this call; default 1), not T';
  if (call === 'forward' && name === 'saved') return "'saved' is an option of backward (forward returns it with saveForBackward: true)";
  if (call === 'step' && FORWARD_OPTIONS.includes(name)) return `'${name}' is an option of forward and backward, not of step`;
  if (call === 'step' && name === 'saved') return "'saved' is an option of backward";
  return undefined;
}

const squash = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, '');

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name`: the same up to case, '_' and '-', else within a small
 * edit distance (case-insensitive). */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const exact = known.find((k) => squash(k) === squash(name));
  if (exact) return exact;
  // A known name this one begins (poison -> poisonOutputs), from 4 letters on.
  const prefixed = squash(name).length >= 4 ? known.filter((k) => squash(k).startsWith(squash(name))) : [];
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.min(name.length, best.length) / 3)) ? best : undefined;
}

/** Throws an InputError for the first option name `call` does not know. */
export function checkOptionNames(call: OptionsOf, opts: unknown): void {
  if (!opts || typeof opts !== 'object') return;
  const known = KNOWN[call];
  for (const name of Object.keys(opts)) {
    if (known.includes(name)) continue;
    const where = belongsElsewhere(call, name);
    if (where) throw new InputError(`unknown option '${name}' of ${call}: ${where}`);
    const close = closestName(name, known);
    throw new InputError(`unknown option '${name}' of ${call}${close ? `; did you mean '${close}'?` : ''} (${call} takes ${known.join(', ')})`);
  }
}

/** A value as the caller gave it, with its type: 'NaN (a number)', '"64" (a string)'. */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return `${String(v)} (a number)`;
  if (typeof v === 'string') return `${JSON.stringify(v)} (a string)`;
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n (a bigint)`;
  if (typeof v === 'boolean') return `${v} (a boolean)`;
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
}

/** A copy of an options object made at call time: later edits of the caller's object, its
 * dtypes or its index arrays do not reach a call in flight. Anything else passes through for
 * the checks to name. */
export function snapshotOptions<T>(opts: T): T {
  if (!opts || typeof opts !== 'object') return opts;
  const o = { ...(opts as Record<string, unknown>) };
  if (o.dtypes && typeof o.dtypes === 'object') o.dtypes = { ...(o.dtypes as object) };
  for (const k of ['cuSeqlens', 'stateIndices', 'dawnFlags']) {
    const a = o[k];
    if ((Array.isArray(a) || ArrayBuffer.isView(a)) && typeof (a as { slice?: unknown }).slice === 'function') o[k] = (a as unknown as { slice(): unknown }).slice();
  }
  return o as T;
}
