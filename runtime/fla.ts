// FLA-style entry points, for porting code written against flash-linear-attention: functions
// named like FLA's ops (camelCase), the tensors positional in FLA's order, then an options object
// with FLA's keyword names in camelCase, returning [o, finalState]. Thin wrappers over an engine's
// VariantOp: chunk* run op.forward, fusedRecurrent* run op.step over the whole sequence (N = T)
// on a copy of the initial state. Tensors carry shapes ({ data, shape }, FLA's [B,T,H,...]
// layout), from which B, T, H, K, V and HV are read. Every FLA option lae does not implement is
// an error that names it (never ignored): see FLA_REFUSALS.
import type { VariantDef } from '../dsl/index.js';
import { VARIANTS, TOKEN_SEQUENTIAL_VARIANTS } from '../variants/index.js';
import type { Engine, VariantOp, ForwardOptions, StepOptions } from './engine.js';
import { InputError } from './errors.js';
import { closestName, describeValue } from './options.js';

/** A tensor as FLA has it: flat data in row-major order and its shape. */
export interface FlaTensor {
  readonly data: Float32Array | Float64Array;
  readonly shape: readonly number[];
}

/** What lae returns: o [B,T,HV,V] and the final state [N,HV,K,V] (float32). */
export interface FlaOutput {
  data: Float32Array;
  shape: number[];
}

/** FLA's cu_seqlens: N+1 offsets; a LongTensor's values may come as a BigInt64Array. */
export type FlaCuSeqlens = Int32Array | Uint32Array | BigInt64Array | readonly (number | bigint)[];

/** The options of the FLA entry points (FLA's keyword arguments in camelCase). Which ones an op
 * takes follows FLA's signature of that op; the rest are errors. */
export interface FlaOptions {
  /** Output scale; FLA's default K^-0.5 (chunkRwkv7: 1). */
  scale?: number | null;
  /** [N,HV,K,V] (N = B, or the number of sequences of cuSeqlens); zeros when absent. */
  initialState?: FlaTensor | null;
  /** Return the final state as the second element (FLA's default false; fusedRecurrentRwkv7: true). */
  outputFinalState?: boolean;
  /** Packed sequences (B must be 1): N+1 offsets from 0 to T. */
  cuSeqlens?: FlaCuSeqlens | null;
  /** FLA's CPU copy of cu_seqlens: accepted when equal to cuSeqlens (lae's offsets are on the host anyway). */
  cuSeqlensCpu?: FlaCuSeqlens | null;
  /** Chunk size of the chunked kernels (where FLA takes chunk_size): 16, 32 or 64 in lae. */
  chunkSize?: number;
  /** linear_attn: FLA's chunk_linear_attn defaults to normalize=True, which lae does not
   * implement: chunkLinearAttn requires normalize: false. */
  normalize?: boolean;
  /** L2-normalize q and k inside the kernel (eps 1e-6, FLA's l2norm): delta rule family. */
  useQkL2normInKernel?: boolean;
  /** lae's own, chunk* only: run with positive log-decays (which overflow the chunked kernels,
   * FLA issue #215; FLA does not check, lae refuses them unless this is true). */
  allowPositiveLogDecay?: boolean;
  /** Any other FLA keyword (headFirst, stateVFirst, gGamma, useGateInKernel, ...) is refused
   * with what to do instead. */
  [option: string]: unknown;
}

/** [o, finalState]: finalState is null unless outputFinalState. */
export type FlaResult = [FlaOutput, FlaOutput | null];
type Ft = FlaTensor;
type OptFt = FlaTensor | null | undefined;
type R = Promise<FlaResult>;

