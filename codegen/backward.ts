// The backward plan: kernels that run after a chunked forward (reading its saved per-chunk
// states, gate cumsums and WY factors) and produce the gradient of every input plus dh0.
//   bwdScores, bwdDvLocal   the intra-chunk scores and their part of du (no bwdScores where
//                           the forward's prep kept the scores, plan.ts scoresInPrep)
//   bwdScan                 reverse scan over chunks: dS'_n per chunk, du (dv or dU), dh0
//                           (without the delta rule: bwdChunkState, bwdStateScan, bwdDu)
//   bwdInter                the state terms do S^T, u dS'^T, -du S^T (register-tiled)
//   bwdDScores, bwdChunkEnd, bwdDq, bwdDk, bwdBonus
//                           dq, dk, the bonus's du and the per-token gate terms
//   wy*                     the WY backward (delta rule): dk, dv, dbeta
//   bwdGate                 dg by reverse in-chunk cumsum
//   chain                   per input: role gradients -> input gradient, through diff()
// The generalized delta rule (correction 'dplr') has no chunked form yet: its backward follows
// the token-sequential forward with dplrBwdCols, dplrBwdRows, dplrBwdSplit (kernels/dplr-bwd.ts),
// then the same chain kernels.
// Each stage's emitter and shape live in a kernel file named for the quantity the stage produces
// (kernels/bwd-du.ts makes du, bwd-dh.ts the state gradients, ...), its tensor-core twin in
// tc-<that name>.ts; STAGE_KERNELS maps each stage to them.
import { stateColumns, type VariantDef, type Dim } from '../dsl/index.js';
import { KernelSource } from './kernels/common.js';
import { FRAG_WG, type Fragments } from './kernels/fragments.js';
import { chunkMatmulShape } from './kernels/chunk-matmul.js';
import { contractionShape } from './kernels/bwd-contraction.js';
import { GRAM_SHAPE } from './kernels/bwd-gram.js';
import { emitGateBwd, outputGateBwdShape } from './kernels/bwd-output-gate.js';
import { emitBwdScores, emitBwdDScores, dScoresGram, BWD_SCORES_SHAPE } from './kernels/bwd-scores.js';
import { emitTcGram, emitTcWyM, tcBwdGramGrid } from './kernels/tc-bwd-gram.js';
import { emitTcBwdScores } from './kernels/tc-scores-stage.js';
import { emitBwdDvLocal, emitBwdDu, bwdDuShape } from './kernels/bwd-du.js';
import { emitTcBwdDu, emitTcBwdDuLocal, emitTcBwdDvLocal, tcBwdDuGrid } from './kernels/tc-bwd-du.js';
import { tcTransposedFits } from './kernels/tc-transposed.js';
import { emitBwdScan, emitBwdSeed, bwdScanShape, bwdSeedShape } from './kernels/bwd-dh-delta.js';
import { emitTcBwdScan, tcBwdScanGrid } from './kernels/tc-bwd-dh-delta.js';
import { emitBwdChunkState, emitBwdStateScan, bwdChunkStateShape, bwdStateScanShape } from './kernels/bwd-dh.js';
import { emitTcBwdChunkState, tcBwdChunkStateGrid } from './kernels/tc-bwd-dh.js';
import { emitBwdInter, bwdInterShape } from './kernels/bwd-dqk-inter.js';
import { emitTcBwdInter, tcBwdInterGrid } from './kernels/tc-bwd-dqk-inter.js';
import { emitBwdDq, emitBwdDk, emitBwdDqContraction, emitBwdDkContraction, emitBwdBonus, dqkAsMatmuls } from './kernels/bwd-dqk.js';
import { emitTcBwdDq, emitTcBwdDk, tcBwdDqkGrid, tcDqkLayout } from './kernels/tc-bwd-dqk.js';
import { emitWyDT, wyDTGram, emitWyM, emitWyDA, emitWyDv, emitWyX2, emitWyDk, emitWyDbeta } from './kernels/bwd-wy.js';
import { emitTcWyDA, emitTcWyDk, emitTcWyDv, emitTcWyX2, tcWyDAGrid, tcWyKeysGrid } from './kernels/tc-bwd-wy.js';
import { emitTcWyDkDiag, tcWyDkDiagGrid, tcWyDkDiagLayout } from './kernels/tc-bwd-wy-diag.js';
import { emitBwdChunkEnd, emitBwdGate, bwdChunkEndShape, bwdGateShape } from './kernels/bwd-dg.js';
import { emitNormBwd } from './kernels/l2norm.js';
import { emitNormalizedBwd, emitNormalizedBwdSplit, NORMALIZED_GRAD_ROLES } from './kernels/normalized-bwd.js';
import { emitDplrBwdColumns, emitDplrBwdRows, emitDplrBwdSplit, DPLR_KEY_ROLES } from './kernels/dplr-bwd.js';
import { emitChain, chainGrid, chainReduces, chainParted, emitChainFinish, chainFinishGrid, gradientAlias, CHAIN_PARTS } from './kernels/bwd-chain.js';
import {
  ConfigError, chooseTiles, scoresInPrep, validateConfig, type BufferDecl, type CodegenConfig, type KernelDecl, type KernelStage, type SizeExpr, type StageShape, type StageShapeRule, type Tiles,
} from './plan.js';

