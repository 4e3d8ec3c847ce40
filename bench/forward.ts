// Forward-pass benchmark: the chunked kernels against the token-sequential baseline and the f32
// arithmetic ceiling, at the seed shapes. GPU work only: inputs are uploaded once, then R
// forwards go in one command buffer and the wall time to completion is divided by R.
import type { Engine } from '../runtime/engine.js';
import { hasChunkedForm } from '../codegen/index.js';
import { sampleInputs } from '../runtime/sample.js';
import { VARIANT_NAMES, VARIANTS, type VariantName } from '../variants/index.js';
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import type { StorageDtype } from '../runtime/dtypes.js';
import { timeRun } from '../runtime/timing.js';

/** WGSL f32 throughput measured on the H100 (register-tiled matmul, see docs): the ceiling. */
export const WGSL_F32_CEILING_TFLOPS = 30;
/** FLA's forward at (B,H,T,K=V) = (1,32,4096,128), bf16, median of do_bench: on an H200 beside lae
 * (2026-12-01) where measured, else on an H100 (2026-11-25); ../shared/anchors has both tables. */
export const FLA_FWD_MS_T4096: Partial<Record<VariantName, { ms: number; card: string }>> = {
  linear_attn: { ms: 0.137, card: 'H100' }, simple_gla: { ms: 0.295, card: 'H200' }, gla: { ms: 0.857, card: 'H200' },
  delta_rule: { ms: 0.488, card: 'H200' }, gated_delta_rule: { ms: 0.481, card: 'H200' }, kda: { ms: 0.523, card: 'H200' },
};

export interface BenchRow {
  variant: string;
  dtype: StorageDtype;
  B: number; H: number; T: number; K: number; V: number;
  /** null for a spec without a chunked form (rwkv7, rwkv4: token by token only). */
  chunkedMs: number | null;
  recurrentMs: number | null;
  gflop: number;
  tflops: number;
  ceilingMs: number;
  speedupVsRecurrent: number | null;
  flaMs: number | null;
  flaCard?: string;
  /** Per-kernel ms, each timed alone (with --breakdown). */
  kernels?: Record<string, number>;
}

/** Useful flops of one forward: state terms 4KV, causal intra terms C(K+V), plus the delta
 * rule's K K^T, inverse, W, U and W S_n per token and head. */
export function forwardFlops(def: VariantDef, s: ProblemSize, C: number): number {
  let perToken = 4 * s.K * s.V + C * (s.K + s.V);
  // The generalized delta rule's a^T S and b (a^T S)^T, token by token.
  if (def.correction === 'dplr') perToken += 4 * s.K * s.V;
  if (def.correction === 'delta') perToken += C * s.K + C * C / 3 + C * (s.K + s.V) + 2 * s.K * s.V;
  return perToken * s.B * s.H * s.T;
}

export interface BenchOptions {
  variants?: string[];
  shapes?: ProblemSize[];
  chunk?: 16 | 32 | 64;
  repeat?: number;
  samples?: number;
  /** Skip the token-sequential baseline above this T (it is slow on software adapters). */
  recurrentMaxT?: number;
  log?: (line: string) => void;
  /** Also time each kernel of the chunked plan alone. */
  breakdown?: boolean;
  /** Storage of every input and o (compute stays f32); default f32. */
  dtype?: StorageDtype;
}

/** dtypes for every input of a variant and o, or undefined for f32. */
export function allDtypes(def: VariantDef, dtype: StorageDtype | undefined): Record<string, StorageDtype> | undefined {
  if (!dtype || dtype === 'f32') return undefined;
  return { ...Object.fromEntries(def.inputs.map((i) => [i.name, dtype])), o: dtype };
}

export const SEED_SHAPES: ProblemSize[] = [
  { B: 1, H: 32, T: 2048, K: 128, V: 128 },
  { B: 1, H: 32, T: 4096, K: 128, V: 128 },
];

