// Spec + problem config + device capabilities -> a kernel plan: which kernels run, in what order,
// over which grid, with which buffers and tile sizes. The plan is plain data (it is written into
// the generated TS module by `lae gen`); WGSL for each kernel comes from codegen/kernels/.
import type { VariantDef } from '../dsl/index.js';
import { FRAGMENT_LOWERINGS, type FragmentLowering } from './kernels/fragments.js';

export const CHUNK_SIZES = [16, 32, 64] as const;
export type ChunkSize = (typeof CHUNK_SIZES)[number];
/** Head dims the kernels are written for: the state tile of one workgroup holds up to 256 keys. */
export const MAX_HEAD_DIM = 256;

export interface CodegenConfig {
  readonly K: number;
  readonly V: number;
  readonly chunk: ChunkSize;
  /** Workgroup memory the kernels may use, bytes: 16384 (WebGPU's default limit: chunks of 16
   * or 32 tokens), 32768 (any desktop adapter, lavapipe) or 49152 (NVIDIA, where wider output
   * tiles fit). Default 32768. Part of the cache key. */
  readonly wgMemory?: WorkgroupMemoryTier;
  /** Inputs stored as 16-bit floats, packed two per u32 word (absent: f32). Part of the key. */
  readonly inputDtypes?: Readonly<Record<string, HalfDtype>>;
  /** Store o as 16-bit too (a packing pass after the output stage); absent: f32. */
  readonly outputDtype?: HalfDtype;
  /** Grouped value heads: these inputs (read only by q and k) have H / G heads, value head h
   * reading head h / G (G from the Params uniform). Absent: every input has H heads. */
  readonly qkInputs?: readonly string[];
  /** Packed variable-length sequences (cu_seqlens): B = 1, chunk bounds come from a chunk table
   * and each sequence's scan from a sequence table, so no chunk crosses a sequence boundary and
   * each sequence has its own row of h0/ht. Absent: B sequences of T tokens. */
  readonly varlen?: true;
  /** The tensor-core tier: its kernels' matrix products go through the fragment layer, lowered
   * to subgroup matrices ('subgroup-matrix', the tensor cores) or to plain WGSL ('portable', the
   * same tiles on any adapter with shader-f16). Absent: the f32 tier. */
  readonly fragments?: FragmentLowering;
  /** A tuning knob of the tensor-core tier: stage operands one element per load instead of
   * vec4 words (for measuring what the wide loads buy). */
  readonly scalarLoads?: true;
  /** A tuning knob of the tensor-core tier: write the staging loops' slots out one by one (named
   * registers) instead of as a loop over a private array, which stays in registers only where
   * the driver unrolls the loop. */
  readonly unrollStaging?: true;
  /** A tuning knob of the tensor-core tier: the workgroup memory, bytes, its kernels' layouts may
   * use (at most wgMemory). Smaller layouts let more workgroups share an SM, which hides the
   * latency of their barrier-separated phases; wider ones stage more per barrier. Absent:
   * wgMemory. */
  readonly fragmentMemory?: number;
  /** A tuning knob of the tensor-core tier: columns of O per workgroup of the output stage, one
   * of OUTPUT_TILES (absent: 128). Narrower tiles make more workgroups, each with fewer result
   * fragments, and recompute the chunk's scores once per tile. */
  readonly outputTile?: number;
  /** A tuning knob of the tensor-core tier, for the variants whose output scores are anchored
   * per-key products (anchoredOutputScores: gla, kda, rwkv6, the generalized delta rule): where
   * the output's intra-chunk scores (A_qk; the generalized delta rule's A_qb and A_qk) are
   * computed. 'prep' (absent): in the prep, which has the chunk's gates (and for kda and the
   * generalized delta rule forms A_kk / A_ab, A_ak in the same pass, sharing the staged keys,
   * their anchored rows and the gates, as FLA's chunk_kda_fwd_intra and chunk_dplr_fwd_intra do),
   * into f16 blocks the output stage loads as fragments and the backward reads instead of
   * recomputing them (no bwdScores); 'output': by the output stage, in a score pass of its own
   * (staging q, the keys and the gates again), and recomputed by the backward's bwdScores. */
  readonly outputScores?: OutputScores;
  /** A tuning knob of the tensor-core tier: the form of bwdDq and bwdDk of a per-key decay
   * (tc-bwd-dqk.ts), one of DQK_FORMS; absent: DEFAULT_DQK_FORM. */
  readonly dqkForm?: DqkForm;
  /** Use the tensor-core stages whose subgroup-matrix lowering has not yet been checked against
   * the float64 reference on a GPU (backward.ts's UNVERIFIED_ON_GPU) on that lowering too; the
   * portable lowering always uses them (CI tests it). For the check that verifies them. */
  readonly unverifiedFragments?: true;
  /** For software adapters (lavapipe, SwiftShader): every `for` loop's bound gets an opaque
   * zero added, `(P.T >> 31u)`, so the shader compiler keeps loops rolled. Their JIT otherwise
   * unrolls every constant-trip loop and spends 10-40 s per kernel; the arithmetic is the same. */
  readonly compactLoops?: true;
  /** A tuning knob of the decode step: state columns (V) per workgroup, one of STEP_COLUMNS
   * (absent: 32). Narrower blocks make more workgroups (batch 1 is latency-bound), wider ones
   * fewer reduction rows per column. */
  readonly stepColumns?: number;
  /** The decode step's state stored as bf16 (packed two per u32 word, element 2i in the low
   * half, rounded to nearest even on store); compute stays f32. Absent: f32. Needs the state's
   * contiguous axis (V in [B,H,K,V], K in [B,H,V,K]) to be a multiple of 4. */
  readonly stateDtype?: 'bf16';
}
export const STEP_COLUMNS = [8, 16, 32, 64] as const;
export const OUTPUT_SCORES = ['prep', 'output'] as const;
export type OutputScores = (typeof OUTPUT_SCORES)[number];
/** Whether the tensor-core tier's prep computes the output's intra-chunk scores
 * (CodegenConfig.outputScores): for the variants whose scores are anchored per-key products,
 * unless the knob says 'output'. */