/** A fragment kernel of the backward, as UNVERIFIED_ON_GPU names it: its stage, or for a stage
 * with a second fragment kernel, that kernel's form ('wyDk:diagonal', kda's wyDk by sub-blocks,
 * tc-bwd-wy-diag.ts; the scalar decays' wyDk is tc-bwd-wy.ts's). */
export type FragmentKernel = KernelStage | 'wyDk:diagonal' | 'bwdDu:local';

/** The fragment kernel a stage of a variant runs where it runs on fragments ('bwdDu:local' is
 * bwdDu's second form, where it runs: fusedDu). */
export const fragmentKernel = (def: VariantDef, stage: KernelStage): FragmentKernel =>
  (stage === 'wyDk' && def.decay === 'diagonal' ? 'wyDk:diagonal' : stage);

/** Tensor-core backward kernels written but not yet checked on a GPU's subgroup-matrix lowering
 * (only their portable lowering, on lavapipe): the hardware lowering keeps the f32 kernels for
 * them unless CodegenConfig.unverifiedFragments asks (bench/checks/tensor-cores.mjs with
 * UNVERIFIED=1 checks them). A kernel leaves this list when that check passes on a GPU: bwdScan and
 * bwdDu left it on 2026-12-02 (H200, bench/raw/h200-2026-12-02-s3-check-unverified.txt), wyDk
 * and wyX2 later that day once a misaligned workgroup flag was found and fixed
 * (bench/raw/h200-2026-12-02-s4-wy-fixed-check-unverified.txt), bwdDq and bwdDk of a per-key
 * decay (tc-bwd-dqk.ts) on 2026-12-03 (bench/raw/h200-2026-12-03-s8-check-dqk.txt), kda's wyDk
 * by sub-blocks ('wyDk:diagonal', tc-bwd-wy-diag.ts) the same day once it took the 'pipelined'
 * staging of bwdDq/bwdDk: its first form was correct but slower than the f32 wyDk (1.441 against
 * 1.300 ms, -s8-r3-kda-wydk.txt); the pipelined one checks as the f32 kernel (kda dk 2.6e-4,
 * dbeta 1.3e-4 at (1,300,4,128,128), -s9-r2-check.txt) and takes 0.928 ms (-s9-r2-kda-unverified.txt).
 * 'bwdDu:local' (bwdDu with its intra-chunk part, no bwdDvLocal, tc-bwd-du.ts), wyDA (dA = -T^T M,
 * tc-bwd-wy.ts) and wyM (M = dT T^T, tc-bwd-gram.ts) were written on 2026-12-03 after that
 * session's device time was spent: checked on lavapipe only. */
export const UNVERIFIED_ON_GPU: ReadonlySet<FragmentKernel> = new Set<FragmentKernel>(['bwdDu:local', 'wyM', 'wyDA']);

/** Whether a backward stage (in the form `kernel`) runs on the fragment layer in this config. */
function tensorCoreStage(cfg: CodegenConfig, kernel: FragmentKernel): boolean {
  if (!cfg.fragments) return false;
  return cfg.fragments === 'portable' || !UNVERIFIED_ON_GPU.has(kernel) || cfg.unverifiedFragments === true;
}

