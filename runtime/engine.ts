// The public runtime: an engine owns a device and a pipeline cache; `engine.variant(x)` gives an
// op whose forward validates its inputs, uploads them, runs the plan's kernels, and reads back.
import { inputShape, qkHeaded, stableStringify, stateColumns, stateRows, stateShape, withStateLayout, checkVariantDef, type ProblemSize, type StateLayout, type VariantDef } from '../dsl/index.js';
import { VARIANTS, VARIANT_NAMES, TOKEN_SEQUENTIAL_VARIANTS, TOKEN_SEQUENTIAL_NAMES } from '../variants/index.js';
import {
  checkLimits, DEFAULT_DQK_FORM, anchoredOutputScores, planForward, planStep, planBackward, packParams, hasChunkedForm, hasChunkedForward, dplrChunkable, hasBackward, type FragmentLowering, type CodegenConfig, type HalfDtype, CHUNK_SIZES, maxChunkFor, memoryTierFor, WG_MEMORY_TIERS, type ChunkSize, type ForwardMode, type KernelPlan, type WorkgroupMemoryTier,
} from '../codegen/index.js';
import { acquireDevice, type DeviceOptions } from './device.js';
import { TENSOR_CORE_OPTIONS, type Tier } from './tier.js';
import { GpuTensor } from './tensor.js';
import { PipelineCache } from './pipelines.js';
import { PlanRunner, checkBinding, encodePass, resolveSize, submit, type BufferSource, type SizeEnv } from './plan-run.js';
import { bindTensors, inputEntries, stateBytes, type CheckedTensors, type ForwardOutputs, type GpuBinding, type GpuGradients, type GpuInputs, type GpuSeeds, type StepOutputs } from './interop.js';
import type { PreparedForward, PreparedStep, RunContext } from './prepared.js';
import { defaultScale } from './reference.js';
import { InputError, validateDtypes, validateForwardArgs, validateSize, type HostArray, type HostInputs } from './validate.js';
import { fromBits, hostValues, storageBytes, unpackRows, type StorageDtype } from './dtypes.js';
import { checkSeeds, prepareBackward, type BackwardSeeds } from './backward.js';
import { EngineError } from './errors.js';
import { checkFinite, checkLogDecay } from './limits.js';
import { timeEncoded } from './timing.js';
import { checkCuSeqlens, packedLength, sequenceTables, type CuSeqlens, type SequenceTables } from './varlen.js';
import { checkOptionNames, describeValue, snapshotOptions } from './options.js';
import { fingerprint } from './fingerprint.js';
import { cachedTuning, setsKnobs, tuningProblem, type AdapterIdentity, type Tuning, type TuningCacheOption } from './tuning-cache.js';

export interface ForwardOptions extends ProblemSize {
  /** Output scale; defaults to the variant's (FLA: K^-0.5; mamba2: 1). */
  scale?: number;
  /** Return the final state ht (default true). */
  outputFinalState?: boolean;
  /** Chunk size of the chunked algorithm: 16, 32 or 64 (default 64; 32 on a device that grants
   * only WebGPU's default 16 KiB of workgroup memory, where chunks of 64 do not fit). */
  chunkSize?: ChunkSize;
  /** 'chunked' (default) or 'recurrent': the token-sequential kernel, the baseline. */
  mode?: ForwardMode;
  /** Debugging aid: fill outputs with NaN before the run so any element left unwritten shows. */
  poisonOutputs?: boolean;
  /** Keep the forward's GPU buffers for `backward` (chunked mode only). They hold the inputs,
   * o, ht, the per-chunk states (B*H*ceil(T/chunk)*K*V floats), the gate cumsums (B*H*T, times K
   * for per-key gates) and, for the delta rule, W, U, V_new (B*H*T*(K+2V)) and the chunks'
   * T matrices (B*H*T*chunk). Pass the returned `saved` to backward, which frees it. */
  saveForBackward?: boolean;
  /** The chunked kernels need log-decays <= 0 (a positive one overflows them, FLA issue #215),
   * so a positive one is refused, naming the tensor and index. `true` skips that check. */
  allowPositiveLogDecay?: boolean;
  /** Scan every input (and seed) before the run and every output (and gradient) after it; the
   * first NaN or infinity throws a NonFiniteError naming the tensor and index. Costs a host
   * pass over each tensor. */
  checkFinite?: boolean;
  /** Storage dtype per tensor: input names and 'o'; 'f32' (default), 'bf16' or 'f16'. A 16-bit
   * input may be given as a Uint16Array of raw bits or as floats (rounded to nearest even on
   * upload); 16-bit tensors travel packed two per u32 word, and compute and states stay f32.
   * With dtypes.o 16-bit, `o` comes back rounded to it (and its raw bits as `oBits`). */
  dtypes?: Readonly<Partial<Record<string, StorageDtype>>>;
  /** Grouped value heads (FLA's GVA): HV value/state heads, a multiple of H; then v, gates,
   * beta, o and the states have HV heads and q, k (inputs read only by the q and k roles) H,
   * value head h using query/key head h / (HV / H). Their gradients sum over each group. */
  HV?: number;
  /** Packed variable-length sequences (FlashAttention's cu_seqlens, FLA's cu_seqlens): N+1
   * token offsets [0, ..., T] with B = 1; sequence s is tokens [cu[s], cu[s+1]). No chunk
   * crosses a boundary, and each sequence has its own state: h0, ht (and dh0, dht) are
   * [N,H,K,V]. Offsets must not decrease (an empty sequence passes its h0 through) and must end
   * at T. */
  cuSeqlens?: CuSeqlens;
}

export interface ForwardResult { o: Float32Array; ht?: Float32Array; saved?: PreparedForward; /** Raw 16-bit o, when dtypes.o is bf16/f16. */ oBits?: Uint16Array }

export interface BackwardOptions extends ForwardOptions {
  /** The `saved` of a forward run with saveForBackward; without it the forward is recomputed. */
  saved?: PreparedForward;
}

export interface StepOptions {
  B: number; H: number; K: number; V: number;
  /** Tokens per sequence in this call (speculative or chunked decode); inputs are [B,N,H,...]. Default 1. */
  N?: number;
  scale?: number;
  /** Continuous batching: sequence b's state is slot stateIndices[b] of the state pool, whose
   * length is then any multiple of H*K*V. Slots must be distinct; other slots are untouched. */
  stateIndices?: Int32Array | Uint32Array | readonly number[];
  /** As forward's: grouped value heads (the state and v have HV heads, q and k H). */
  HV?: number;
  /** As forward's: storage dtypes of the inputs and o. */
  dtypes?: ForwardOptions['dtypes'];
  /** As forward's: NaN/Inf in the inputs or o throws, naming the tensor and index. */
  checkFinite?: boolean;
  /** Packed sequences, as forward's: B = 1, inputs [1, cu[N], H, ...], sequence s steps tokens
   * [cu[s], cu[s+1]) from its own state (row s, or slot stateIndices[s] of a pool). N (tokens)
   * defaults to cu[N]. */
  cuSeqlens?: CuSeqlens;
  /** Storage of the state on the device: 'f32' (default) or 'bf16' (halves the step's memory
   * traffic, which bounds it at large batch; compute stays f32, the state is rounded to
   * nearest even when the step writes it). A host array state stays f32 values on the host,
   * rounded to bf16 on upload and widened on the way back; a GpuTensor state (or encodeStep's
   * binding) holds the bf16 bits, two per u32 word, element 2i in the low half, and counts
   * elements (GpuTensor.uploadBytes). Needs the state's contiguous axis (V of [B,H,K,V], K of
   * [B,H,V,K]) to be a multiple of 4. */
  stateDtype?: 'f32' | 'bf16';
}

/** Options of encodeForward: the problem size and what shapes the kernels; the checks that
 * need host copies (checkFinite, the log-decay sign) and the debugging fills are host-API only. */