export async function benchForward(engine: Engine, opts: BenchOptions = {}): Promise<BenchRow[]> {
  const names = opts.variants ?? VARIANT_NAMES;
  const shapes = opts.shapes ?? SEED_SHAPES;
  const chunk = opts.chunk ?? 64;
  const gpuTimer = engine.device.features.has('timestamp-query');
  opts.log?.(`timing: ${gpuTimer ? 'GPU timestamp queries, median per forward' : 'wall time of batched submits (no timestamp-query)'}`);
  const rows: BenchRow[] = [];
  for (const shape of shapes) {
    for (const name of names) {
      const op = engine.variant(name);
      const inputs = sampleInputs(op.def, shape, 3, true);
      const dtypes = allDtypes(op.def, opts.dtype);
      if (op.inferenceMode !== 'chunked') {
        // Token by token only (on this tier): the one forward it has, timed like the others' chunked one.
        const rec = await op.prepareForward(inputs, { ...shape, mode: 'recurrent', dtypes });
        const ms = await timeRun(rec, opts.repeat ?? 10, opts.samples ?? 7, undefined, gpuTimer);
        rec.destroy();
        const flops = forwardFlops(op.def, shape, 1);
        const row: BenchRow = {
          variant: name, dtype: opts.dtype ?? 'f32', ...shape, chunkedMs: null, recurrentMs: ms, gflop: flops / 1e9,
          tflops: flops / (ms * 1e-3) / 1e12, ceilingMs: flops / (WGSL_F32_CEILING_TFLOPS * 1e12) * 1e3, speedupVsRecurrent: null, flaMs: null,
        };
        rows.push(row);
        opts.log?.(formatRow(row));
        continue;
      }
      const chunked = await op.prepareForward(inputs, { ...shape, chunkSize: chunk, dtypes });
      const chunkedMs = await timeRun(chunked, opts.repeat ?? 10, opts.samples ?? 7, undefined, gpuTimer);
      let kernels: Record<string, number> | undefined;
      if (opts.breakdown) {
        kernels = {};
        if (gpuTimer) kernels.splitPasses = await chunked.timeGpu(Math.max(3, (opts.repeat ?? 10) * (opts.samples ?? 7)), undefined, true);
        for (const [i, k] of chunked.plan.kernels.entries()) {
          kernels[k.stage] = await timeRun(chunked, opts.repeat ?? 10, opts.samples ?? 7, i, gpuTimer);
        }
      }
      chunked.destroy();
      let recurrentMs: number | null = null;
      if (shape.T <= (opts.recurrentMaxT ?? Infinity)) {
        const rec = await op.prepareForward(inputs, { ...shape, mode: 'recurrent', dtypes });
        recurrentMs = await timeRun(rec, 2, 3, undefined, gpuTimer);
        rec.destroy();
      }
      const flops = forwardFlops(op.def, shape, chunk);
      const fla = shape.B === 1 && shape.H === 32 && shape.T === 4096 && shape.K === 128 && shape.V === 128
        ? FLA_FWD_MS_T4096[name as VariantName] ?? null : null;
      const row: BenchRow = {
        variant: name, dtype: opts.dtype ?? 'f32', ...shape, chunkedMs, recurrentMs,
        gflop: flops / 1e9, tflops: flops / (chunkedMs * 1e-3) / 1e12,
        ceilingMs: flops / (WGSL_F32_CEILING_TFLOPS * 1e12) * 1e3,
        speedupVsRecurrent: recurrentMs === null ? null : recurrentMs / chunkedMs,
        flaMs: fla?.ms ?? null, ...(fla ? { flaCard: fla.card } : {}), kernels,
      };
      rows.push(row);
      opts.log?.(formatRow(row));
    }
  }
  return rows;
}

export const TABLE_HEADER =
  '| variant | B,H,T,K,V | chunked ms | token-seq ms | speedup vs token-seq | TFLOP/s | % of 30 TFLOP/s ceiling | FLA bf16 ms (card) | lae/FLA time |\n' +
  '|---|---|---|---|---|---|---|---|---|';

export function formatRow(r: BenchRow): string {
  const f = (x: number | null, d = 3) => (x === null ? '-' : x.toFixed(d));
  return `| ${r.variant} | ${r.B},${r.H},${r.T},${r.K},${r.V} | ${f(r.chunkedMs)} | ${f(r.recurrentMs)} | ` +
    `${r.speedupVsRecurrent === null ? '-' : `${r.speedupVsRecurrent.toFixed(1)}x`} | ${r.tflops.toFixed(2)} | ` +
    `${(100 * r.ceilingMs / (r.chunkedMs ?? r.recurrentMs!)).toFixed(1)}% | ${r.flaMs === null ? '-' : `${f(r.flaMs)} (${r.flaCard})`} | ${r.flaMs && r.chunkedMs !== null ? `${(r.chunkedMs / r.flaMs).toFixed(1)}x` : '-'} |` +
    (r.kernels ? ` ${Object.entries(r.kernels).map(([k, ms]) => `${k} ${ms.toFixed(3)}`).join(', ')} |` : '');
}

export { VARIANTS };