/** Whether a transposed product (bwdDvLocal, or with `wy` wyDv) runs on fragments here: where
 * the stage does and its layout fits (else the f32 kernel). */
const transposedOnFragments = (wy: boolean) => (def: VariantDef, cfg: CodegenConfig, stage: KernelStage) =>
  tensorCoreStage(cfg, stage) && tcTransposedFits(def, cfg, wy);

/** Whether bwdDu also makes du's intra-chunk part A^T do (the form 'bwdDu:local'): without the
 * delta rule, on fragments, where its layout fits; then no bwdDvLocal stage and no dvl buffer. */
function fusedDu(def: VariantDef, cfg: CodegenConfig): boolean {
  return def.correction !== 'delta' && tensorCoreStage(cfg, 'bwdDu:local') && tcTransposedFits(def, cfg, false);
}

/** Whether the delta rule's key gradient runs on fragments (tc-bwd-wy.ts), which also makes X2
 * (the f32 tier's wyX2 stage): with scalar or no decay, whose factors do not depend on the key. */
function fragmentWyDk(def: VariantDef, cfg: CodegenConfig): boolean {
  return def.correction === 'delta' && def.decay !== 'diagonal' && tensorCoreStage(cfg, 'wyDk');
}

/** Whether the key gradient of a per-key decay runs on fragments by 16-row sub-blocks
 * (tc-bwd-wy-diag.ts; X2 stays the wyX2 stage): where a layout fits the budget (none does at
 * chunk 64 within 16 KiB: the f32 wyDk then). */
function fragmentWyDkDiag(def: VariantDef, cfg: CodegenConfig): boolean {
  return def.correction === 'delta' && def.decay === 'diagonal' && tensorCoreStage(cfg, 'wyDk:diagonal') && tcWyDkDiagLayout(cfg) !== null;
}

/** Whether dq and dk run on fragments (tc-bwd-dqk.ts): with a per-key decay (the others are
 * chunk matmuls or, with the bonus alone, the f32 contractions) and a layout that fits the
 * budget (none does at chunk 64 within 16 KiB: the f32 contractions then). */
function fragmentDqk(def: VariantDef, cfg: CodegenConfig, stage: KernelStage): boolean {
  return def.decay === 'diagonal' && tensorCoreStage(cfg, stage) && tcDqkLayout(cfg) !== null;
}

type Emitter = (ks: KernelSource) => string;
/** A stage's kernel: its shape and emitter. */
interface StageKernel extends StageShape { readonly emit: Emitter }
type StageRule = (def: VariantDef, cfg: CodegenConfig, tiles: Tiles, stage: KernelStage) => StageKernel;

/** A stage whose kernel file gives its shape. */
const shaped = (shape: StageShapeRule, emit: Emitter): StageRule => (def, cfg, tiles) => ({ ...shape(def, cfg, tiles), emit });
/** Register-tiled C x C by C x cols products (chunk-matmul.ts). */
const matmul = (emit: Emitter, cols: (cfg: CodegenConfig) => number): StageRule => (_def, cfg) => ({ ...chunkMatmulShape(cols(cfg)), emit });
/** One thread per element of a C x cols output (bwd-contraction.ts). */
const contraction = (emit: Emitter, cols: (cfg: CodegenConfig) => number): StageRule => (_def, cfg) => ({ ...contractionShape(cfg, cols(cfg)), emit });
/** A C x C Gram product (bwd-gram.ts). */
const gram = (emit: Emitter): StageRule => () => ({ ...GRAM_SHAPE, emit });
/** A kernel of the fragment layer, on the grid its file gives for this stage. */
const fragment = (emit: (ks: KernelSource, fr: Fragments) => string, grid: (ks: KernelSource) => StageShape['grid']): StageRule =>
  (def, cfg, tiles, stage) => ({ wg: FRAG_WG, grid: grid(new KernelSource(def, cfg, tiles, stage, FRAG_WG)), emit: (ks) => emit(ks, ks.fragments()), wgX: FRAG_WG });