export const scoresInPrep = (def: Pick<VariantDef, 'correction' | 'decay' | 'bonus' | 'normalize'>, cfg: { readonly fragments?: FragmentLowering; readonly outputScores?: OutputScores }) =>
  cfg.fragments !== undefined && cfg.outputScores !== 'output' && anchoredOutputScores(def);
/** Whether the output's intra-chunk scores are anchored per-key products (a per-key decay or the
 * bonus form, tc-scores.ts anchoredScores; the generalized delta rule's four): the variants that
 * CodegenConfig.outputScores applies to. Their tensor-core prep computes them where it forms
 * (kda, the generalized delta rule) or stages (gla, rwkv6) the keys' gates already. */
export const anchoredOutputScores = (def: Pick<VariantDef, 'correction' | 'decay' | 'bonus' | 'normalize'>) =>
  def.normalize !== 'exp' && (def.correction === 'dplr' || def.decay === 'diagonal' || def.bonus === 'u');
export type HalfDtype = 'bf16' | 'f16';
export const WG_MEMORY_TIERS = [16384, 32768, 49152] as const;
/** The largest chunk whose kernels fit a memory tier: the C x C score tiles need more than 16 KiB at 64. */
export const maxChunkFor = (tier: WorkgroupMemoryTier): ChunkSize => (tier >= 32768 ? 64 : 32);
export type WorkgroupMemoryTier = (typeof WG_MEMORY_TIERS)[number];

/** The largest tier a device's maxComputeWorkgroupStorageSize allows, or null if none does. */
export function memoryTierFor(limit: number): WorkgroupMemoryTier | null {
  return [...WG_MEMORY_TIERS].reverse().find((t) => t <= limit) ?? null;
}

/** Sizes are products of symbols resolved at dispatch time and constants baked at codegen time. */
/** S: the sequences, whose states are the rows of h0/ht (B, or the packed sequences' count);
 * SH = S*H, the grid of the per-sequence kernels. */
export type SizeSym = 'B' | 'T' | 'H' | 'NT' | 'BH' | 'S' | 'SH';
export type SizeExpr = readonly (SizeSym | number)[];

/** 'seed': the backward's incoming gradient do; 'forward': a buffer the backward reads from the
 * forward run it follows (inputs, saved states, WY factors, ht). */