/** The functions flaOps(engine) returns (FLA's ops, camelCase). */
export interface FlaOps {
  chunkLinearAttn(q: Ft, k: Ft, v: Ft, opts?: FlaOptions): R;
  fusedRecurrentLinearAttn(q: Ft, k: Ft, v: Ft, opts?: FlaOptions): R;
  /** g may be null: no decay (FLA: plain linear attention). */
  chunkSimpleGla(q: Ft, k: Ft, v: Ft, g: OptFt, opts?: FlaOptions): R;
  fusedRecurrentSimpleGla(q: Ft, k: Ft, v: Ft, g: OptFt, opts?: FlaOptions): R;
  chunkRetention(q: Ft, k: Ft, v: Ft, opts?: FlaOptions): R;
  fusedRecurrentRetention(q: Ft, k: Ft, v: Ft, opts?: FlaOptions): R;
  chunkGla(q: Ft, k: Ft, v: Ft, g: Ft, opts?: FlaOptions): R;
  /** FLA's fused_recurrent_gla(q, k, v, gk, gv): gk may be null (no decay); gv is refused. */
  fusedRecurrentGla(q: Ft, k: Ft, v: Ft, gk: OptFt, opts?: FlaOptions): R;
  chunkDeltaRule(q: Ft, k: Ft, v: Ft, beta: Ft, opts?: FlaOptions): R;
  /** beta may be null: ones, as FLA's fused_recurrent_delta_rule. */
  fusedRecurrentDeltaRule(q: Ft, k: Ft, v: Ft, beta: OptFt, opts?: FlaOptions): R;
  chunkGatedDeltaRule(q: Ft, k: Ft, v: Ft, g: Ft, beta: Ft, opts?: FlaOptions): R;
  /** FLA's keywords g= and beta= here positional; g null: no decay, beta null: ones (FLA's defaults). */
  fusedRecurrentGatedDeltaRule(q: Ft, k: Ft, v: Ft, g: OptFt, beta: OptFt, opts?: FlaOptions): R;
  chunkKda(q: Ft, k: Ft, v: Ft, g: Ft, beta: Ft, opts?: FlaOptions): R;
  fusedRecurrentKda(q: Ft, k: Ft, v: Ft, g: Ft, beta: Ft, opts?: FlaOptions): R;
  chunkRwkv6(r: Ft, k: Ft, v: Ft, w: Ft, u: Ft, opts?: FlaOptions): R;
  fusedRecurrentRwkv6(r: Ft, k: Ft, v: Ft, w: Ft, u: Ft, opts?: FlaOptions): R;
  chunkDplrDeltaRule(q: Ft, k: Ft, v: Ft, a: Ft, b: Ft, gk: Ft, opts?: FlaOptions): R;
  fusedRecurrentDplrDeltaRule(q: Ft, k: Ft, v: Ft, a: Ft, b: Ft, gk: Ft, opts?: FlaOptions): R;
  /** chunk_dplr_delta_rule with q = r, gk = w (w the log decay); scale defaults to 1, as FLA's. */
  chunkRwkv7(r: Ft, w: Ft, k: Ft, v: Ft, a: Ft, b: Ft, opts?: FlaOptions): R;
  /** fused_recurrent_dplr_delta_rule with q = r, gk = w. FLA's defaults differ from chunk_rwkv7's:
   * scale K^-0.5 and outputFinalState true. */
  fusedRecurrentRwkv7(r: Ft, w: Ft, k: Ft, v: Ft, a: Ft, b: Ft, opts?: FlaOptions): R;
}

type Dim = 'B' | 'T' | 'H' | 'HV' | 'K' | 'V';
interface TensorSpec {
  /** FLA's name of the argument. */
  fla: string;
  /** The lae variant's input it becomes. */
  input: string;
  dims: readonly Dim[];
  /** FLA's default when None is passed: zeros (no decay) or ones (beta). */
  absent?: 'zeros' | 'ones';
}
interface OpSpec {
  name: keyof FlaOps;
  fla: string;
  variant: string;
  tensors: readonly TensorSpec[];
  recurrent: boolean;
  /** Options taken beyond scale, initialState, outputFinalState, cuSeqlens. */
  options: readonly string[];
  /** FLA options refused when set (truthy, or a tensor), with what to do. */
  refused: readonly string[];
  chunkSizes?: readonly number[];
  defaultScale?: number;
  defaultOutputFinalState?: boolean;
}

const BTHK: readonly Dim[] = ['B', 'T', 'H', 'K'];
const BTHV: readonly Dim[] = ['B', 'T', 'H', 'V'];
const BTH: readonly Dim[] = ['B', 'T', 'H'];
const qkv: readonly TensorSpec[] = [
  { fla: 'q', input: 'q', dims: BTHK }, { fla: 'k', input: 'k', dims: BTHK }, { fla: 'v', input: 'v', dims: BTHV },
];
const qkvGrouped: readonly TensorSpec[] = [
  { fla: 'q', input: 'q', dims: BTHK }, { fla: 'k', input: 'k', dims: BTHK }, { fla: 'v', input: 'v', dims: ['B', 'T', 'HV', 'V'] },
];
const rkv: readonly TensorSpec[] = [
  { fla: 'r', input: 'q', dims: BTHK }, { fla: 'k', input: 'k', dims: BTHK }, { fla: 'v', input: 'v', dims: BTHV },
];

