// codegen's entry: a VariantDef and a config in, a KernelPlan (kernels with WGSL) out.
import type { VariantDef } from '../dsl/index.js';
import { stableStringify, stateColumns } from '../dsl/index.js';
import { KernelSource } from './kernels/common.js';
import { emitPrep } from './kernels/prep.js';
import { emitDeltaScan } from './kernels/delta-scan.js';
import { emitChunkState } from './kernels/chunk-state.js';
import { emitStateScan } from './kernels/state-scan.js';
import { emitOutput } from './kernels/output.js';
import { emitRecurrent } from './kernels/recurrent.js';
import { emitNormalizedRecurrent } from './kernels/normalized.js';
import { emitStep, stepLayout, STEP_WG } from './kernels/step.js';
import { emitPackOut } from './kernels/pack.js';
import { emitL2norm } from './kernels/l2norm.js';
import { FRAG_WG, type FragmentLowering } from './kernels/fragments.js';
import { emitTcOutput, tcOutputTileV } from './kernels/tc-output.js';
import { emitTcChunkStates, emitTcDeltaScan, emitTcDplrChunkState, emitTcOperands, tcDeltaLayout, tcDplrChunkStateLayout, tcStateTiles } from './kernels/tc-states.js';
import { emitTcDplrPrep, emitTcPrep, tcPrepLayout } from './kernels/tc-prep.js';
import { emitTcScoresStage } from './kernels/tc-scores-stage.js';
import { emitTcInverse } from './kernels/tc-inverse.js';
import { emitTcWyFactors, tcWyFactorsShape } from './kernels/tc-wy-factors.js';
import { backwardBuffers, emitBackwardKernels } from './backward.js';
import { fitStorageLimit } from './fit.js';
import {
  ConfigError, chooseTiles, normStages, normBuffers, type ForwardStage, forwardStages, scratchBuffers, validateConfig,
  type BufferDecl, type CodegenConfig, type KernelDecl, type KernelStage, type SizeExpr, type Tiles,
} from './plan.js';

export * from './plan.js';
export { PARAMS_FIELDS, INPUT_PREFIX, wgslVar, packParams, type ParamValues } from './kernels/common.js';
export { FRAGMENT_LOWERINGS, type FragmentLowering } from './kernels/fragments.js';

/** How the forward is computed: the chunked algorithm, or token by token (the baseline). */
export type ForwardMode = 'chunked' | 'recurrent';
/** The decode step: a state buffer updated in place, or slots of a state pool. */
export type StepMode = 'step' | 'stepPool';

export interface KernelPlan {
  readonly variant: string;
  readonly specHash: string;
  readonly mode: ForwardMode | StepMode | 'backward';
  readonly config: CodegenConfig;
  readonly tiles: Tiles;
  /** Everything the WGSL depends on: what the pipeline cache is keyed by. */
  readonly key: string;
  readonly buffers: readonly BufferDecl[];
  readonly kernels: readonly KernelDecl[];
}

const EMITTERS: Partial<Record<KernelStage, (ks: KernelSource) => string>> = {
  l2norm: emitL2norm, prep: emitPrep, chunkState: emitChunkState, stateScan: emitStateScan, deltaScan: emitDeltaScan,
  output: emitOutput, recurrent: emitTokenSequential, step: emitStepStage, stepPool: emitStepStage, packOut: emitPackOut,
};

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

function emitTokenSequential(ks: KernelSource): string {
  return ks.def.normalize === 'exp' ? emitNormalizedRecurrent(ks) : emitRecurrent(ks);
}

/** The decode step: step.ts's kernel, or for the forms it does not take (the generalized delta
 * rule, the normalized form) their token-sequential kernel with the state in place. */
function emitStepStage(ks: KernelSource): string {
  return hasChunkedForm(ks.def) ? emitStep(ks) : emitTokenSequential(ks);
}