export type BufferKind = 'input' | 'state-in' | 'state-inout' | 'indices' | 'output' | 'scratch' | 'seed' | 'forward';
export interface BufferDecl {
  readonly name: string;
  readonly kind: BufferKind;
  /** f32 element count; inputs and h0 are sized by the runtime from the spec instead. */
  readonly elems: SizeExpr;
  /** Another buffer of the plan that already holds this one's contents: no buffer of its own. */
  readonly aliasOf?: string;
  /** A pack of other buffers (codegen/fit.ts): its elements are the sum of these, and `elems`
   * is empty. */
  readonly parts?: readonly SizeExpr[];
}
export interface BindingDecl {
  readonly buffer: string;
  readonly access: 'read' | 'read_write';
  /** Element type; f32 unless given (state slot indices are u32; the tensor-core tier's
   * per-chunk operands are f16, or vec4<u32> words of 8 halves where a walk prefetches them; a
   * bf16 step state is vec2<u32> words of 4). */
  readonly elem?: 'u32' | 'f16' | 'vec4<f32>' | 'vec4<u32>' | 'vec2<u32>';
}
export const KERNEL_STAGES = [
  'l2norm', 'prep', 'scores', 'inverse', 'wyFactors', 'chunkState', 'stateScan', 'chunkStates', 'deltaScan', 'output', 'recurrent', 'step', 'stepPool', 'packOut',
  // The backward (codegen/backward.ts).
  'bwdScores', 'bwdDvLocal', 'bwdScan', 'bwdChunkState', 'bwdStateScan', 'bwdDu', 'bwdInter', 'bwdDScores', 'bwdChunkEnd', 'bwdDq', 'bwdDk', 'bwdBonus',
  // Copies that fit a plan into 8 storage buffers per kernel (codegen/fit.ts).
  'stateInit', 'packIn',
  // The generalized delta rule's token-sequential backward (kernels/dplr-bwd.ts).
  'dplrBwdCols', 'dplrBwdRows', 'dplrBwdSplit',
  // The normalized form's (kernels/normalized-bwd.ts).
  'normalizedBwd', 'normalizedBwdSplit',
  'outputGateBwd', 'bwdSeed', 'wyDT', 'wyM', 'wyDA', 'wyDv', 'wyX2', 'wyDk', 'wyDbeta', 'bwdGate', 'normBwd', 'chain', 'chainFinish',
] as const;
export type KernelStage = (typeof KERNEL_STAGES)[number];
export interface KernelDecl {
  readonly name: string;
  readonly stage: KernelStage;
  readonly workgroupSize: number;
  readonly grid: readonly [SizeExpr, SizeExpr, SizeExpr];
  /** binding 0 is the Params uniform; these follow from binding 1 on. */
  readonly bindings: readonly BindingDecl[];
  readonly wgsl: string;
}

/** How a stage's kernel is dispatched: threads per workgroup, the grid, and WG_X (the x extent of
 * a two-dimensional thread tile) where the kernel has one. A backward kernel file exports its
 * stages' shapes beside their emitters, since the tile sizes behind them are the emitter's. */
export interface StageShape { readonly wg: number; readonly grid: readonly [SizeExpr, SizeExpr, SizeExpr]; readonly wgX?: number }
export type StageShapeRule = (def: VariantDef, cfg: CodegenConfig, tiles: Tiles) => StageShape;

export interface Tiles {
  /** K, V padded to powers of two (at least 4): array extents of workgroup tiles. */
  readonly KP: number;
  readonly VP: number;
  /** V columns per workgroup: the delta rule's sequential scan, the chunk-state matmul, the output. */
  readonly scanBV: number;
  readonly stateBV: number;
  readonly outBV: number;
  /** V columns per workgroup of the token-sequential kernel (all of them for the normalized form). */
  readonly recurrentBV: number;
  /** K-slab width staged per step of the output kernel's matmuls, and of the WY prep's scores. */
  readonly slab: number;
  readonly prepSlab: number;
  /** K-slab of W and row block of keys staged per step of the delta rule's scan. */
  readonly scanSlab: number;
  readonly scanRows: number;
}