/** Why each refused FLA option is refused, and what to do instead. */
export const FLA_REFUSALS: Readonly<Record<string, string>> = {
  headFirst: "FLA removed head_first too: lae takes FLA's [B,T,H,...] layout only; transpose the tensors to it",
  stateVFirst: 'the FLA entry points take and return the state as [N,H,K,V]; transpose it, or use engine.variant(name, { stateLayout: \'vk\' }) and op.forward directly',
  reverse: 'lae has no reverse recurrence; flip the tokens (of each sequence, with cuSeqlens) before and o after the call',
  gGamma: "pass the per-head log decay as g, a [B,T,H] tensor holding g_gamma[h] at every token (the same recurrence); RetNet's fixed decays are chunkRetention",
  gv: 'a decay along V is not implemented in lae',
  gk: 'a per-key decay with the delta rule is KDA: use fusedRecurrentKda(q, k, v, g, beta, opts)',
  useGateInKernel: 'compute the gate before the call (gated delta rule: g = -exp(A_log) * softplus(g + dt_bias)), or fuse it in a spec of your own: defineVariant with qwen3NextGate / gatedDeltaGate, or kimiLinearGate for KDA (README, "Writing a variant")',
  aLog: 'A_log belongs to use_gate_in_kernel, which lae does not implement here: compute the gate before the call, or fuse it in a spec (qwen3NextGate, kimiLinearGate)',
  dtBias: 'dt_bias belongs to use_gate_in_kernel, which lae does not implement here: compute the gate before the call, or fuse it in a spec (qwen3NextGate, kimiLinearGate)',
  useBetaSigmoidInKernel: 'pass beta = sigmoid(beta) (2 * sigmoid(beta) with allow_neg_eigval), or fuse it in a spec with sigmoidBeta(b, { allowNegativeEigenvalues })',
  allowNegEigval: 'pass beta = 2 * sigmoid(beta) (FLA requires use_beta_sigmoid_in_kernel with it), or fuse it in a spec with sigmoidBeta(b, { allowNegativeEigenvalues: true })',
  lowerBound: "the bounded gate is not implemented in these entry points: compute g = lower_bound * sigmoid(exp(A_log) * (g + dt_bias)) before the call, or fuse it in a spec with glmGate",
  safeGate: 'FLA\'s safe_gate selects kernel paths for gates bounded below (with lower_bound); lae has no such option: drop it',
  disableRecompute: 'the FLA entry points are forward only (no autograd); drop it, and use op.forward with saveForBackward and op.backward for gradients',
  returnIntermediateStates: 'lae does not return the per-chunk states',
  cpContext: 'context parallelism is not implemented in lae',
  chunkIndices: 'lae builds its chunk table from cuSeqlens; drop it',
  normalize: "FLA's normalize=True (o divided by scale * q . sum of k, and a (kv, z) state) is not implemented in lae: linear_attn is the unnormalized form",
};

const COMMON = ['scale', 'initialState', 'outputFinalState', 'cuSeqlens'];
const LAE_CHUNKS = [16, 32, 64];
const GDN_GATE = ['useGateInKernel', 'aLog', 'dtBias', 'useBetaSigmoidInKernel', 'allowNegEigval', 'stateVFirst'];