/** Stages the tensor-core tier writes on the fragment layer; the others are the f32 tier's. Its
 * prep writes the state walk's f16 operands (and, for the delta rule, the WY factors). Its
 * plans have chunkState only for the generalized delta rule (the update's term k~^T V). */
function tensorCoreStage(cfg: CodegenConfig, stage: ForwardStage): boolean {
  if (!cfg.fragments) return false;
  return stage === 'chunkStates' || stage === 'deltaScan' || stage === 'output' || stage === 'prep' || stage === 'scores' || stage === 'inverse' || stage === 'wyFactors' || stage === 'chunkState';
}

const TC_EMITTERS: Partial<Record<ForwardStage, (ks: KernelSource) => string>> = {
  prep: (ks) => (ks.delta ? emitTcPrep(ks, ks.fragments()) : ks.dplr ? emitTcDplrPrep(ks, ks.fragments()) : (ks.fragments(), emitTcOperands(ks))),
  scores: (ks) => emitTcScoresStage(ks, ks.fragments()),
  // No fragments: the inverse is plain f32 WGSL.
  inverse: (ks) => emitTcInverse(ks),
  wyFactors: (ks) => emitTcWyFactors(ks, ks.fragments()),
  chunkState: (ks) => {
    if (!ks.dplr) throw new Error(`internal: the tensor-core tier's chunkState is the generalized delta rule's`);
    return emitTcDplrChunkState(ks, ks.fragments());
  },
  chunkStates: (ks) => emitTcChunkStates(ks, ks.fragments()),
  deltaScan: (ks) => emitTcDeltaScan(ks, ks.fragments()),
  output: (ks) => emitTcOutput(ks, ks.fragments()),
};

/** Workgroup size and grid of a tensor-core stage: four subgroups per workgroup. */
function tcStageShape(stage: ForwardStage, cfg: CodegenConfig, def: VariantDef): { wg: number; wgX: number; grid: [SizeExpr, SizeExpr, SizeExpr] } {
  const shape = (grid: [SizeExpr, SizeExpr, SizeExpr]) => ({ wg: FRAG_WG, wgX: FRAG_WG, grid });
  switch (stage) {
    case 'prep':
    case 'scores':
    case 'inverse': return shape([['NT'], ['BH'], [1]]);
    case 'wyFactors': return tcWyFactorsShape(cfg);
    case 'chunkState': return shape([[tcDplrChunkStateLayout(cfg).tiles], ['NT'], ['BH']]);
    case 'chunkStates': {
      const { BK, BV } = tcStateTiles(cfg.K, cfg.V);
      return shape([[ceilDiv(cfg.V, BV)], ['SH'], [ceilDiv(cfg.K, BK)]]);
    }
    case 'deltaScan': {
      const ks = new KernelSource(def, cfg, chooseTiles(cfg, def), stage, FRAG_WG);
      return shape([[ceilDiv(cfg.V, tcDeltaLayout(ks).BV)], ['SH'], [1]]);
    }
    case 'output': return shape([[ceilDiv(cfg.V, tcOutputTileV(cfg))], ['NT'], ['BH']]);
    default: throw new Error(`internal: ${stage} has no tensor-core form`);
  }
}