export const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export function chooseTiles(cfg: CodegenConfig, def: VariantDef): Tiles {
  const KP = Math.max(4, nextPow2(cfg.K));
  const VP = Math.max(4, nextPow2(cfg.V));
  const C = cfg.chunk;
  const budget = cfg.wgMemory ?? 32768;
  const diag = def.decay === 'diagonal';
  // 16 KiB (WebGPU's default) holds the delta rule's scans at K = 256 only with half their tiles.
  const small = budget < 32768;
  const scanBV = Math.min(VP, small ? 8 : 16);
  // Wider slabs mean fewer barrier + global-load round trips per chunk; take the widest whose
  // workgroup arrays (in f32 words, as the kernels declare them) fit the budget.
  const widest = (candidates: number[], cap: number, words: (x: number) => number) =>
    candidates.find((x) => x <= cap && 4 * words(x) <= budget) ?? candidates[candidates.length - 1]!;
  const prepSlab = widest([32, 16, 8], KP, (sk) =>
    C * C + sk * C * (diag ? 4 : 2) + 1024 + C + 2 * C + (def.bonus === 'u' ? sk : 0));
  return {
    KP, VP,
    // 16 columns: the sequential scan has only B*H*V/scanBV workgroups, so narrow tiles buy
    // parallelism; 8 measured slower on the H100 (gated variants recompute decayed keys per tile).
    scanBV,
    // Register tiles of (KP/16) x (BV/16) per thread: at most 64 accumulators.
    stateBV: Math.min(VP, KP >= 256 ? 32 : 64),
    // The C x C scores are recomputed once per V tile, so the widest tile that fits wins:
    // 128 columns need about 37 KiB of workgroup memory, 64 fit in 32 KiB.
    outBV: Math.min(VP, budget >= 49152 ? 128 : 64),
    // The normalized form shares its denominator and maximum columns between all of a head's
    // columns: one workgroup per head, so its in-place step reads them before they are written.
    recurrentBV: def.normalize === 'exp' ? VP : Math.min(VP, 32),
    slab: 8,
    prepSlab,
    // Measured on the H100 (delta_rule, kda at T=4096): 8 x 8 beat 16 and 32; the scan is
    // latency-bound and small stages keep registers free.
    scanSlab: 8,
    scanRows: small && KP >= 256 ? 4 : 8,
  };
}

/** The output stage's column tiles a config may ask for (CodegenConfig.outputTile). */
export const OUTPUT_TILES: readonly number[] = [32, 64, 128];

/** The forms of bwdDq and bwdDk of a per-key decay on the tensor-core tier (CodegenConfig.dqkForm,
 * codegen/kernels/tc-bwd-dqk.ts): 'staged' stages each key slab's raw rows and its
 * anchored rows from storage in two phases and reads the epilogue's operands from storage per
 * element; 'prefetch' loads all of a slab's storage operands (raw rows, anchored rows' operands,
 * the epilogue's) in one phase, the epilogue's into registers; 'shared' forms the anchored rows
 * from the raw rows and G already in workgroup memory instead (and stages dk's dA blocks
 * transposed); 'pipelined' (the default) is 'shared' with the next slab's loads issued before
 * this slab's products; 'single' is 'shared' with one slab per workgroup (key tiles as wide as the slab, at
 * most 32 keys). */
export const DQK_FORMS = ['staged', 'prefetch', 'shared', 'pipelined', 'single'] as const;
export type DqkForm = (typeof DQK_FORMS)[number];
/** The form a config without dqkForm gets: the fastest on the H200 (2026-12-03, gla at
 * (1,32,4096,128,128), chunk 64: dq 0.49 / dk 0.54 ms against 'staged' 0.72 / 0.93,
 * bench/raw/h200-2026-12-03-s8-r3-forms.txt), the same gradients bit for bit. */
export const DEFAULT_DQK_FORM: DqkForm = 'pipelined';

/** The smallest fragmentMemory a config may ask for (bytes). */
export const MIN_FRAGMENT_MEMORY = 8192;
export const validFragmentMemory = (bytes: number) => Number.isInteger(bytes) && bytes >= MIN_FRAGMENT_MEMORY;

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