const SPECS: readonly OpSpec[] = [
  { name: 'chunkLinearAttn', fla: 'chunk_linear_attn', variant: 'linear_attn', tensors: qkv, recurrent: false, options: ['normalize'], refused: ['headFirst'] },
  { name: 'fusedRecurrentLinearAttn', fla: 'fused_recurrent_linear_attn', variant: 'linear_attn', tensors: qkv, recurrent: true, options: ['normalize'], refused: ['reverse', 'headFirst'] },
  {
    name: 'chunkSimpleGla', fla: 'chunk_simple_gla', variant: 'simple_gla', tensors: [...qkv, { fla: 'g', input: 'g', dims: BTH, absent: 'zeros' }],
    recurrent: false, options: ['cuSeqlensCpu', 'chunkSize'], refused: ['gGamma', 'stateVFirst', 'headFirst'], chunkSizes: LAE_CHUNKS,
  },
  {
    name: 'fusedRecurrentSimpleGla', fla: 'fused_recurrent_simple_gla', variant: 'simple_gla', tensors: [...qkv, { fla: 'g', input: 'g', dims: BTH, absent: 'zeros' }],
    recurrent: true, options: [], refused: ['gGamma', 'reverse', 'stateVFirst', 'headFirst'],
  },
  { name: 'chunkRetention', fla: 'chunk_retention', variant: 'retention', tensors: qkv, recurrent: false, options: ['chunkSize'], refused: ['headFirst'], chunkSizes: LAE_CHUNKS },
  { name: 'fusedRecurrentRetention', fla: 'fused_recurrent_retention', variant: 'retention', tensors: qkv, recurrent: true, options: [], refused: ['reverse', 'stateVFirst', 'headFirst'] },
  {
    name: 'chunkGla', fla: 'chunk_gla', variant: 'gla', tensors: [...qkv, { fla: 'g', input: 'g', dims: BTHK }],
    recurrent: false, options: ['cuSeqlensCpu'], refused: ['stateVFirst', 'headFirst'],
  },
  {
    name: 'fusedRecurrentGla', fla: 'fused_recurrent_gla', variant: 'gla', tensors: [...qkv, { fla: 'gk', input: 'g', dims: BTHK, absent: 'zeros' }],
    recurrent: true, options: [], refused: ['gv', 'reverse', 'stateVFirst', 'headFirst'],
  },
  {
    name: 'chunkDeltaRule', fla: 'chunk_delta_rule', variant: 'delta_rule', tensors: [...qkv, { fla: 'beta', input: 'beta', dims: BTH }],
    recurrent: false, options: ['useQkL2normInKernel', 'cuSeqlensCpu', 'chunkSize'], refused: ['headFirst'], chunkSizes: LAE_CHUNKS,
  },
  {
    name: 'fusedRecurrentDeltaRule', fla: 'fused_recurrent_delta_rule', variant: 'delta_rule', tensors: [...qkv, { fla: 'beta', input: 'beta', dims: BTH, absent: 'ones' }],
    recurrent: true, options: ['useQkL2normInKernel'], refused: ['headFirst'],
  },
  {
    name: 'chunkGatedDeltaRule', fla: 'chunk_gated_delta_rule', variant: 'gated_delta_rule',
    tensors: [...qkvGrouped, { fla: 'g', input: 'g', dims: ['B', 'T', 'HV'] }, { fla: 'beta', input: 'beta', dims: ['B', 'T', 'HV'] }],
    recurrent: false, options: ['useQkL2normInKernel', 'cuSeqlensCpu', 'chunkSize'], refused: [...GDN_GATE, 'chunkIndices', 'cpContext', 'headFirst'], chunkSizes: LAE_CHUNKS,
  },
  {
    name: 'fusedRecurrentGatedDeltaRule', fla: 'fused_recurrent_gated_delta_rule', variant: 'gated_delta_rule',
    tensors: [...qkvGrouped, { fla: 'g', input: 'g', dims: ['B', 'T', 'HV'], absent: 'zeros' }, { fla: 'beta', input: 'beta', dims: ['B', 'T', 'HV'], absent: 'ones' }],
    recurrent: true, options: ['useQkL2normInKernel'], refused: ['gk', 'gv', ...GDN_GATE, 'headFirst'],
  },
  {
    name: 'chunkKda', fla: 'chunk_kda', variant: 'kda',
    tensors: [...qkvGrouped, { fla: 'g', input: 'g', dims: ['B', 'T', 'HV', 'K'] }, { fla: 'beta', input: 'beta', dims: ['B', 'T', 'HV'] }],
    recurrent: false, options: ['useQkL2normInKernel', 'cuSeqlensCpu', 'chunkSize'],
    refused: [...GDN_GATE, 'safeGate', 'lowerBound', 'disableRecompute', 'returnIntermediateStates', 'cpContext', 'headFirst'], chunkSizes: [32, 64],
  },
  {
    name: 'fusedRecurrentKda', fla: 'fused_recurrent_kda', variant: 'kda',
    tensors: [...qkvGrouped, { fla: 'g', input: 'g', dims: ['B', 'T', 'HV', 'K'] }, { fla: 'beta', input: 'beta', dims: ['B', 'T', 'HV'] }],
    recurrent: true, options: ['useQkL2normInKernel'], refused: [...GDN_GATE, 'lowerBound', 'headFirst'],
  },
  {
    name: 'chunkRwkv6', fla: 'chunk_rwkv6', variant: 'rwkv6', tensors: [...rkv, { fla: 'w', input: 'w', dims: BTHK }, { fla: 'u', input: 'u', dims: ['H', 'K'] }],
    recurrent: false, options: ['cuSeqlensCpu', 'chunkSize'], refused: ['headFirst'], chunkSizes: LAE_CHUNKS,
  },
  {
    name: 'fusedRecurrentRwkv6', fla: 'fused_recurrent_rwkv6', variant: 'rwkv6', tensors: [...rkv, { fla: 'w', input: 'w', dims: BTHK }, { fla: 'u', input: 'u', dims: ['H', 'K'] }],
    recurrent: true, options: [], refused: ['reverse', 'headFirst'],
  },
  {
    name: 'chunkDplrDeltaRule', fla: 'chunk_dplr_delta_rule', variant: 'dplr_delta_rule',
    tensors: [...qkv, { fla: 'a', input: 'a', dims: BTHK }, { fla: 'b', input: 'b', dims: BTHK }, { fla: 'gk', input: 'gk', dims: BTHK }],
    recurrent: false, options: ['cuSeqlensCpu', 'chunkSize'], refused: ['safeGate', 'lowerBound', 'disableRecompute', 'cpContext', 'headFirst'], chunkSizes: LAE_CHUNKS,
  },
  {
    name: 'fusedRecurrentDplrDeltaRule', fla: 'fused_recurrent_dplr_delta_rule', variant: 'dplr_delta_rule',
    tensors: [...qkv, { fla: 'a', input: 'a', dims: BTHK }, { fla: 'b', input: 'b', dims: BTHK }, { fla: 'gk', input: 'gk', dims: BTHK }],
    recurrent: true, options: [], refused: ['reverse', 'headFirst'],
  },
  {
    name: 'chunkRwkv7', fla: 'chunk_rwkv7', variant: 'dplr_delta_rule',
    tensors: [{ fla: 'r', input: 'q', dims: BTHK }, { fla: 'w', input: 'gk', dims: BTHK }, { fla: 'k', input: 'k', dims: BTHK }, { fla: 'v', input: 'v', dims: BTHV },
      { fla: 'a', input: 'a', dims: BTHK }, { fla: 'b', input: 'b', dims: BTHK }],
    recurrent: false, options: ['cuSeqlensCpu', 'chunkSize'], refused: ['safeGate', 'lowerBound', 'disableRecompute', 'cpContext', 'headFirst'], chunkSizes: LAE_CHUNKS,
    defaultScale: 1,
  },
  {
    name: 'fusedRecurrentRwkv7', fla: 'fused_recurrent_rwkv7', variant: 'dplr_delta_rule',
    tensors: [{ fla: 'r', input: 'q', dims: BTHK }, { fla: 'w', input: 'gk', dims: BTHK }, { fla: 'k', input: 'k', dims: BTHK }, { fla: 'v', input: 'v', dims: BTHV },
      { fla: 'a', input: 'a', dims: BTHK }, { fla: 'b', input: 'b', dims: BTHK }],
    recurrent: true, options: [], refused: ['headFirst'], defaultOutputFinalState: true,
  },
];