/** Workgroup size, the x-extent of its thread grid (for register-tiled kernels), and the grid. */
function stageShape(stage: KernelStage & ForwardStage, cfg: CodegenConfig, t: Tiles, def: VariantDef): { wg: number; wgX: number; grid: [SizeExpr, SizeExpr, SizeExpr] } {
  const C = cfg.chunk;
  switch (stage) {
    case 'prep': return { wg: 256, wgX: 16, grid: [['NT'], ['BH'], [1]] };
    case 'chunkState': {
      const wgX = Math.min(16, t.stateBV);
      return { wg: wgX * Math.min(16, t.KP), wgX, grid: [[ceilDiv(cfg.V, t.stateBV)], ['NT'], ['BH']] };
    }
    case 'stateScan': return { wg: 256, wgX: 256, grid: [[ceilDiv(cfg.K * cfg.V, 256)], ['SH'], [1]] };
    case 'deltaScan': {
      const wgX = Math.min(16, t.scanBV);
      return { wg: wgX * Math.min(16, t.KP, C), wgX, grid: [[ceilDiv(cfg.V, t.scanBV)], ['SH'], [1]] };
    }
    case 'output': {
      const wgX = Math.min(16, t.outBV);
      return { wg: wgX * Math.min(16, C), wgX, grid: [[ceilDiv(cfg.V, t.outBV)], ['NT'], ['BH']] };
    }
    case 'l2norm': return { wg: 64, wgX: 1, grid: [['T'], ['BH'], [1]] };
    case 'chunkStates':
    case 'scores':
    case 'inverse':
    case 'wyFactors': throw new Error(`internal: ${stage} is a tensor-core stage`);
    case 'packOut': return { wg: 64, wgX: 1, grid: [[ceilDiv(Math.ceil(cfg.V / 2), 64)], ['T'], ['BH']] };
    case 'recurrent': return { wg: t.recurrentBV, wgX: 1, grid: [[ceilDiv(cfg.V, t.recurrentBV)], ['SH'], [1]] };
    case 'step':
    case 'stepPool': return hasChunkedForm(def)
      ? { wg: STEP_WG, wgX: 1, grid: [[ceilDiv(cfg.V, stepLayout(def, cfg).BV)], ['SH'], [1]] }
      : { wg: t.recurrentBV, wgX: 1, grid: [[ceilDiv(cfg.V, t.recurrentBV)], ['SH'], [1]] };
  }
}

export function planKey(def: VariantDef, cfg: CodegenConfig, mode: ForwardMode | StepMode | 'backward'): string {
  return `${def.name}:${def.hash}:${mode}:${stableStringify(cfg)}`;
}

function emitKernels(def: VariantDef, cfg: CodegenConfig, tiles: Tiles, stages: readonly ForwardStage[]): KernelDecl[] {
  return stages.map((stage): KernelDecl => {
    const tc = tensorCoreStage(cfg, stage);
    const { wg, wgX, grid } = tc ? tcStageShape(stage, cfg, def) : stageShape(stage, cfg, tiles, def);
    const ks = new KernelSource(def, cfg, tiles, stage, wg);
    const name = `${def.name}_${stage}`;
    const body = (tc ? TC_EMITTERS : EMITTERS)[stage]!(ks);
    const wgsl = ks.finish(name, { WG_X: wgX }, body);
    return { name, stage, workgroupSize: wg, grid, bindings: ks.bindings, wgsl };
  });
}

/** The tables of packed sequences (u32, four per entry; filled by the runtime from cu_seqlens):
 * per chunk (t0, rows, sequence, last), for the chunked kernels; per sequence (first chunk, end
 * chunk, first token, end token), for the scans and the token-sequential kernel. */
function sequenceTables(cfg: CodegenConfig, mode: ForwardMode | StepMode): BufferDecl[] {
  if (!cfg.varlen) return [];
  const seq: BufferDecl = { name: 'seq_table', kind: 'indices', elems: ['S', 4] };
  return mode === 'chunked' ? [{ name: 'chunk_table', kind: 'indices', elems: ['NT', 4] }, seq] : [seq];
}

/** The buffers of a forward plan (before fitStorageLimit adds its pack). */
function forwardBuffers(def: VariantDef, cfg: CodegenConfig, mode: ForwardMode): BufferDecl[] {
  return [
    ...def.inputs.map((i): BufferDecl => ({ name: `in_${i.name}`, kind: 'input', elems: [] })),
    { name: 'h0', kind: 'state-in', elems: ['SH', cfg.K, stateColumns(def, cfg.V)] },
    { name: 'o', kind: 'output', elems: ['B', 'T', 'H', cfg.V] },
    { name: 'ht', kind: 'output', elems: ['SH', cfg.K, stateColumns(def, cfg.V)] },
    ...sequenceTables(cfg, mode),
    ...(cfg.outputDtype ? [{ name: 'o_packed', kind: 'output', elems: ['B', 'T', 'H', Math.ceil(cfg.V / 2)] } as BufferDecl] : []),
    ...normBuffers(def),
    ...(mode === 'chunked' ? scratchBuffers(def, cfg) : []),
  ];
}