export function validateConfig(cfg: CodegenConfig): void {
  for (const [name, v] of [['K', cfg.K], ['V', cfg.V]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_HEAD_DIM) {
      throw new ConfigError(`${name} = ${v} is not supported: the kernels take head dims 1..${MAX_HEAD_DIM}`);
    }
  }
  if (cfg.fragments !== undefined && !(FRAGMENT_LOWERINGS as readonly string[]).includes(cfg.fragments)) {
    throw new ConfigError(`fragments ${JSON.stringify(cfg.fragments)} is not a lowering; use one of ${FRAGMENT_LOWERINGS.join(', ')}`);
  }
  if (cfg.wgMemory !== undefined && !(WG_MEMORY_TIERS as readonly number[]).includes(cfg.wgMemory)) {
    throw new ConfigError(`wgMemory ${cfg.wgMemory} is not a tier; use one of ${WG_MEMORY_TIERS.join(', ')}`);
  }
  if (cfg.outputTile !== undefined && !OUTPUT_TILES.includes(cfg.outputTile)) {
    throw new ConfigError(`outputTile ${cfg.outputTile} must be one of ${OUTPUT_TILES.join(', ')}`);
  }
  if (cfg.outputScores !== undefined && !(OUTPUT_SCORES as readonly string[]).includes(cfg.outputScores)) {
    throw new ConfigError(`outputScores ${JSON.stringify(cfg.outputScores)} must be one of ${OUTPUT_SCORES.join(', ')}`);
  }
  if (cfg.dqkForm !== undefined && !(DQK_FORMS as readonly string[]).includes(cfg.dqkForm)) {
    throw new ConfigError(`dqkForm ${JSON.stringify(cfg.dqkForm)} must be one of ${DQK_FORMS.join(', ')}`);
  }
  if (cfg.fragmentMemory !== undefined && !validFragmentMemory(cfg.fragmentMemory)) {
    throw new ConfigError(`fragmentMemory ${cfg.fragmentMemory} must be a whole number of bytes, at least ${MIN_FRAGMENT_MEMORY}`);
  }
  if (cfg.stepColumns !== undefined && !(STEP_COLUMNS as readonly number[]).includes(cfg.stepColumns)) {
    throw new ConfigError(`stepColumns ${cfg.stepColumns} is not supported; use one of ${STEP_COLUMNS.join(', ')}`);
  }
  if (cfg.stateDtype !== undefined && cfg.stateDtype !== 'bf16') {
    throw new ConfigError(`stateDtype must be 'bf16' (f32 is the default), got ${JSON.stringify(cfg.stateDtype)}`);
  }
  if (!(CHUNK_SIZES as readonly number[]).includes(cfg.chunk)) {
    throw new ConfigError(`chunk size ${cfg.chunk} is not supported; use one of ${CHUNK_SIZES.join(', ')}`);
  }
  for (const [name, d] of [...Object.entries(cfg.inputDtypes ?? {}), ['o', cfg.outputDtype ?? 'bf16']]) {
    if (d !== 'bf16' && d !== 'f16') throw new ConfigError(`storage dtype of '${name}' must be 'bf16' or 'f16' (f32 is the default), got ${JSON.stringify(d)}`);
  }
}

export type ForwardStage = 'l2norm' | 'prep' | 'scores' | 'inverse' | 'wyFactors' | 'chunkState' | 'stateScan' | 'chunkStates' | 'deltaScan' | 'output' | 'recurrent' | 'step' | 'stepPool' | 'packOut';

/** The L2-normalization stage, first in every forward and step plan of a spec that has it. */
export function normStages(def: VariantDef): ForwardStage[] {
  return def.l2norm.length ? ['l2norm'] : [];
}

/** Per-row 1/norm buffers of the L2-normalized roles. */
export function normBuffers(def: VariantDef): BufferDecl[] {
  return def.l2norm.map((r) => ({ name: `rn_${r}`, kind: 'scratch', elems: ['B', 'T', 'H'] }));
}

/** Which stages a variant needs in the chunked forward; `splitPrep`: the tensor-core delta
 * rule's prep leaves its triangular inverse to a stage of its own (tc-prep.ts decides). */
export function forwardStages(def: VariantDef, cfg?: CodegenConfig, splitPrep = false): ForwardStage[] {
  // The generalized delta rule's chunked form (tensor-core tier only): prep, the inverse (T and
  // M = T A_ak), the WY factors, the scan and the output, as the delta rule's split prep; and,
  // right after the prep whose gate cumsum it reads, the chunk states' state-independent term
  // (K 2^(G_last - G))^T V per chunk, into hs, which the scan adds (tc-states.ts).
  if (def.correction === 'dplr') return [...normStages(def), 'prep', 'chunkState', 'inverse', 'wyFactors', 'deltaScan', 'output'];
  const prep = def.decay !== 'none' || def.correction === 'delta';
  // The delta rule's V_new = U - W S_n makes the state pass inherently sequential; without it the
  // per-chunk contributions are independent matmuls and only an elementwise scan is sequential
  // (f32 tier), or one walk over the chunks accumulates them on fragments (tensor-core tier).
  // The tensor-core tier's output scores of a per-key decay, where they come before the output
  // (scoresInPrep): kda's prep computes them beside A_kk, gla's and rwkv6's a stage of their own
  // (tc-scores-stage.ts) after the prep whose gate cumsum it reads.
  const scores: ForwardStage[] = cfg && def.correction === 'none' && scoresInPrep(def, cfg) ? ['scores'] : [];
  const plain: ForwardStage[] = cfg?.fragments ? [...scores, 'chunkStates'] : ['chunkState', 'stateScan'];
  const state: ForwardStage[] = def.correction === 'delta' ? ['deltaScan'] : plain;
  // The tensor-core tier's prep always runs: it writes the state walk's f16 operands. Its delta
  // rule's prep leaves T = (I + A)^-1 (or A, for the inverse stage), and W = T (beta K),
  // U = T (beta V) are a kernel of their own.
  const wy: ForwardStage[] = cfg?.fragments && def.correction === 'delta' ? [...(splitPrep ? ['inverse' as const] : []), 'wyFactors'] : [];
  return [...normStages(def), ...(prep || cfg?.fragments ? ['prep' as const] : []), ...wy, ...state, 'output'];
}