export interface EncodeForwardOptions extends Pick<ForwardOptions, 'B' | 'T' | 'H' | 'K' | 'V' | 'HV' | 'scale' | 'chunkSize' | 'mode' | 'dtypes' | 'cuSeqlens'> {}
/** Options of encodeBackward: as encodeForward's (the forward it recomputes is chunked). */
export interface EncodeBackwardOptions extends Omit<EncodeForwardOptions, 'mode'> {}
/** Options of encodeStep: as step's, without checkFinite. */
export interface EncodeStepOptions extends Omit<StepOptions, 'checkFinite'> {}
export type { GpuBinding, GpuInputs, ForwardOutputs, StepOutputs, GpuSeeds, GpuGradients };

/** Refuses anything but a command encoder, naming the call. */
function checkEncoder(encoder: unknown, call: string): void {
  const e = encoder as GPUCommandEncoder | null;
  if (!e || typeof e !== 'object' || typeof e.beginComputePass !== 'function' || typeof e.finish !== 'function') {
    throw new InputError(`${call} records into a GPUCommandEncoder (device.createCommandEncoder()), got ${describeValue(encoder)}`);
  }
}

export { EngineError };
export type { PreparedForward, PreparedStep };

export interface EngineOptions extends DeviceOptions {
  /** Keep the kernels' loops rolled (CodegenConfig.compactLoops): default true on software
   * adapters (lavapipe, SwiftShader), whose JIT takes 10-40 s per kernel on unrolled loops. */
  compactLoops?: boolean;
  /** Tuning knobs of the tensor-core tier, for measuring them (benchmarks): scalarLoads stages
   * operands one element per load instead of vec4 words; fragmentMemory caps the workgroup
   * memory (bytes) of its kernels' layouts (CodegenConfig.fragmentMemory); unverifiedFragments
   * also runs the stages whose subgroup-matrix lowering awaits a check on a GPU
   * (CodegenConfig.unverifiedFragments; for that check, not for use). stepColumns (any tier):
   * state columns per workgroup of the decode step, 8, 16, 32 (default) or 64
   * (CodegenConfig.stepColumns). unrollStaging writes the tier's staging slots out one by one
   * (CodegenConfig.unrollStaging): by default on the subgroup-matrix lowering (1-5% faster on the
   * H200, checked right there for all nine variants, 2026-12-02), not on the portable one
   * (software JITs take long over unrolled code); true or false sets it either way.
   * outputTile: columns of O per workgroup of the tier's output stage, 32, 64 or 128 (default).
   * outputScores: where the chunked forward of gla, kda, rwkv6 and the generalized delta rule
   * computes its output's scores (A_qk; A_qb and A_qk), 'prep' (default) or 'output'
   * (CodegenConfig.outputScores).
   * dqkForm: the form of bwdDq and bwdDk of a per-key decay (gla, kda, rwkv6), one of DQK_FORMS
   * (CodegenConfig.dqkForm; default DEFAULT_DQK_FORM, 'pipelined').
   */
  tuning?: Tuning;
  /** Where an engine given no tuning (no knob set) gets one: 'auto' (default) reads the tuning
   * cache that `lae tune` writes ($LAE_TUNING_CACHE, else $XDG_CACHE_HOME/lae/tuning.json, else
   * ~/.cache/lae/tuning.json) and applies the entry of this adapter and tier, if any; a path reads
   * that file instead; 'off' reads none. In a browser no file is read. An entry with unknown knobs
   * or invalid values is ignored with a one-line warning. `engine.tuningSource` says which applied. */
  tuningCache?: TuningCacheOption;
}

export interface VariantOptions {
  /** Layout of h0, ht, dh0, dht and the step state: 'kv' = [B,H,K,V] (FLA's default), 'vk' =
   * [B,H,V,K] (FLA's state_v_first, mamba's layout). Default: the spec's. */
  stateLayout?: StateLayout;
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  checkOptionNames('createEngine', options);
  checkOptionNames('createEngine tuning', options.tuning);
  const problem = options.tuning ? tuningProblem(options.tuning) : undefined;
  if (problem) throw new EngineError(problem);
  const cache = options.tuningCache;
  if (cache !== undefined && (typeof cache !== 'string' || cache === '')) {
    throw new EngineError(`tuningCache must be 'auto', 'off' or a file's path; got ${describeValue(cache)}`);
  }
  if (options.tensorCores !== undefined && !(TENSOR_CORE_OPTIONS as readonly unknown[]).includes(options.tensorCores)) {
    throw new EngineError(`tensorCores must be one of ${TENSOR_CORE_OPTIONS.join(', ')}, got ${describeValue(options.tensorCores)}`);
  }
  const acquired = await acquireDevice(snapshotOptions(options));
  const engine = new Engine(acquired.device, acquired.adapterName, acquired.owned, acquired.tier, acquired.tierNote);
  engine.keepAlive = acquired.gpu;
  engine.adapterInfo = acquired.adapterInfo;
  // Knobs given win; with none, the tuning cache's entry for this adapter and tier, if any.
  const cached = setsKnobs(options.tuning) ? undefined : cachedTuning(cache ?? 'auto', acquired.adapterInfo, acquired.tier);
  engine.tuning = cached ? cached.tuning : Object.fromEntries(Object.entries(options.tuning ?? {}).filter(([, v]) => v !== undefined)) as Tuning;
  engine.tuningSource = cached ? `cache ${cached.path}` : setsKnobs(options.tuning) ? 'options' : 'default';
  engine.compactLoops = options.compactLoops ?? acquired.software;
  return engine;
}

export class Engine implements RunContext {
  readonly pipelines: PipelineCache;
  /** Allocates, binds and dispatches every run's plan; keeps released buffers for later runs. */
  readonly runner: PlanRunner;
  private lost: string | null = null;
  /** Holds Dawn's GPU instance for as long as the engine lives (see AcquiredDevice.gpu). */
  keepAlive: unknown;
  /** See EngineOptions.tuning and EngineOptions.compactLoops. */
  tuning: Tuning = {};
  /** Where `tuning` came from: 'options' (createEngine's tuning), 'cache <file>' (the tuning
   * cache's entry for this adapter and tier: EngineOptions.tuningCache), or 'default'. */
  tuningSource = 'default';
  /** The adapter's identity (vendor, architecture, device, description), where it is known: the
   * key of its tuning-cache entries. */
  adapterInfo: AdapterIdentity | undefined;
  compactLoops = false;

  /** tier: 'f32', or the tensor-core tier's lowering ('subgroup-matrix' on tensor cores,
   * 'portable' in plain WGSL); tierNote says why. */
  constructor(readonly device: GPUDevice, readonly adapterName: string, private readonly owned: boolean,
    readonly tier: Tier = 'f32', readonly tierNote = 'f32 kernels') {
    this.pipelines = new PipelineCache(device);
    this.runner = new PlanRunner(device);
    void device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
  }

  /** One of the nine built-in variants by name, or any spec made with defineVariant(). */
  variant(v: string | VariantDef, opts: VariantOptions = {}): VariantOp {
    checkOptionNames('engine.variant', opts);
    let def: VariantDef;
    if (typeof v === 'string') {
      const found = Object.prototype.hasOwnProperty.call(VARIANTS, v) ? (VARIANTS as Record<string, VariantDef>)[v]
        : Object.prototype.hasOwnProperty.call(TOKEN_SEQUENTIAL_VARIANTS, v) ? (TOKEN_SEQUENTIAL_VARIANTS as Record<string, VariantDef>)[v] : undefined;
      if (!found) throw new EngineError(`unknown variant '${v}'; known variants: ${[...VARIANT_NAMES, ...TOKEN_SEQUENTIAL_NAMES].join(', ')} (or pass a spec from defineVariant)`);
      def = found;
    } else if (!v || typeof v !== 'object') {
      throw new EngineError(`engine.variant() takes a variant name or the result of defineVariant(spec), got ${describeValue(v)}`);
    } else {
      // Validated like defineVariant validates a spec, and hashed from that content: the
      // object's own name and hash never key the pipeline cache (a hand-edited copy of a
      // built-in keeps both, and would share, and poison, the built-in's pipelines).
      def = checkVariantDef(v);
    }
    return new VariantOp(this, opts.stateLayout === undefined ? def : withStateLayout(def, opts.stateLayout));
  }