/** Each FLA entry point: its FLA name, the lae variant it runs and how (for docs and tests). */
export const FLA_OPS: readonly { name: keyof FlaOps; fla: string; variant: string; runs: 'forward' | 'step'; tensors: string[] }[] =
  SPECS.map((s) => ({ name: s.name, fla: s.fla, variant: s.variant, runs: s.recurrent ? 'step' : 'forward', tensors: s.tensors.map((t) => t.fla) }));

const isSet = (v: unknown) => v !== undefined && v !== null && v !== false;
const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

function builtin(name: string): VariantDef {
  const all = { ...VARIANTS, ...TOKEN_SEQUENTIAL_VARIANTS } as Record<string, VariantDef>;
  return all[name]!;
}

/** The built-in spec with q and k L2-normalized (FLA's use_qk_l2norm_in_kernel, eps 1e-6). */
function withQkL2norm(def: VariantDef): VariantDef {
  return { ...def, name: `${def.name}_qk_l2norm`, l2norm: ['k', 'q'] } as VariantDef;
}

function checkOptions(spec: OpSpec, opts: unknown): Record<string, unknown> {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts) || ArrayBuffer.isView(opts) || isTensorLike(opts)) {
    throw new InputError(`${spec.name}: the argument after the ${spec.tensors.length} tensors (${spec.tensors.map((t) => t.fla).join(', ')}) is the options object, got ${describeValue(opts)}`);
  }
  const o = opts as Record<string, unknown>;
  const accepted = [...COMMON, ...spec.options, ...(spec.recurrent ? [] : ['allowPositiveLogDecay'])];
  for (const [name, value] of Object.entries(o)) {
    if (accepted.includes(name)) continue;
    if (spec.refused.includes(name)) {
      if (!isSet(value)) continue; // FLA's default (False / None): the same computation
      throw new InputError(`${spec.name}: option '${name}' (FLA's ${snake(name)}) is not supported: ${FLA_REFUSALS[name]}`);
    }
    const known = [...accepted, ...spec.refused];
    const close = closestName(name, known);
    const other = SPECS.filter((s) => s.options.includes(name) || s.refused.includes(name)).map((s) => s.name);
    throw new InputError(`${spec.name}: unknown option '${name}'${close ? `; did you mean '${close}'?` : ''}` +
      (name === 'chunkSize' && spec.name === 'chunkGla' ? " (FLA's chunk_gla takes no chunk_size either: it picks its own)" : '') +
      (name === 'chunkSize' && spec.recurrent ? ` (FLA's ${spec.fla} takes no chunk_size: it runs token by token)` : '') +
      ` (${spec.name} takes ${accepted.join(', ')}${other.length && !close ? `; '${name}' belongs to ${other.slice(0, 3).join(', ')}` : ''})`);
  }
  return o;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/^a_log$/, 'A_log');