/** Scratch buffers of the chunked forward (per-chunk states, gate cumsums, WY factors). */
export function scratchBuffers(def: VariantDef, cfg: CodegenConfig): BufferDecl[] {
  const dg = def.decay === 'diagonal' ? cfg.K : 1;
  const out: BufferDecl[] = [{ name: 'hs', kind: 'scratch', elems: ['BH', 'NT', cfg.K, cfg.V] }];
  if (def.decay !== 'none') out.push({ name: 'gcum', kind: 'scratch', elems: ['BH', 'T', dg] });
  const dplr = def.correction === 'dplr';
  if (def.correction === 'delta' || dplr) {
    out.push({ name: 'w', kind: 'scratch', elems: ['BH', 'T', cfg.K] });
    out.push({ name: 'u', kind: 'scratch', elems: ['BH', 'T', cfg.V] });
    // The generalized delta rule's u rows (a^T S before each token), in V_new's place.
    out.push({ name: 'vnew', kind: 'scratch', elems: ['BH', 'T', cfg.V] });
    out.push({ name: 'tmat', kind: 'scratch', elems: ['BH', 'NT', cfg.chunk * cfg.chunk] });
  }
  if (cfg.fragments) {
    // The state walk's operands as f16, per chunk and padded to C rows and whole fragments (rows
    // past the chunk zero), so the walk loads fragments straight from them: the keys decayed to
    // the chunk's end, and V (or, for the delta rule, W). The generalized delta rule's chunkState
    // stages its decayed keys and V from the inputs instead (its prep binds q and the scores).
    const KF = Math.ceil(cfg.K / 16) * 16;
    const VF = Math.ceil(cfg.V / 16) * 16;
    if (!dplr) out.push({ name: 'kg16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * KF) / 2] });
    if (def.correction === 'delta' || dplr) out.push({ name: 'w16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * KF) / 2] });
    if (def.correction !== 'delta' && !dplr) out.push({ name: 'v16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * VF) / 2] });
    // The delta rule's T = (I + A)^-1 with its unit diagonal, the WY factors' left operand.
    if (def.correction === 'delta' || dplr) out.push({ name: 't16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * cfg.chunk) / 2] });
    // The generalized delta rule's b decayed to the chunk's end (the update's keys for u), and
    // M = T A_ak (U = M V).
    if (dplr) {
      out.push({ name: 'bg16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * KF) / 2] });
      out.push({ name: 'm16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * cfg.chunk) / 2] });
      // A_ak (strictly lower), the right operand of M = T A_ak.
      out.push({ name: 'ak16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * cfg.chunk) / 2] });
      // scale A_qb (lower, with the diagonal), the output's left operand for u, where the prep
      // computes it.
      if (scoresInPrep(def, cfg)) out.push({ name: 'aqb16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * cfg.chunk) / 2] });
    }
    // scale A_qk (lower, with the diagonal), the output's left operand for V (V_new), where the
    // prep computes it.
    if (scoresInPrep(def, cfg)) out.push({ name: 'aqk16', kind: 'scratch', elems: ['BH', 'NT', (cfg.chunk * cfg.chunk) / 2] });
  }
  // The output before the gate, which the gate's gradient needs.
  if (def.roles.outputGate) out.push({ name: 'opre', kind: 'scratch', elems: ['B', 'T', 'H', cfg.V] });
  return out;
}