/** The fragment kernel where the stage runs on the fragment layer in this config, else the f32 one. */
const tiered = (onFragments: StageRule, f32: StageRule, when: (def: VariantDef, cfg: CodegenConfig, stage: KernelStage) => boolean = (_d, cfg, stage) => tensorCoreStage(cfg, stage)): StageRule =>
  (def, cfg, tiles, stage) => (when(def, cfg, stage) ? onFragments : f32)(def, cfg, tiles, stage);
const fixed = (wg: number, grid: (def: VariantDef, cfg: CodegenConfig, tiles: Tiles) => StageShape['grid'], emit: Emitter): StageRule =>
  (def, cfg, tiles) => ({ wg, grid: grid(def, cfg, tiles), emit });
const wyKeys = fragment((ks, fr) => (ks.stage === 'wyDk' ? emitTcWyDk : emitTcWyX2)(ks, fr), tcWyKeysGrid);
/** dq and dk: chunk matmuls where the decay factor does not depend on the key column, else one
 * thread per element (bwd-dqk.ts). */
const dqk = (asMatmul: Emitter, asContraction: Emitter): StageRule => (def, cfg, tiles, stage) =>
  (dqkAsMatmuls(def) ? matmul(asMatmul, (c) => c.K) : contraction(asContraction, (c) => c.K))(def, cfg, tiles, stage);

/** Every backward stage's kernel, by stage: its kernel file's shape and emitter, and on the
 * tensor-core tier its twin's (tc-<file>.ts). The chain kernels, one per input, follow them. */