  get limits(): GPUSupportedLimits { return this.device.limits; }

  assertAlive(): void {
    if (this.lost !== null) {
      throw new EngineError(`the WebGPU device was lost (${this.lost}); create a new engine with createEngine()`);
    }
  }

  /** Gives the scratch that encode calls keep (one set per plan and size) back to the engine's
   * pool, where later calls may reuse or destroy it. Call it only once every command encoder
   * that lae recorded into has been submitted. */
  releaseScratch(): void {
    this.runner.releaseWorkspaces();
  }

  destroy(): void {
    this.runner.destroy();
    if (this.owned) this.device.destroy();
  }
}


export class VariantOp {
  constructor(readonly engine: Engine, readonly def: VariantDef) {}

  get name(): string { return this.def.name; }

  /** The forward a call runs when it names no mode, which the backward follows: the chunked
   * one, or the token-sequential one for a spec without a chunked form (the generalized delta rule). */
  get defaultMode(): ForwardMode { return hasChunkedForm(this.def) ? 'chunked' : 'recurrent'; }

  /** The forward a call runs when it names no mode and saves nothing for a backward: the chunked
   * one where this engine's tier has it (the generalized delta rule's on the tensor-core tier),
   * else defaultMode. */
  get inferenceMode(): ForwardMode {
    if (hasChunkedForm(this.def)) return 'chunked';
    if (!hasChunkedForward(this.def, this.tierConfig())) return this.defaultMode;
    // The generalized delta rule's chunked kernels bind more storage buffers than the tier's
    // device check (tier.ts, over the nine) asks of the device: where the device grants fewer,
    // its default stays token by token. Binding counts do not depend on the head dims.
    this.chunkedFits ??= checkLimits(planForward(this.def, this.config(16, 16, this.defaultChunk()), 'chunked'), this.engine.device.limits).length === 0;
    return this.chunkedFits ? 'chunked' : this.defaultMode;
  }
  private chunkedFits?: boolean;

  private tierConfig(): { fragments?: FragmentLowering } { return this.engine.tier !== 'f32' ? { fragments: this.engine.tier } : {}; }

  /** The kernel plan this op would run for a config (what `lae gen` writes out). */
  plan(opts: { K: number; V: number; chunkSize?: ChunkSize; mode?: ForwardMode; dtypes?: ForwardOptions['dtypes']; G?: number; varlen?: boolean }): KernelPlan {
    return planForward(this.def, this.config(opts.K, opts.V, opts.chunkSize ?? this.defaultChunk(), opts.dtypes, opts.G, opts.varlen), opts.mode ?? this.inferenceMode);
  }

  /** The codegen config: head dims, chunk, the device's memory tier, 16-bit storage choices. */
  private config(K: number, V: number, chunk: ChunkSize, dtypes: ForwardOptions['dtypes'] = {}, G = 1, varlen = false): CodegenConfig {
    const qkInputs = G > 1 ? this.def.inputs.filter((d) => qkHeaded(this.def, d.name)).map((d) => d.name) : [];
    const inputDtypes: Record<string, HalfDtype> = {};
    for (const d of this.def.inputs) {
      const t = dtypes[d.name];
      if (t === 'bf16' || t === 'f16') inputDtypes[d.name] = t;
    }
    const o = dtypes.o;
    return {
      K, V, chunk, wgMemory: this.memoryTier(),
      ...(Object.keys(inputDtypes).length ? { inputDtypes } : {}),
      ...(o === 'bf16' || o === 'f16' ? { outputDtype: o } : {}),
      ...(qkInputs.length ? { qkInputs } : {}),
      ...(varlen ? { varlen: true as const } : {}),
      ...this.tierConfig(),
      ...(this.engine.tier !== 'f32' && this.engine.tuning.scalarLoads ? { scalarLoads: true as const } : {}),
      ...(this.engine.tier !== 'f32' && this.engine.tuning.fragmentMemory !== undefined ? { fragmentMemory: this.engine.tuning.fragmentMemory } : {}),
      ...(this.engine.tier !== 'f32' && this.engine.tuning.outputTile !== undefined ? { outputTile: this.engine.tuning.outputTile } : {}),
      // Only the kernels of the variants with anchored output scores (gla, kda, rwkv6, the
      // generalized delta rule) read it; the others' keys (and text) stay as they are.
      ...(this.engine.tier !== 'f32' && anchoredOutputScores(this.def) && this.engine.tuning.outputScores !== undefined ? { outputScores: this.engine.tuning.outputScores } : {}),
      // The default form is left out, so its kernels and plan keys are the default's.
      ...(this.engine.tier !== 'f32' && this.engine.tuning.dqkForm !== undefined && this.engine.tuning.dqkForm !== DEFAULT_DQK_FORM ? { dqkForm: this.engine.tuning.dqkForm } : {}),
      ...(this.engine.tier !== 'f32' && this.engine.tuning.unverifiedFragments ? { unverifiedFragments: true as const } : {}),
      ...(this.engine.tier !== 'f32' && (this.engine.tuning.unrollStaging ?? this.engine.tier === 'subgroup-matrix') ? { unrollStaging: true as const } : {}),
      ...(this.engine.compactLoops ? { compactLoops: true as const } : {}),
    };
  }

  /** The decode step's config: config()'s, with the step's tuning knob. */
  private stepConfig(K: number, V: number, dtypes: ForwardOptions['dtypes'], G: number | undefined, varlen: boolean, stateDtype: StepOptions['stateDtype']): CodegenConfig {
    const columns = this.engine.tuning.stepColumns;
    return {
      ...this.config(K, V, 64, dtypes, G, varlen),
      ...(columns !== undefined ? { stepColumns: columns } : {}),
      ...(stateDtype === 'bf16' ? { stateDtype: 'bf16' as const } : {}),
    };
  }

  /** Host values of the inputs (16-bit bits decoded), for the checks. */
  private values(inputs: HostInputs, dtypes: ForwardOptions['dtypes'] = {}): Readonly<Record<string, Float32Array | Float64Array | undefined>> {
    const out: Record<string, Float32Array | Float64Array | undefined> = {};
    for (const [name, a] of Object.entries(inputs)) out[name] = a === undefined ? undefined : hostValues(a, dtypes[name] ?? 'f32');
    return out;
  }

  /** Every input as an upload of its stored bytes (16-bit dtypes packed), by buffer name. */
  private inputSources(inputs: HostInputs, dtypes: ForwardOptions['dtypes'] = {}): Record<string, BufferSource> {
    return Object.fromEntries(this.def.inputs.map((d) => [`in_${d.name}`, { data: storageBytes(inputs[d.name]!, dtypes[d.name] ?? 'f32') }]));
  }

  /** The run's buffers as tensors, by plan name: inputs count their elements, the rest f32 words. */
  private tensorsOf(plan: KernelPlan, buffers: { buffers: ReadonlyMap<string, GPUBuffer>; bytes: ReadonlyMap<string, number> }, inputs: HostInputs): Map<string, GpuTensor> {
    return new Map(plan.buffers.map((b) => [b.name, new GpuTensor(this.engine.device, buffers.buffers.get(b.name)!,
      [b.kind === 'input' ? inputs[b.name.slice(3)]!.length : buffers.bytes.get(b.name)! / 4], b.name)]));
  }