function isTensorLike(x: unknown): boolean {
  return !!x && typeof x === 'object' && 'data' in (x as object) && 'shape' in (x as object);
}

/** Checks a tensor's form: { data: Float32Array | Float64Array, shape } with data.length = prod(shape). */
function checkTensor(op: string, what: string, x: unknown): FlaTensor {
  if (!isTensorLike(x)) {
    throw new InputError(`${op}: ${what} must be a tensor { data: Float32Array | Float64Array, shape: number[] }, got ${describeValue(x)}`);
  }
  const t = x as FlaTensor;
  if (!(t.data instanceof Float32Array) && !(t.data instanceof Float64Array)) {
    throw new InputError(`${op}: ${what}'s data must be a Float32Array or Float64Array, got ${describeValue(t.data)}`);
  }
  if (!Array.isArray(t.shape) || t.shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw new InputError(`${op}: ${what}'s shape must be an array of non-negative integers, got ${describeValue(t.shape)}`);
  }
  const n = t.shape.reduce((p, d) => p * d, 1);
  if (n !== t.data.length) throw new InputError(`${op}: ${what} has ${t.data.length} elements, but its shape ${fmt(t.shape)} holds ${n}`);
  return t;
}

function offsetsOf(op: string, name: string, x: unknown): Int32Array {
  const raw = isTensorLike(x) ? (x as { data: unknown }).data : x;
  if (!Array.isArray(raw) && !(raw instanceof Int32Array) && !(raw instanceof Uint32Array) && !(raw instanceof BigInt64Array)) {
    throw new InputError(`${op}: option ${name} must be the N+1 offsets (an array, Int32Array or BigInt64Array), got ${describeValue(x)}`);
  }
  const out = new Int32Array(raw.length);
  Array.from(raw as ArrayLike<number | bigint>).forEach((v, i) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new InputError(`${op}: ${name}[${i}] = ${String(v)} is not a non-negative integer offset`);
    out[i] = n;
  });
  return out;
}