const STAGE_KERNELS: Partial<Record<KernelStage, StageRule>> = {
  // bwd-output-gate.ts
  outputGateBwd: shaped(outputGateBwdShape, emitGateBwd),
  // bwd-scores.ts: A and dA (tc-scores-stage.ts: A, tc-bwd-gram.ts: dA on fragments)
  bwdScores: tiered(fragment(emitTcBwdScores, () => BWD_SCORES_SHAPE.grid), shaped(() => BWD_SCORES_SHAPE, emitBwdScores)),
  bwdDScores: tiered(fragment((ks, fr) => emitTcGram(ks, fr, dScoresGram(ks)), tcBwdGramGrid), gram(emitBwdDScores)),
  // bwd-du.ts (tc-bwd-du.ts): du without the delta rule, and its intra-chunk part (both tiers)
  bwdDvLocal: tiered(fragment(emitTcBwdDvLocal, tcBwdDuGrid), matmul(emitBwdDvLocal, (c) => c.V), transposedOnFragments(false)),
  bwdDu: tiered(fragment((ks, fr) => (fusedDu(ks.def, ks.cfg) ? emitTcBwdDuLocal : emitTcBwdDu)(ks, fr), tcBwdDuGrid), shaped(bwdDuShape, emitBwdDu)),
  // bwd-dh-delta.ts (tc-bwd-dh-delta.ts): the delta rule's state gradients and du, one scan
  bwdSeed: shaped(bwdSeedShape, emitBwdSeed),
  bwdScan: tiered(fragment(emitTcBwdScan, tcBwdScanGrid), shaped(bwdScanShape, emitBwdScan)),
  // bwd-dh.ts (tc-bwd-dh.ts): the state gradients without it, parallel over chunks
  bwdChunkState: tiered(fragment(emitTcBwdChunkState, tcBwdChunkStateGrid), shaped(bwdChunkStateShape, emitBwdChunkState)),
  bwdStateScan: shaped(bwdStateScanShape, emitBwdStateScan),
  // bwd-dqk-inter.ts (tc-bwd-dqk-inter.ts): the state terms of dq, dk and dW
  bwdInter: tiered(fragment(emitTcBwdInter, tcBwdInterGrid), shaped(bwdInterShape, emitBwdInter)),
  // bwd-dqk.ts (tc-bwd-dqk.ts: dq and dk of a per-key decay): dq, dk and the bonus's du
  bwdDq: tiered(fragment(emitTcBwdDq, tcBwdDqkGrid), dqk(emitBwdDq, emitBwdDqContraction), fragmentDqk),
  bwdDk: tiered(fragment(emitTcBwdDk, tcBwdDqkGrid), dqk(emitBwdDk, emitBwdDkContraction), fragmentDqk),
  bwdBonus: contraction(emitBwdBonus, (c) => c.K),
  // bwd-wy.ts (tc-bwd-wy.ts: wyX2 and wyDk; tc-bwd-wy-diag.ts: wyDk of a per-key decay;
  // tc-bwd-gram.ts: wyDT, wyM; wyDv, wyDA as tc-transposed.ts's products): the WY representation's gradients
  wyDT: tiered(fragment((ks, fr) => emitTcGram(ks, fr, wyDTGram(ks)), tcBwdGramGrid), gram(emitWyDT)),
  wyM: tiered(fragment(emitTcWyM, tcBwdGramGrid), matmul(emitWyM, (c) => c.chunk)),
  wyDA: tiered(fragment(emitTcWyDA, tcWyDAGrid), matmul(emitWyDA, (c) => c.chunk)),
  wyDv: tiered(fragment(emitTcWyDv, tcBwdDuGrid), matmul(emitWyDv, (c) => c.V), transposedOnFragments(true)),
  // (wyX2 is in the stage list on fragments only where wyDk is not: the per-key decay.)
  wyX2: tiered(wyKeys, contraction(emitWyX2, (c) => c.K)),
  wyDk: tiered(wyKeys, tiered(fragment(emitTcWyDkDiag, tcWyDkDiagGrid), contraction(emitWyDk, (c) => c.K), (def, cfg) => fragmentWyDkDiag(def, cfg)),
    (def, cfg) => fragmentWyDk(def, cfg)),
  wyDbeta: contraction(emitWyDbeta, () => 1),
  // bwd-dg.ts: the gate gradient
  bwdChunkEnd: shaped(bwdChunkEndShape, emitBwdChunkEnd),
  bwdGate: shaped(bwdGateShape, emitBwdGate),
  // l2norm.ts
  normBwd: fixed(64, () => [['T'], ['BH'], [1]], emitNormBwd),
  // normalized-bwd.ts: the normalized form (RWKV-4)
  normalizedBwd: fixed(1, () => [[1], ['SH'], [1]], emitNormalizedBwd),
  normalizedBwdSplit: fixed(1, () => [[1], ['T'], ['BH']], emitNormalizedBwdSplit),
  // dplr-bwd.ts: the generalized delta rule, token by token
  dplrBwdCols: (_d, cfg, tiles) => ({ wg: tiles.recurrentBV, grid: [[Math.ceil(cfg.V / tiles.recurrentBV)], ['SH'], [1]], emit: emitDplrBwdColumns }),
  dplrBwdRows: (_d, _cfg, tiles) => ({ wg: tiles.KP, grid: [[1], ['SH'], [1]], emit: emitDplrBwdRows }),
  dplrBwdSplit: fixed(64, (_d, cfg) => [[Math.ceil(cfg.K / 64)], ['T'], ['BH']], emitDplrBwdSplit),
};

/** The backward's stages for a variant, in dispatch order (chain kernels follow, one per input);
 * the tier (cfg) may fuse some. */