/** fitStorageLimit over a plan's kernels: the tensor-core tier's stay as they are. */
function fit(def: VariantDef, cfg: CodegenConfig, tiles: Tiles, mode: string, kernels: KernelDecl[], buffers: BufferDecl[], external: BufferDecl[] = []) {
  const fitted = fitStorageLimit(def, cfg, tiles, kernels, buffers, {
    mode, external, packAt: kernels[0]?.stage === 'l2norm' ? 1 : 0,
    fixed: (k) => tensorCoreStage(cfg, k.stage as ForwardStage),
  });
  return { kernels: fitted.kernels, buffers: [...buffers, ...fitted.buffers] };
}

/** Whether the tensor-core delta rule's prep leaves the triangular inverse to a stage of its own
 * (tc-prep.ts: where the fused kernel does not fit the first layout budget). */
function prepSplit(def: VariantDef, cfg: CodegenConfig): boolean {
  if (!cfg.fragments || def.correction !== 'delta') return false;
  return !tcPrepLayout(new KernelSource(def, cfg, chooseTiles(cfg, def), 'prep', FRAG_WG)).fused;
}

export function planForward(def: VariantDef, cfg: CodegenConfig, mode: ForwardMode = 'chunked'): KernelPlan {
  validateConfig(cfg);
  if (mode === 'chunked' && !hasChunkedForward(def, cfg)) {
    throw new ConfigError(dplrChunkable(def)
      ? `variant '${def.name}' (correction 'dplr') has its chunked forward on the tensor-core tier only (fragments 'subgroup-matrix' or 'portable'); use mode 'recurrent' on the f32 tier`
      : `variant '${def.name}' (correction '${def.correction}') has no chunked forward yet; use mode 'recurrent' (the token-sequential kernel)`);
  }
  const tiles = chooseTiles(cfg, def);
  const pack: ForwardStage[] = cfg.outputDtype ? ['packOut'] : [];
  const { kernels, buffers } = fit(def, cfg, tiles, mode,
    emitKernels(def, cfg, tiles, [...(mode === 'chunked' ? forwardStages(def, cfg, prepSplit(def, cfg)) : [...normStages(def), 'recurrent' as const]), ...pack]),
    forwardBuffers(def, cfg, mode));
  return { variant: def.name, specHash: def.hash, mode, config: cfg, tiles, key: planKey(def, cfg, mode), buffers, kernels };
}

/** Whether a spec has the chunked forward and backward in every tier; the generalized delta
 * rule and the normalized form run token by token (the former's forward also chunked on the
 * tensor-core tier: hasChunkedForward). */
export function hasChunkedForm(def: VariantDef): boolean {
  return def.correction !== 'dplr' && def.normalize !== 'exp';
}

/** Whether the generalized delta rule's chunked forward (tensor-core tier) takes this spec: a
 * per-key decay, the K x V state, no bonus and no output roles (runtime/reference-chunked-dplr.ts). */
export function dplrChunkable(def: VariantDef): boolean {
  return def.correction === 'dplr' && def.decay === 'diagonal' && def.stateLayout === 'kv' && def.bonus === 'none'
    && !def.roles.outputAdd && !def.roles.outputGate && def.normalize !== 'exp';
}

/** Whether a config has the chunked forward for a spec: hasChunkedForm's, and the generalized
 * delta rule's on the tensor-core tier. Its backward still follows the token-sequential forward. */