  /** o as the caller asked for it: f32, or read packed and decoded (with the raw bits). */
  private async readO(o: GpuTensor, packed: GpuTensor | undefined, size: ProblemSize, dtypes: ForwardOptions['dtypes'] = {}) {
    const d = dtypes.o;
    if (!packed || (d !== 'bf16' && d !== 'f16')) return { o: await o.read() };
    const rows = size.B * size.T * size.H;
    const { bits, values } = unpackRows(await packed.readBytes(rows * Math.ceil(size.V / 2) * 4), rows, size.V, d);
    return { o: values, oBits: bits };
  }

  async forward(inputs: HostInputs, opts: ForwardOptions): Promise<ForwardResult> {
    checkOptionNames('forward', opts);
    opts = snapshotOptions(opts);
    if (opts?.saveForBackward && (opts.mode ?? this.defaultMode) !== this.defaultMode) {
      throw new EngineError(this.defaultMode === 'chunked'
        ? "saveForBackward needs mode 'chunked': the backward reads the chunked forward's per-chunk states"
        : `saveForBackward needs mode 'recurrent' for '${this.def.name}': its backward follows the token-sequential forward`);
    }
    // prepare() checks and uploads every input before its first await: editing the arrays
    // after this call returns its promise changes nothing in this run.
    const run = await this.prepare(inputs, opts);
    let keep = false;
    try {
      await run.execute();
      const { o, oBits } = await this.readO(run.tensors.get('o')!, run.tensors.get('o_packed'), run.size, opts.dtypes);
      const ht = opts.outputFinalState === false ? undefined : await run.tensors.get('ht')!.read();
      this.engine.assertAlive();
      if (opts.checkFinite) {
        const { B, T, H, V } = run.size;
        checkFinite('output', { o: { data: o, shape: [B, T, H, V] }, ht: ht && { data: ht, shape: stateShape(this.def, run.size) } });
      }
      const out: ForwardResult = ht ? { o, ht } : { o };
      if (oBits) out.oBits = oBits;
      if (opts.saveForBackward) { out.saved = run; keep = true; }
      return out;
    } finally {
      if (!keep) run.destroy();
    }
  }