export function backwardStages(def: VariantDef, cfg?: CodegenConfig): KernelStage[] {
  if (def.correction === 'dplr') {
    if (def.roles.outputGate) {
      throw new ConfigError(`variant '${def.name}': the backward of the generalized delta rule (correction 'dplr') does not take an outputGate yet; apply the gate outside lae`);
    }
    return ['dplrBwdCols', 'dplrBwdRows', 'dplrBwdSplit', ...(def.l2norm.length ? (['normBwd'] as const) : [])];
  }
  if (def.normalize === 'exp') {
    if (def.roles.outputGate) {
      throw new ConfigError(`variant '${def.name}': the normalized form's backward does not take an outputGate yet; apply the gate outside lae`);
    }
    return ['normalizedBwd', 'normalizedBwdSplit', ...(def.l2norm.length ? (['normBwd'] as const) : [])];
  }
  const wyX2 = !(cfg && fragmentWyDk(def, cfg));
  const delta = def.correction === 'delta';
  return [
    ...(def.roles.outputGate ? (['outputGateBwd'] as const) : []),
    // Without the delta rule the reverse state scan splits into parallel per-chunk products
    // around an elementwise scan (bwd-dh.ts); with it, one sequential kernel.
    // The output's scores: the forward's prep keeps them where it computes them (scoresInPrep).
    ...(cfg && scoresInPrep(def, cfg) ? [] : (['bwdScores'] as const)), ...(cfg && fusedDu(def, cfg) ? [] : (['bwdDvLocal'] as const)), ...(delta ? (['bwdSeed', 'bwdScan'] as const) : (['bwdChunkState', 'bwdStateScan', 'bwdDu'] as const)), 'bwdInter', 'bwdDScores',
    ...(def.decay !== 'none' ? (['bwdChunkEnd'] as const) : []), 'bwdDq', 'bwdDk', ...(def.bonus === 'u' ? (['bwdBonus'] as const) : []),
    ...(delta ? (['wyDT', 'wyM', 'wyDA', 'wyDv', ...(wyX2 ? (['wyX2'] as const) : []), 'wyDk', 'wyDbeta'] as const) : []),
    ...(def.decay !== 'none' ? (['bwdGate'] as const) : []),
    ...(def.l2norm.length ? (['normBwd'] as const) : []),
  ];
}

const dimSize = (d: Dim, cfg: CodegenConfig): SizeExpr[number] => (d === 'K' ? cfg.K : d === 'V' ? cfg.V : d);

export function backwardBuffers(def: VariantDef, cfg: CodegenConfig): BufferDecl[] {
  const { K, V, chunk: C } = cfg;
  const DG = def.decay === 'diagonal' ? K : 1;
  const s = (name: string, elems: SizeExpr): BufferDecl => ({ name, kind: 'scratch', elems });
  const out: BufferDecl[] = def.normalize === 'exp' ? [
    { name: 'do', kind: 'seed', elems: ['B', 'T', 'H', V] },
    { name: 'dht', kind: 'state-in', elems: ['SH', K, stateColumns(def, V)] },
    // The state before each token; the role gradients in one buffer, then split.
    s('nstate', ['B', 'T', 'H', 3]), s('grad_all', [NORMALIZED_GRAD_ROLES.length, 'B', 'T', 'H']),
    s('grad_q', ['B', 'T', 'H', K]), s('grad_k', ['B', 'T', 'H', K]), s('grad_v', ['B', 'T', 'H', V]),
    ...(def.decay !== 'none' ? [s('grad_logDecay', ['B', 'T', 'H', DG])] : []),
    ...(def.bonus === 'u' ? [s('grad_u', ['B', 'T', 'H', K])] : []),
  ] : def.correction === 'dplr' ? [
    { name: 'do', kind: 'seed', elems: ['B', 'T', 'H', V] },
    { name: 'dht', kind: 'state-in', elems: ['SH', K, V] },
    // sa and dsa per token; S and dS at each chunk's boundary; a chunk's rows of S_{t-1}.
    s('sad', [2, 'B', 'T', 'H', V]), s('hsd', ['SH', 'NT', 2, K, V]), s('srows', ['SH', C, K, V]),
    s('grad_keys', [DPLR_KEY_ROLES.length, 'B', 'T', 'H', K]),
    ...DPLR_KEY_ROLES.map((r) => s(`grad_${r}`, ['B', 'T', 'H', K])), s('grad_v', ['B', 'T', 'H', V]),
    ...(def.decay !== 'none' ? [s('grad_logDecay', ['B', 'T', 'H', DG])] : []),
  ] : [
    { name: 'do', kind: 'seed', elems: ['B', 'T', 'H', V] },
    { name: 'dht', kind: 'state-in', elems: ['SH', K, V] },
    ...(scoresInPrep(def, cfg) ? [] : [s('aqk', ['BH', 'NT', C * C])]), s('daqk', ['BH', 'NT', C * C]), s('dhs', ['BH', 'NT', K, V]),
    // bwdInter's state terms of dq, dk and (delta rule) dW, one buffer (bwd-common.ts's inter).
    s('dinter', [def.correction === 'delta' ? 3 : 2, 'BH', 'T', K]),
    // The intra-chunk part of du; the delta rule keeps it in dU.
    ...(def.correction === 'delta' || fusedDu(def, cfg) ? [] : [s('dvl', ['BH', 'T', V])]),
    s('grad_q', ['B', 'T', 'H', K]), s('grad_k', ['B', 'T', 'H', K]), s('grad_v', ['B', 'T', 'H', V]),
  ];
  if (def.decay !== 'none' && def.correction !== 'dplr' && def.normalize !== 'exp') out.push(s('dbq', ['BH', 'T', K]), s('dbk', ['BH', 'T', K]), s('grad_logDecay', ['B', 'T', 'H', DG]));
  if (def.correction === 'delta') {
    // dU: the intra-chunk du (bwdDvLocal), then the scan's full one; dTA: wyDT's dT, which wyDA
    // overwrites with dA; M = dT T^T; X1 = T^T dU; X2 = T^T dW, which wyDk overwrites with
    // dbeta's key-side terms.
    out.push(s('dU', ['BH', 'T', V]), s('dTA', ['BH', 'NT', C * C]), s('M', ['BH', 'NT', C * C]),
      s('X1', ['BH', 'T', V]), s('X2', ['BH', 'T', K]), s('grad_beta', ['B', 'T', 'H']));
  }
  if (def.bonus === 'u' && def.normalize !== 'exp') out.push(s('grad_u', ['B', 'T', 'H', K]));
  if (def.roles.outputGate) out.push(s('dog', ['B', 'T', 'H', V]), s('grad_outputGate', ['B', 'T', 'H', V]));
  for (const i of def.inputs) {
    if (chainParted(i.dims)) out.push(s(`part_${i.name}`, [...i.dims.map((d) => dimSize(d, cfg)), CHAIN_PARTS]));
  }
  for (const i of def.inputs) {
    // An input read only as itself by one role: its gradient is that role's, with no copy.
    const alias = gradientAlias(def, cfg, i.name);
    out.push({ name: `grad_in_${i.name}`, kind: 'output', elems: i.dims.map((d) => dimSize(d, cfg)), ...(alias ? { aliasOf: `grad_${alias}` } : {}) });
  }
  out.push({ name: 'dh0', kind: 'output', elems: ['SH', K, stateColumns(def, V)] });
  return out;
}