async function run(engine: Engine, ops: Map<string, VariantOp>, spec: OpSpec, args: unknown[]): Promise<FlaResult> {
  const n = spec.tensors.length;
  if (args.length > n + 1) {
    throw new InputError(`${spec.name} takes ${n} tensors (${spec.tensors.map((t) => t.fla).join(', ')}) and an options object, got ${args.length} arguments`);
  }
  const o = checkOptions(spec, args[n]);
  const op = spec.name;

  // The tensors, and the sizes they carry: each dim is set by the first tensor that has it.
  const size: Partial<Record<Dim, number>> = {};
  const from: Partial<Record<Dim, string>> = {};
  const given: (FlaTensor | undefined)[] = spec.tensors.map((t, i) => {
    const x = args[i];
    if ((x === undefined || x === null) && t.absent) return undefined;
    if (x === undefined || x === null) {
      throw new InputError(`${op}: tensor '${t.fla}' (argument ${i + 1} of ${spec.tensors.map((s) => s.fla).join(', ')}) is missing`);
    }
    const tensor = checkTensor(op, `tensor '${t.fla}'`, x);
    if (tensor.shape.length !== t.dims.length) {
      throw new InputError(`${op}: tensor '${t.fla}' has shape ${fmt(tensor.shape)}; expected ${t.dims.length} dims [${t.dims.join(',')}] (FLA's layout)`);
    }
    t.dims.forEach((d, j) => {
      if (size[d] === undefined) { size[d] = tensor.shape[j]!; from[d] = t.fla; }
    });
    return tensor;
  });
  const B = size.B!, T = size.T!, H = size.H!, K = size.K!, V = size.V!;
  const HV = size.HV ?? H;
  if (size.HV !== undefined && (HV < H || HV % H !== 0)) {
    throw new InputError(`${op}: tensor '${from.HV}' has ${HV} heads, tensor '${from.H}' ${H}: grouped value heads need HV a multiple of H`);
  }
  for (const d of ['B', 'T', 'H', 'K', 'V'] as const) {
    if (size[d]! < 1) throw new InputError(`${op}: tensor '${from[d]}' has ${d} = ${size[d]}; lae needs every size >= 1`);
  }
  const all: Record<Dim, number> = { B, T, H, HV, K, V };
  spec.tensors.forEach((t, i) => {
    const x = given[i];
    if (!x) return;
    const want = t.dims.map((d) => all[d]);
    if (want.some((w, j) => w !== x.shape[j])) {
      throw new InputError(`${op}: tensor '${t.fla}' has shape ${fmt(x.shape)}; expected [${t.dims.join(',')}] = ${fmt(want)}`);
    }
  });

  // Packed sequences, as FLA checks them.
  let cu: Int32Array | undefined;
  if (o.cuSeqlens !== undefined && o.cuSeqlens !== null) {
    cu = offsetsOf(op, 'cuSeqlens', o.cuSeqlens);
    if (B !== 1) {
      throw new InputError(`${op}: with cuSeqlens the batch size must be 1 (FLA requires it too), but tensor '${spec.tensors[0]!.fla}' has B = ${B}: flatten the sequences into [1, total, ...]`);
    }
    if (isSet(o.cuSeqlensCpu)) {
      const cpu = offsetsOf(op, 'cuSeqlensCpu', o.cuSeqlensCpu);
      if (cpu.length !== cu.length || cpu.some((v, i) => v !== cu![i])) throw new InputError(`${op}: option cuSeqlensCpu [${cpu.join(',')}] differs from cuSeqlens [${cu.join(',')}]`);
    }
  } else if (isSet(o.cuSeqlensCpu)) {
    throw new InputError(`${op}: option cuSeqlensCpu is given without cuSeqlens; pass the offsets as cuSeqlens`);
  }
  const N = cu ? cu.length - 1 : B;
  const stateShape = [N, HV, K, V];

  let h0: Float32Array | Float64Array | undefined;
  if (o.initialState !== undefined && o.initialState !== null) {
    const s = checkTensor(op, 'initialState', o.initialState);
    if (s.shape.length !== 4 || s.shape.some((d, j) => d !== stateShape[j])) {
      throw new InputError(`${op}: initialState has shape ${fmt(s.shape)}; expected [N,${size.HV !== undefined ? 'HV' : 'H'},K,V] = ${fmt(stateShape)}` +
        (cu ? ` (N = ${N}, the number of sequences of cuSeqlens)` : ' (N = B)'));
    }
    h0 = s.data;
  }

  if (o.outputFinalState !== undefined && typeof o.outputFinalState !== 'boolean') {
    throw new InputError(`${op}: option outputFinalState must be true or false, got ${describeValue(o.outputFinalState)}`);
  }
  const outputFinalState = (o.outputFinalState as boolean | undefined) ?? spec.defaultOutputFinalState ?? false;
  const scale = o.scale === undefined || o.scale === null ? spec.defaultScale : o.scale as number;
  if (scale !== undefined && (typeof scale !== 'number' || !Number.isFinite(scale))) {
    throw new InputError(`${op}: option scale must be a finite number, got ${describeValue(scale)}`);
  }
  if (spec.options.includes('normalize')) {
    if (spec.recurrent ? o.normalize === true : o.normalize !== false) {
      throw new InputError(`${op}: ${FLA_REFUSALS.normalize}. ${spec.recurrent ? 'Leave normalize out or pass false (the default of FLA\'s fused_recurrent_linear_attn)'
        : "FLA's chunk_linear_attn defaults to normalize=True, so pass normalize: false explicitly to get the unnormalized form"}${o.normalize === undefined ? '' : ` (got ${describeValue(o.normalize)})`}`);
    }
  }
  if (o.useQkL2normInKernel !== undefined && typeof o.useQkL2normInKernel !== 'boolean') {
    throw new InputError(`${op}: option useQkL2normInKernel must be true or false, got ${describeValue(o.useQkL2normInKernel)}`);
  }
  let chunkSize: number | undefined;
  if (o.chunkSize !== undefined && o.chunkSize !== null) {
    chunkSize = o.chunkSize as number;
    if (!spec.chunkSizes!.includes(chunkSize)) {
      throw new InputError(`${op}: option chunkSize must be one of ${spec.chunkSizes!.join(', ')}, got ${describeValue(o.chunkSize)}` +
        (spec.chunkSizes!.length < LAE_CHUNKS.length ? ` (FLA's ${spec.fla} allows ${spec.chunkSizes!.join(' and ')})` : ' (lae\'s chunked kernels; o does not depend on it)'));
    }
  }

  // The variant's inputs, FLA's absent tensors filled with FLA's defaults.
  const inputs: Record<string, Float32Array | Float64Array> = {};
  spec.tensors.forEach((t, i) => {
    const len = t.dims.reduce((p, d) => p * all[d], 1);
    inputs[t.input] = given[i]?.data ?? new Float32Array(len).fill(t.absent === 'ones' ? 1 : 0);
  });

  const l2 = o.useQkL2normInKernel === true;
  const key = `${spec.variant}${l2 ? '+l2norm' : ''}`;
  let vop = ops.get(key);
  if (!vop) {
    const def = builtin(spec.variant);
    vop = engine.variant(l2 ? withQkL2norm(def) : def);
    ops.set(key, vop);
  }
  const heads = HV !== H ? { HV } : {};
  // The engine's errors name its inputs: say which FLA argument each renamed one is.
  const renamed = spec.tensors.filter((t) => t.input !== t.fla).map((t) => `'${t.input}' is ${spec.fla}'s '${t.fla}'`);
  const named = (e: unknown): never => {
    if (e instanceof Error && !e.message.startsWith(`${op}:`)) e.message = `${op}: ${e.message}${renamed.length ? ` (lae's input ${renamed.join(', ')})` : ''}`;
    throw e;
  };
  const state = (data: Float32Array): FlaOutput => ({ data, shape: stateShape });
  if (!spec.recurrent) {
    const fo: ForwardOptions = {
      B, T, H, K, V, ...heads, outputFinalState, ...(o.allowPositiveLogDecay === true ? { allowPositiveLogDecay: true } : {}),
      ...(scale !== undefined ? { scale } : {}), ...(cu ? { cuSeqlens: cu } : {}), ...(chunkSize !== undefined ? { chunkSize: chunkSize as 16 | 32 | 64 } : {}),
    };
    const r = await vop.forward(h0 ? { ...inputs, h0 } : inputs, fo).catch(named);
    return [{ data: r.o, shape: [B, T, HV, V] }, outputFinalState ? state(r.ht!) : null];
  }
  // Token by token: the decode step over all T tokens of each sequence, from a copy of h0.
  const st = h0 ? Float32Array.from(h0) : new Float32Array(stateShape.reduce((p, d) => p * d, 1));
  const so: StepOptions = { B, H, K, V, ...heads, ...(scale !== undefined ? { scale } : {}), ...(cu ? { cuSeqlens: cu } : { N: T }) };
  const r = await vop.step(inputs, st, so).catch(named);
  return [{ data: r.o, shape: [B, T, HV, V] }, outputFinalState ? state(st) : null];
}

/** FLA's ops by their camelCase names, running on `engine` (see FlaOps and README, "Porting
 * from FLA"). */
export function flaOps(engine: Engine): FlaOps {
  const ops = new Map<string, VariantOp>();
  const out: Record<string, (...args: unknown[]) => Promise<FlaResult>> = {};
  for (const spec of SPECS) out[spec.name] = (...args: unknown[]) => run(engine, ops, spec, args);
  return out as unknown as FlaOps;
}