export function hasChunkedForward(def: VariantDef, cfg: { readonly fragments?: FragmentLowering }): boolean {
  return hasChunkedForm(def) || (cfg.fragments !== undefined && dplrChunkable(def));
}

/** Whether a spec has a backward at these head dims: the normalized form's takes K = V = 1 only
 * (RWKV-4's channels as heads). */
export function hasBackward(def: VariantDef, dims: { K: number; V: number }): boolean {
  return def.normalize !== 'exp' || (dims.K === 1 && dims.V === 1);
}

/** The decode step: T (= N tokens per sequence) steps of the recurrence from `state`, which is
 * updated in place; with 'stepPool', sequence b's state is slot idx[b] of a pool. One kernel
 * (codegen/kernels/step.ts; the L2 norms are fused into it), then the 16-bit packing of o if
 * asked for. The token-sequential forms step with their forward's kernel instead (after the
 * L2-norm stage, as their forward), f32 state only. */
export function planStep(def: VariantDef, cfg: CodegenConfig, mode: StepMode = 'step'): KernelPlan {
  validateConfig(cfg);
  const own = !hasChunkedForm(def);
  if (own && cfg.stateDtype !== undefined) {
    throw new ConfigError(`variant '${def.name}' (correction '${def.correction}', normalize '${def.normalize}') steps an f32 state only; stateDtype ${JSON.stringify(cfg.stateDtype)} is for step.ts's kernel`);
  }
  const tiles = chooseTiles(cfg, def);
  const { kernels, buffers } = fit(def, cfg, tiles, mode, emitKernels(def, cfg, tiles, [...(own ? normStages(def) : []), mode, ...(cfg.outputDtype ? ['packOut' as const] : [])]), [
    ...(own ? normBuffers(def) : []),
    ...def.inputs.map((i): BufferDecl => ({ name: `in_${i.name}`, kind: 'input', elems: [] })),
    { name: 'state', kind: 'state-inout', elems: [] },
    ...(mode === 'stepPool' ? [{ name: 'idx', kind: 'indices', elems: ['S'] } as BufferDecl] : []),
    ...sequenceTables(cfg, mode),
    { name: 'o', kind: 'output', elems: ['B', 'T', 'H', cfg.V] },
    ...(cfg.outputDtype ? [{ name: 'o_packed', kind: 'output', elems: ['B', 'T', 'H', Math.ceil(cfg.V / 2)] } as BufferDecl] : []),
  ]);
  return { variant: def.name, specHash: def.hash, mode, config: cfg, tiles, key: planKey(def, cfg, mode), buffers, kernels };
}

/** The backward: kernels run after a chunked forward with the same config, reading its buffers
 * (inputs, hs, gcum, w, u, vnew, tmat, ht) by name, and writing `grad_in_<input>` and dh0. */
export function planBackward(def: VariantDef, cfg: CodegenConfig): KernelPlan {
  validateConfig(cfg);
  if (!hasBackward(def, cfg)) {
    throw new ConfigError(`variant '${def.name}': the normalized form's backward (normalize 'exp') takes K = V = 1 for now (RWKV-4: channels as heads), got K = ${cfg.K}, V = ${cfg.V}`);
  }
  const tiles = chooseTiles(cfg, def);
  const { kernels, buffers } = fit(def, cfg, tiles, 'backward', emitBackwardKernels(def, cfg, tiles), backwardBuffers(def, cfg),
    forwardBuffers(def, cfg, hasChunkedForm(def) ? 'chunked' : 'recurrent').map((b) => (b.kind === 'input' ? b : { ...b, kind: 'forward' as const })));
  return { variant: def.name, specHash: def.hash, mode: 'backward', config: cfg, tiles, key: planKey(def, cfg, 'backward'), buffers, kernels };
}
export { checkPlan, checkLimits, kernelUsage, workgroupBytes, DEFAULT_LIMITS, type DeviceLimits, type KernelUsage, type LimitName, type LimitViolation } from './check.js';