export function emitBackwardKernels(def: VariantDef, cfg: CodegenConfig, tiles: Tiles): KernelDecl[] {
  validateConfig(cfg);
  const kernels: KernelDecl[] = [];
  const add = (stage: KernelStage, name: string, wg: number, grid: StageShape['grid'], emit: Emitter, wgX = 1, consts: Record<string, number> = {}) => {
    const ks = new KernelSource(def, cfg, tiles, stage, wg);
    const wgsl = ks.finish(name, { WG_X: wgX, ...consts }, emit(ks));
    kernels.push({ name, stage, workgroupSize: wg, grid, bindings: ks.bindings, wgsl });
  };
  for (const stage of backwardStages(def, cfg)) {
    const rule = STAGE_KERNELS[stage];
    if (!rule) throw new Error(`internal: backward stage '${stage}' has no kernel (codegen/backward.ts STAGE_KERNELS)`);
    const k = rule(def, cfg, tiles, stage);
    add(stage, `${def.name}_${stage}`, k.wg, k.grid, k.emit, k.wgX);
  }
  for (const input of def.inputs) {
    if (gradientAlias(def, cfg, input.name)) continue;
    const wg = chainReduces(input.dims) ? 256 : 64;
    add('chain', `${def.name}_chain_${input.name}`, wg, chainGrid(input.dims, cfg.K, cfg.V, wg) as [SizeExpr, SizeExpr, SizeExpr], (ks) => emitChain(ks, input.name), 1, { PARTS: CHAIN_PARTS });
    if (chainParted(input.dims)) {
      add('chainFinish', `${def.name}_chainFinish_${input.name}`, 64, chainFinishGrid(input.dims, cfg.K, cfg.V, 64) as [SizeExpr, SizeExpr, SizeExpr],
        (ks) => emitChainFinish(ks, input.name), 1, { PARTS: CHAIN_PARTS });
    }
  }
  return kernels;
}

export { chooseTiles };