  /** Gradients of L = sum(o * do) + sum(ht * dht) w.r.t. every input ('d' + name) and, when the
   * forward had h0, dh0. Recomputes the chunked forward unless `opts.saved` carries one; a saved
   * forward must have run on these very inputs (their content is checked) and serves one
   * backward. */
  async backward(inputs: HostInputs, seeds: BackwardSeeds, opts: BackwardOptions): Promise<Record<string, Float32Array>> {
    checkOptionNames('backward', opts);
    opts = snapshotOptions(opts);
    const saved = opts?.saved;
    const info = saved === undefined ? undefined : this.savedInfo(saved);
    // Everything about the caller's arguments is checked before any work, so a bad call leaves
    // `saved` usable for a corrected one.
    const size = validateForwardArgs(this.def, inputs, opts);
    if (!hasBackward(this.def, size)) {
      throw new EngineError(`variant '${this.def.name}': the normalized form's backward (normalize 'exp') takes K = V = 1 for now (RWKV-4: channels as heads), got K = ${size.K}, V = ${size.V}; forward and step run at any size`);
    }
    if (saved && info) {
      for (const d of ['B', 'T', 'H', 'K', 'V', 'G'] as const) {
        if ((size[d] ?? 1) !== (saved.size[d] ?? 1)) throw new InputError(`option ${d} = ${size[d]} differs from the saved forward's ${d} = ${saved.size[d]}`);
      }
      const offsets = opts.cuSeqlens === undefined ? undefined : Array.from(opts.cuSeqlens);
      if (JSON.stringify(offsets) !== JSON.stringify(saved.cuSeqlens)) {
        throw new InputError(`option cuSeqlens ${offsets ? `[${offsets.join(',')}]` : '(none)'} differs from the saved forward's ${saved.cuSeqlens ? `[${saved.cuSeqlens.join(',')}]` : '(none)'}`);
      }
      const scale = opts.scale ?? defaultScale(this.def, size.K);
      if (scale !== saved.scale) throw new InputError(`option scale = ${scale} differs from the saved forward's scale = ${saved.scale}`);
      this.checkSavedInputs(info, inputs, opts.dtypes);
    }
    checkSeeds(this.def, size, seeds);
    if (opts.checkFinite) {
      checkFinite('seed', {
        do: { data: seeds.do, shape: [size.B, size.T, size.H, size.V] },
        dht: seeds.dht ? { data: seeds.dht, shape: stateShape(this.def, size) } : undefined,
      });
    }
    // The seeds are uploaded after the forward's awaits: copy them now, as the inputs are.
    const seedsNow: BackwardSeeds = { do: Float32Array.from(seeds.do), ...(seeds.dht ? { dht: Float32Array.from(seeds.dht) } : {}) };
    // One saved serves one backward: claimed here, before the first await, so an overlapping
    // second backward with it is refused like a sequential one.
    if (info) info.claimed = true;
    const fwd = saved ?? await this.prepare(inputs, { ...opts, mode: this.defaultMode });
    try {
      if (!saved) await fwd.execute();
      const bwd = await prepareBackward(this.engine, this.def, fwd, seedsNow, opts);
      try {
        await bwd.execute();
        const grads = await bwd.read();
        if (opts.checkFinite) {
          const shapes: Record<string, readonly number[]> = Object.fromEntries(this.def.inputs.map((i) => [`d${i.name}`, inputShape(this.def, i, size)]));
          shapes.dh0 = stateShape(this.def, size);
          checkFinite('gradient', Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, { data: v, shape: shapes[k]! }])));
        }
        return grads;
      } finally {
        bwd.destroy();
      }
    } finally {
      fwd.destroy();
    }
  }

  /** What this engine recorded about a `saved` at its forward; throws if it is not a saved
   * forward of this op on this engine, or is used up. */
  private savedInfo(saved: unknown): SavedInfo {
    const info = typeof saved === 'object' && saved !== null ? SAVED.get(saved as PreparedForward) : undefined;
    if (!info) {
      throw new EngineError(`opts.saved must be the 'saved' that forward(inputs, { ...opts, saveForBackward: true }) returned, got ${describeValue(saved)}`);
    }
    if (info.engine !== this.engine) {
      throw new EngineError('opts.saved comes from a forward on another engine: its buffers live on that engine\'s device. Run the backward on the engine (and op) whose forward saved it');
    }
    const s = saved as PreparedForward;
    if (s.def.hash !== this.def.hash) {
      throw new EngineError(`opts.saved is a forward of variant '${s.def.name}' (spec hash ${s.def.hash}), not of this op's variant '${this.def.name}' (${this.def.hash})`);
    }
    if (s.destroyed) throw new EngineError('opts.saved was already used by a backward (or destroyed); run the forward again');
    if (info.claimed) throw new EngineError('opts.saved is in use by a backward still running; one saved serves one backward, so run the forward again for another');
    return info;
  }

  /** Refuses inputs other than those the saved forward uploaded (by content, as stored). */
  private checkSavedInputs(info: SavedInfo, inputs: HostInputs, dtypes: ForwardOptions['dtypes']): void {
    const now = this.config(1, 1, 64, dtypes);
    const was = JSON.stringify(info.inputDtypes);
    if (JSON.stringify(now.inputDtypes ?? {}) !== was) {
      throw new InputError(`option dtypes gives the inputs ${JSON.stringify(now.inputDtypes ?? {})}; the saved forward stored them as ${was}`);
    }
    const why = 'saved holds the buffers of the forward that made it, so the gradients would be those of its inputs. ' +
      'Pass the inputs that forward ran on (unchanged), or leave out saved to recompute';
    for (const [name, print] of info.fingerprints) {
      const a = inputs[name];
      if (name === 'h0' && a === undefined) throw new InputError(`input 'h0' is missing, but the saved forward ran with an h0: ${why}`);
      if (fingerprint(storageBytes(a!, name === 'h0' ? 'f32' : dtypes?.[name] ?? 'f32')) !== print) {
        throw new InputError(`input '${name}' is not the one the saved forward ran on (its content differs): ${why}`);
      }
    }
    if (inputs.h0 && !info.fingerprints.has('h0')) throw new InputError(`input 'h0' is given, but the saved forward ran without one: ${why}`);
  }

  /** The decode step: N tokens per sequence (default 1) from `state`, which is updated in
   * place (a Float32Array laid out like h0; a Float64Array, which runs in f32 and gets the new
   * state written back into it, widened; or a GpuTensor that stays on the device). The
   * inputs are read when step is called; the state when the step runs: steps on one state
   * (the same array, or views of one buffer, or the same GpuTensor) run one after another in
   * call order, each from the state the previous one left. */
  async step(inputs: HostInputs, state: StepState, opts: StepOptions): Promise<{ o: Float32Array; oBits?: Uint16Array }> {
    checkOptionNames('step', opts);
    opts = snapshotOptions(opts);
    this.stepArgs(inputs, state, opts);
    const tokens: Record<string, HostArray | Uint16Array | undefined> = {};
    for (const [name, a] of Object.entries(inputs)) tokens[name] = a && ArrayBuffer.isView(a) ? a.slice() : a;
    const key: object = state instanceof GpuTensor ? state.buffer : state.buffer;
    const before = STEPS.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => { done = resolve; });
    STEPS.set(key, mine);
    try {
      if (before) await before;
      const run = await this.buildStep(tokens, state, opts);
      try {
        await run.execute();
        const out = await run.readO();
        if (!(state instanceof GpuTensor)) {
          state.set(opts.stateDtype === 'bf16' ? fromBits(new Uint16Array((await run.state.readBytes(state.length * 2)).buffer, 0, state.length), 'bf16') : await run.state.read());
        }
        this.engine.assertAlive();
        if (opts.checkFinite) {
          checkFinite('output', { o: { data: out.o, shape: [run.size.B, run.size.T, run.size.H, run.size.V] } });
        }
        return out;
      } finally {
        run.destroy();
      }
    } finally {
      done();
      if (STEPS.get(key) === mine) STEPS.delete(key);
    }
  }

  /** Validates and uploads a decode step once; `encode` records it (each run advances the
   * state). `state` here is the device copy: the caller's GpuTensor, or an upload of its array
   * made by this call. */
  async prepareStep(inputs: HostInputs, state: StepState, opts: StepOptions): Promise<PreparedStep> {
    checkOptionNames('step', opts);
    return this.buildStep(inputs, state, snapshotOptions(opts));
  }

  /** The step's checks, all on the host: sizes, the state's length and slots, the scale. */
  private stepArgs(inputs: HostInputs, state: StepState, opts: StepOptions) {
    const { engine, def } = this;
    engine.assertAlive();
    if (inputs && 'h0' in inputs) throw new InputError("step takes the state as its second argument, not as input 'h0'");
    const packed = opts?.cuSeqlens;
    if (opts && opts.N !== undefined && (typeof opts.N !== 'number' || !Number.isInteger(opts.N) || opts.N < 1)) {
      throw new InputError(`option N (tokens per sequence) must be a positive integer, got ${describeValue(opts.N)}`);
    }
    const size = validateForwardArgs(def, inputs, { ...opts, T: opts?.N ?? packedLength(packed) ?? 1 });
    const S = stateRows(size);
    const perSeq = size.H * size.K * stateColumns(def, size.V);
    const layout = def.stateLayout === 'kv' ? 'B,H,K,V' : 'B,H,V,K';
    const isTensor = state instanceof GpuTensor;
    if (!isTensor && !(state instanceof Float32Array) && !(state instanceof Float64Array)) {
      throw new InputError(`state must be a Float32Array, a Float64Array or a GpuTensor, got ${describeValue(state)}`);
    }
    if (isTensor && state.device !== engine.device) throw new EngineError('state is a GpuTensor of another engine\'s device; step it on that engine, or upload its values here');
    const stateLen = state.length;
    const idx = opts.stateIndices;
    if (idx === undefined) {
      if (stateLen !== S * perSeq) {
        throw new InputError(`state has ${stateLen} elements; expected shape [${layout}] = [${S},${size.H},` +
          `${def.stateLayout === 'kv' ? `${size.K},${size.V}` : `${size.V},${size.K}`}] = ${S * perSeq}${size.S !== undefined ? ' (one state per sequence of cuSeqlens)' : ''}`);
      }
    } else {
      if (stateLen === 0 || stateLen % perSeq !== 0) {
        throw new InputError(`state pool has ${stateLen} elements; expected a multiple of H*K*V = ${perSeq} (slots of [H,${layout.slice(4)}])`);
      }
      const slots = stateLen / perSeq;
      if (idx.length !== S) throw new InputError(`stateIndices has ${idx.length} entries; expected one per sequence (${size.S !== undefined ? 'N, from cuSeqlens' : 'B'} = ${S})`);
      const seen = new Set<number>();
      for (const [b, i] of Array.from(idx).entries()) {
        if (!Number.isInteger(i) || i < 0 || i >= slots) throw new InputError(`stateIndices[${b}] = ${i} is outside the pool's ${slots} slots`);
        if (seen.has(i)) throw new InputError(`stateIndices[${b}] = ${i} repeats a slot; each sequence needs its own`);
        seen.add(i);
      }
    }
    const scale = opts.scale ?? defaultScale(def, size.K);
    if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new EngineError(`option scale must be a finite number, got ${describeValue(scale)}`);
    checkStateDtype(opts.stateDtype);
    const stateNeeds = stateLen * (opts.stateDtype === 'bf16' ? 2 : 4);
    if (isTensor && state.buffer.size < stateNeeds) {
      throw new InputError(`state GpuTensor's buffer has ${state.buffer.size} bytes; its ${stateLen} ${opts.stateDtype === 'bf16' ? 'bf16' : 'f32'} elements need ${stateNeeds}`);
    }
    return { size, stateLen, idx, scale, packed };
  }

  /** prepareStep's work: every host read (the checks, the inputs' and an array state's
   * uploads) happens before the first await. */
  private async buildStep(inputs: HostInputs, state: StepState, opts: StepOptions): Promise<PreparedStep> {
    const { engine, def } = this;
    const { size, stateLen, idx, scale, packed } = this.stepArgs(inputs, state, opts);
    if (opts.checkFinite) checkFinite('input', this.hostTensors(this.values(inputs, opts.dtypes), size));
    const plan = planStep(def, this.stepConfig(size.K, size.V, opts.dtypes, size.G, size.S !== undefined, opts.stateDtype), idx === undefined ? 'step' : 'stepPool');
    const tables = size.S !== undefined ? sequenceTables(Array.from(packed!), 64) : undefined;
    const device = engine.device;
    const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: 1, S: stateRows(size) };
    const sources: Record<string, BufferSource> = {
      ...this.inputSources(inputs, opts.dtypes),
      state: state instanceof GpuTensor ? { buffer: state.buffer } : { data: opts.stateDtype === 'bf16' ? storageBytes(toF32(state), 'bf16') : toF32(state) },
      ...(idx !== undefined ? { idx: { data: Uint32Array.from(idx) } } : {}),
      ...(tables ? { seq_table: { data: tables.seqs } } : {}),
    };
    const params = packParams({ B: size.B, T: size.T, H: size.H, NT: 1, has_h0: 1, scale, has_dht: 0, G: size.G ?? 1 });
    const buffers = engine.runner.allocate(plan, env, { params, sources });
    try {
      const bound = engine.runner.bind(plan, await engine.pipelines.get(plan), buffers);
      const view = (name: string, n: number) => new GpuTensor(device, buffers.buffers.get(name)!, [n], name);
      const o = view('o', size.B * size.T * size.H * size.V);
      const oPacked = plan.config.outputDtype ? view('o_packed', size.B * size.T * size.H * Math.ceil(size.V / 2)) : undefined;
      const encode = (pass: GPUComputePassEncoder) => bound.encode(pass);
      const execute = async () => {
        engine.assertAlive();
        await submit(device, `${def.name} step`, (enc) => encodePass(enc, [bound]));
      };
      const readO = () => this.readO(o, oPacked, size, opts.dtypes);
      const stateTensor = state instanceof GpuTensor ? state : view('state', stateLen);
      return { plan, size, encode, execute, o, readO, state: stateTensor, destroy: buffers.release, timeGpu: (repeat: number) => timeEncoded(device, encode, repeat) };
    } catch (e) {
      buffers.release();
      throw e;
    }
  }

  /** The host inputs with their shapes, for checkFinite. */
  private hostTensors(inputs: Readonly<Record<string, ArrayLike<number> | undefined>>, size: ProblemSize) {
    const out: Record<string, { data: ArrayLike<number>; shape: readonly number[] } | undefined> = {};
    for (const d of this.def.inputs) out[d.name] = { data: inputs[d.name]!, shape: inputShape(this.def, d, size) };
    if (inputs.h0) out.h0 = { data: inputs.h0, shape: stateShape(this.def, size) };
    return out;
  }

  /** 64, or 32 on a device with only WebGPU's default 16 KiB of workgroup memory. */
  private defaultChunk(): ChunkSize { return maxChunkFor(this.memoryTier()); }

  private memoryTier(): WorkgroupMemoryTier {
    const limit = this.engine.limits.maxComputeWorkgroupStorageSize;
    const tier = memoryTierFor(limit);
    if (tier === null) {
      throw new EngineError(`this device offers ${limit} bytes of workgroup memory; lae's kernels need at least ${WG_MEMORY_TIERS[0]}`);
    }
    return tier;
  }

  /** Plans of the encode calls by mode and config, made once (codegen writes their WGSL). */
  private readonly planCache = new Map<string, KernelPlan>();
  private cachedPlan(mode: ForwardMode | 'step' | 'stepPool' | 'backward', cfg: CodegenConfig): KernelPlan {
    const key = `${mode}:${stableStringify(cfg)}`;
    let plan = this.planCache.get(key);
    if (!plan) {
      plan = mode === 'backward' ? planBackward(this.def, cfg) : mode === 'step' || mode === 'stepPool' ? planStep(this.def, cfg, mode) : planForward(this.def, cfg, mode);
      this.planCache.set(key, plan);
    }
    return plan;
  }

  /** The problem size, dtypes and packed-sequence tables of an encode call, checked. */
  private encodeSize(opts: Omit<EncodeForwardOptions, 'T'> & { T?: number; N?: number }, T: number) {
    const size0 = validateSize({ ...opts, T });
    const dtypes = validateDtypes(this.def, opts.dtypes);
    const offsets = opts.cuSeqlens === undefined ? undefined : checkCuSeqlens(opts.cuSeqlens, size0.T, size0.B);
    const size: ProblemSize = offsets ? { ...size0, S: offsets.length - 1 } : size0;
    return { size, dtypes, offsets };
  }

  /** Where o goes: 'o', or 'o_packed' when dtypes.o stores it in 16 bits; and its bytes. */
  private oTarget(size: ProblemSize, dtypes: Readonly<Partial<Record<string, StorageDtype>>>) {
    const d = dtypes.o ?? 'f32';
    const rows = size.B * size.T * size.H;
    return d === 'f32'
      ? { buffer: 'o', label: "output 'o'", bytes: rows * size.V * 4, required: true, shape: `[${size.B},${size.T},${size.H},${size.V}]` }
      : { buffer: 'o_packed', label: "output 'o'", bytes: rows * Math.ceil(size.V / 2) * 4, required: true, shape: `[${size.B},${size.T},${size.H},${size.V}] ${d}` };
  }

  /** Records the forward into the caller's `encoder`: every input (and h0) is the caller's GPU
   * tensor, o and ht are written into the caller's buffers in place; nothing is submitted,
   * uploaded or read back. lae's scratch for this size is kept and reused by the next call of
   * the same size (see README, "Using lae inside a model runtime"). Host-side checks (the
   * log-decay sign, checkFinite) need host copies and do not apply. */
  async encodeForward(encoder: GPUCommandEncoder, inputs: GpuInputs, outputs: ForwardOutputs, opts: EncodeForwardOptions): Promise<void> {
    checkOptionNames('encodeForward', opts);
    opts = snapshotOptions(opts);
    const { engine } = this;
    engine.assertAlive();
    checkEncoder(encoder, 'encodeForward');
    const { size, dtypes, offsets } = this.encodeSize(opts, (opts as { T?: number }).T as number);
    const { chunk, mode, scale } = this.runOptions(opts, size);
    const plan = this.cachedPlan(mode, this.config(size.K, size.V, chunk, dtypes, size.G, size.S !== undefined));
    const device = engine.device;
    const given: CheckedTensors = { sources: {}, callers: [] };
    bindTensors(device, 'inputs', inputs, inputEntries(this.def, size, dtypes, true), given);
    const st = `[${stateShape(this.def, size).join(',')}]`;
    bindTensors(device, 'outputs', outputs, new Map([
      ['o', this.oTarget(size, dtypes)],
      ['ht', { buffer: 'ht', label: "output 'ht'", bytes: stateBytes(this.def, size), required: false, shape: st }],
    ]), given);
    const tables = offsets && sequenceTables(offsets, chunk);
    const NT = tables ? tables.NT : Math.ceil(size.T / chunk);
    const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT, S: stateRows(size) };
    const sources: Record<string, BufferSource> = { ...given.sources, ...(tables ? { chunk_table: { data: tables.chunks }, seq_table: { data: tables.seqs } } : {}) };
    const params = packParams({ B: size.B, T: size.T, H: size.H, NT, has_h0: given.sources.h0 ? 1 : 0, scale, has_dht: 0, G: size.G ?? 1 });
    await engine.runner.checkDevice(given.callers);
    const pipelines = await engine.pipelines.get(plan);
    engine.assertAlive();
    const buffers = engine.runner.allocate(plan, env, { params, sources, record: { encoder, workspace: `${plan.key}|${JSON.stringify(env)}` } });
    encodePass(encoder, [engine.runner.bind(plan, pipelines, buffers)]);
  }

  /** Records the decode step into the caller's `encoder`: the inputs [B,N,H,...] are the
   * caller's GPU tensors, `state` (laid out like h0; a pool of slots with stateIndices) is
   * updated in place and o is written into `outputs.o`. Nothing is submitted, uploaded (but
   * stateIndices and cuSeqlens' small tables, kept per content) or read back. */
  async encodeStep(encoder: GPUCommandEncoder, inputs: GpuInputs, state: GpuBinding, outputs: StepOutputs, opts: EncodeStepOptions): Promise<void> {
    checkOptionNames('encodeStep', opts);
    opts = snapshotOptions(opts);
    const { engine, def } = this;
    engine.assertAlive();
    checkEncoder(encoder, 'encodeStep');
    if (inputs && typeof inputs === 'object' && 'h0' in inputs) throw new InputError("encodeStep takes the state as its own argument, not as input 'h0'");
    if (opts && opts.N !== undefined && (typeof opts.N !== 'number' || !Number.isInteger(opts.N) || opts.N < 1)) {
      throw new InputError(`option N (tokens per sequence) must be a positive integer, got ${describeValue(opts.N)}`);
    }
    const { size, dtypes, offsets } = this.encodeSize(opts, opts?.N ?? packedLength(opts?.cuSeqlens) ?? 1);
    const scale = opts.scale ?? defaultScale(def, size.K);
    if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new EngineError(`option scale must be a finite number, got ${describeValue(scale)}`);
    const device = engine.device;
    const given: CheckedTensors = { sources: {}, callers: [] };
    bindTensors(device, 'inputs', inputs, inputEntries(def, size, dtypes, false), given);
    bindTensors(device, 'outputs', outputs, new Map([['o', this.oTarget(size, dtypes)]]), given);
    const S = stateRows(size);
    const perSeq = size.H * size.K * stateColumns(def, size.V);
    const idx = opts.stateIndices;
    checkStateDtype(opts.stateDtype);
    const stateWord = opts.stateDtype === 'bf16' ? 2 : 4;
    const stateLabel = `state [${stateShape(def, size).join(',')}]${opts.stateDtype === 'bf16' ? ' bf16' : ''}`;
    const stateSrc = checkBinding(device, idx === undefined ? stateLabel : 'state pool', state, idx === undefined ? S * perSeq * stateWord : perSeq * stateWord);
    given.sources.state = stateSrc;
    given.callers.push(stateSrc);
    if (idx !== undefined) {
      const slots = Math.floor((stateSrc.size ?? stateSrc.buffer.size - (stateSrc.offset ?? 0)) / (perSeq * stateWord));
      if (!ArrayBuffer.isView(idx) && !Array.isArray(idx)) throw new InputError(`option stateIndices must be an Int32Array, Uint32Array or array of slot numbers, got ${describeValue(idx)}`);
      if (idx.length !== S) throw new InputError(`stateIndices has ${idx.length} entries; expected one per sequence (${size.S !== undefined ? 'N, from cuSeqlens' : 'B'} = ${S})`);
      const seen = new Set<number>();
      for (const [b, i] of Array.from(idx as ArrayLike<number>).entries()) {
        if (!Number.isInteger(i) || i < 0 || i >= slots) throw new InputError(`stateIndices[${b}] = ${i} is outside the pool's ${slots} slots (its binding holds ${slots} states of H*K*V = ${perSeq} ${opts.stateDtype === 'bf16' ? 'bf16 values' : 'floats'})`);
        if (seen.has(i)) throw new InputError(`stateIndices[${b}] = ${i} repeats a slot; each sequence needs its own`);
        seen.add(i);
      }
    }
    const plan = this.cachedPlan(idx === undefined ? 'step' : 'stepPool', this.stepConfig(size.K, size.V, dtypes, size.G, size.S !== undefined, opts.stateDtype));
    const tables = offsets && sequenceTables(offsets, 64);
    const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: 1, S };
    const sources: Record<string, BufferSource> = {
      ...given.sources,
      ...(idx !== undefined ? { idx: { data: Uint32Array.from(idx as ArrayLike<number>) } } : {}),
      ...(tables ? { seq_table: { data: tables.seqs } } : {}),
    };
    const params = packParams({ B: size.B, T: size.T, H: size.H, NT: 1, has_h0: 1, scale, has_dht: 0, G: size.G ?? 1 });
    await engine.runner.checkDevice(given.callers);
    const pipelines = await engine.pipelines.get(plan);
    engine.assertAlive();
    const buffers = engine.runner.allocate(plan, env, { params, sources, record: { encoder, workspace: `${plan.key}|${JSON.stringify(env)}` } });
    encodePass(encoder, [engine.runner.bind(plan, pipelines, buffers)]);
  }

  /** Records the chunked forward and the backward into the caller's `encoder`: the inputs (and
   * h0) and the seeds are the caller's GPU tensors; each gradient given in `grads` ('d' + an
   * input's name, dh0 when h0 is given) is written into the caller's buffer in place, and the
   * others are not kept. Under grouped value heads dq and dk need room for HV heads (the first
   * B*T*H*K floats hold the gradient, as backward() reads them). */
  async encodeBackward(encoder: GPUCommandEncoder, inputs: GpuInputs, seeds: GpuSeeds, grads: GpuGradients, opts: EncodeBackwardOptions): Promise<void> {
    checkOptionNames('encodeBackward', opts);
    opts = snapshotOptions(opts);
    const { engine, def } = this;
    engine.assertAlive();
    checkEncoder(encoder, 'encodeBackward');
    const { size, dtypes, offsets } = this.encodeSize(opts, (opts as { T?: number }).T as number);
    const { chunk, scale } = this.runOptions({ ...opts, mode: this.defaultMode }, size);
    const cfg = this.config(size.K, size.V, chunk, dtypes, size.G, size.S !== undefined);
    const fplan = this.cachedPlan(this.defaultMode, cfg);
    const bplan = this.cachedPlan('backward', cfg);
    const device = engine.device;
    const given: CheckedTensors = { sources: {}, callers: [] };
    bindTensors(device, 'inputs', inputs, inputEntries(def, size, dtypes, true), given);
    const st = `[${stateShape(def, size).join(',')}]`;
    const stBytes = stateBytes(def, size);
    bindTensors(device, 'seeds', seeds, new Map([
      ['do', { buffer: 'do', label: "seed 'do'", bytes: size.B * size.T * size.H * size.V * 4, required: true, shape: `[${size.B},${size.T},${size.H},${size.V}]` }],
      ['dht', { buffer: 'dht', label: "seed 'dht'", bytes: stBytes, required: false, shape: st }],
    ]), given);
    const hasH0 = given.sources.h0 !== undefined;
    const gradEntries = new Map<string, { buffer: string; label: string; bytes: number; required: boolean; shape: string }>();
    const env0: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: 1, S: stateRows(size) };
    for (const d of def.inputs) {
      const decl = bplan.buffers.find((b) => b.name === `grad_in_${d.name}`)!;
      gradEntries.set(`d${d.name}`, { buffer: decl.name, label: `gradient 'd${d.name}'`, bytes: resolveSize(decl.elems, env0) * 4, required: false, shape: `[${inputShape(def, d, size).join(',')}]` });
    }
    gradEntries.set('dh0', { buffer: 'dh0', label: "gradient 'dh0'", bytes: stBytes, required: false, shape: `${st} (with h0)` });
    bindTensors(device, 'grads', grads, gradEntries, given, (name) => (name === 'do' || name === 'dht' ? `'${name}' is a seed` : undefined));
    if (given.sources.dh0 && !hasH0) throw new InputError("gradient 'dh0' is given, but inputs have no h0: the forward starts from zeros, so there is no dh0 to write");
    const tables = offsets && sequenceTables(offsets, chunk);
    const NT = tables ? tables.NT : Math.ceil(size.T / chunk);
    const env: SizeEnv = { ...env0, NT };
    const tableSources: Record<string, BufferSource> = tables ? { chunk_table: { data: tables.chunks }, seq_table: { data: tables.seqs } } : {};
    const fsources: Record<string, BufferSource> = { ...tableSources };
    const bsources: Record<string, BufferSource> = {};
    for (const [name, src] of Object.entries(given.sources)) {
      if (fplan.buffers.some((b) => b.name === name)) fsources[name] = src;
      else bsources[name] = src;
    }
    const hasDht = given.sources.dht !== undefined;
    const fparams = packParams({ B: size.B, T: size.T, H: size.H, NT, has_h0: hasH0 ? 1 : 0, scale, has_dht: 0, G: size.G ?? 1 });
    const bparams = packParams({ B: size.B, T: size.T, H: size.H, NT, has_h0: hasH0 ? 1 : 0, scale, has_dht: hasDht ? 1 : 0, G: size.G ?? 1 });
    await engine.runner.checkDevice(given.callers);
    const [fpipes, bpipes] = await Promise.all([engine.pipelines.get(fplan), engine.pipelines.get(bplan)]);
    engine.assertAlive();
    const at = JSON.stringify(env);
    const fbuffers = engine.runner.allocate(fplan, env, { params: fparams, sources: fsources, record: { encoder, workspace: `${fplan.key}|${at}|for-backward` } });
    const bbuffers = engine.runner.allocate(bplan, env, { params: bparams, sources: bsources, record: { encoder, workspace: `${bplan.key}|${at}` } });
    const fbound = engine.runner.bind(fplan, fpipes, fbuffers);
    const bbound = engine.runner.bind(bplan, bpipes, bbuffers, fbuffers);
    encodePass(encoder, [fbound, bbound]);
  }

  /** chunkSize, mode and scale of a forward, checked. */
  private runOptions(opts: Pick<ForwardOptions, 'chunkSize' | 'mode' | 'scale' | 'saveForBackward'>, size: ProblemSize): { chunk: ChunkSize; mode: ForwardMode; scale: number } {
    const chunk = opts.chunkSize ?? this.defaultChunk();
    if (typeof chunk !== 'number') {
      throw new EngineError(`option chunkSize must be a number, one of ${CHUNK_SIZES.join(', ')}; got ${describeValue(chunk)}`);
    }
    if (!(CHUNK_SIZES as readonly number[]).includes(chunk)) {
      throw new EngineError(`chunkSize ${chunk} is not supported; use one of ${CHUNK_SIZES.join(', ')}`);
    }
    const mode = opts.mode ?? (opts.saveForBackward ? this.defaultMode : this.inferenceMode);
    if (mode !== 'chunked' && mode !== 'recurrent') throw new EngineError(`option mode must be 'chunked' or 'recurrent', got ${describeValue(mode)}`);
    if (mode === 'chunked' && !hasChunkedForward(this.def, this.tierConfig())) {
      throw new EngineError(dplrChunkable(this.def)
        ? `variant '${this.def.name}' (correction 'dplr') has its chunked forward on the tensor-core tier only, and this engine runs '${this.engine.tier}'; leave out mode (its default here is 'recurrent') or create the engine with tensorCores: 'auto' on an adapter with subgroup matrices (or 'portable')`
        : `variant '${this.def.name}' (correction '${this.def.correction}') has no chunked forward yet; leave out mode (its default is 'recurrent') or pass mode: 'recurrent'`);
    }
    const scale = opts.scale ?? defaultScale(this.def, size.K);
    if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new EngineError(`option scale must be a finite number, got ${describeValue(scale)}`);
    return { chunk, mode, scale };
  }

  /** Validates, compiles and uploads once; the returned run can then be encoded many times
   * (what the benchmarks time) and its output tensors read back. Call destroy() when done. */
  async prepareForward(inputs: HostInputs, opts: ForwardOptions): Promise<PreparedForward> {
    checkOptionNames('forward', opts);
    return this.prepare(inputs, snapshotOptions(opts));
  }

  /** prepareForward's work. Every read of the caller's arrays (the checks, the uploads, the
   * saved forward's fingerprints) happens before the first await, so the run computes with
   * the values the checks saw, whatever the caller does with its arrays afterwards. */
  private async prepare(inputs: HostInputs, opts: ForwardOptions): Promise<PreparedForward> {
    const { engine, def } = this;
    engine.assertAlive();
    const size = validateForwardArgs(def, inputs, opts);
    const values = this.values(inputs, opts.dtypes);
    const { chunk, mode, scale } = this.runOptions(opts, size);
    if (mode === 'chunked' && !opts.allowPositiveLogDecay) checkLogDecay(def, values, size);
    if (opts.checkFinite) checkFinite('input', this.hostTensors(values, size));
    const plan = this.plan({ K: size.K, V: size.V, chunkSize: chunk, mode, dtypes: opts.dtypes, G: size.G, varlen: size.S !== undefined });
    const offsets = size.S !== undefined ? Array.from(opts.cuSeqlens!) : undefined;
    const tables: SequenceTables | undefined = offsets && sequenceTables(offsets, chunk);
    const NT = tables ? tables.NT : Math.ceil(size.T / chunk);
    const device = engine.device;
    const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT, S: stateRows(size) };
    const sources: Record<string, BufferSource> = {
      ...this.inputSources(inputs, opts.dtypes),
      ...(inputs.h0 ? { h0: { data: toF32(inputs.h0 as HostArray) } } : {}),
      ...(tables ? { chunk_table: { data: tables.chunks }, seq_table: { data: tables.seqs } } : {}),
    };
    const params = packParams({ B: size.B, T: size.T, H: size.H, NT, has_h0: inputs.h0 ? 1 : 0, scale, has_dht: 0, G: size.G ?? 1 });
    // Checks every size against the device before allocating anything, then uploads.
    const buffers = engine.runner.allocate(plan, env, { params, sources, ...(opts.poisonOutputs ? { fillOutputs: Number.NaN } : {}) });
    let destroyed = false;
    const destroy = () => {
      destroyed = true;
      buffers.release();
    };
    try {
      // A forward kept for a backward remembers what it ran on: the stored bytes' fingerprints.
      let fingerprints: Map<string, string> | undefined;
      if (opts.saveForBackward) {
        fingerprints = new Map(def.inputs.map((d) => [d.name, fingerprint(storageBytes(inputs[d.name]!, opts.dtypes?.[d.name] ?? 'f32'))]));
        if (inputs.h0) fingerprints.set('h0', fingerprint(storageBytes(inputs.h0, 'f32')));
      }
      const bound = engine.runner.bind(plan, await engine.pipelines.get(plan), buffers);
      const tensors = this.tensorsOf(plan, buffers, inputs);
      const execute = async (repeat = 1, only?: number) => {
        engine.assertAlive();
        await submit(device, `${def.name} forward`, (enc) => encodePass(enc, [bound], repeat, only));
        engine.assertAlive();
      };
      const timeGpu = async (repeat: number, only?: number, split = false): Promise<number> => {
        engine.assertAlive();
        const kernels = only === undefined ? plan.kernels.map((_, i) => i) : [only];
        // One pass per kernel when split, timed from the first pass's start to the last's end.
        const passes = split
          ? kernels.map((i) => (pass: GPUComputePassEncoder) => bound.encode(pass, i))
          : [(pass: GPUComputePassEncoder) => kernels.forEach((i) => bound.encode(pass, i))];
        return timeEncoded(device, passes, repeat);
      };
      const run: PreparedForward = {
        def, plan, size, NT, cuSeqlens: offsets, tensors, encode: (pass) => bound.encode(pass), execute, timeGpu, destroy, scale, hasH0: Boolean(inputs.h0),
        get destroyed() { return destroyed; },
      };
      if (fingerprints) SAVED.set(run, { engine, fingerprints, inputDtypes: plan.config.inputDtypes ?? {}, claimed: false });
      return run;
    } catch (e) {
      destroy();
      throw e;
    }
  }
}

/** What a forward run with saveForBackward recorded, for the backward that takes it as saved. */
interface SavedInfo {
  readonly engine: Engine;
  /** Fingerprints of the stored bytes of each input (and h0). */
  readonly fingerprints: ReadonlyMap<string, string>;
  readonly inputDtypes: Readonly<Record<string, string>>;
  /** Set by the backward that uses it, before its first await. */
  claimed: boolean;
}
const SAVED = new WeakMap<PreparedForward, SavedInfo>();

/** The step in flight (or last queued) on each state: keyed by the state array's buffer (views of
 * one buffer share it) or the GpuTensor's GPU buffer. */
const STEPS = new WeakMap<object, Promise<void>>();

/** A step's state: host arrays are updated in place (a Float64Array through an f32 copy). */
type StepState = Float32Array | Float64Array | GpuTensor;

/** The step's stateDtype option: absent, 'f32' or 'bf16'. */
function checkStateDtype(d: unknown): void {
  if (d !== undefined && d !== 'f32' && d !== 'bf16') throw new InputError(`option stateDtype must be 'f32' or 'bf16', got ${describeValue(d)}`);
}

function toF32(a: Float32Array | Float64Array): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}
