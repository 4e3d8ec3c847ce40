// The training benchmark: forward + backward (the forward with its buffers kept, then the
// backward, in one compute pass); the decode step's is bench/step.ts. GPU time by
// timestamp queries, after a warm-up, the better of two medians (as the forward bench).
import type { Engine } from '../runtime/engine.js';
import { prepareBackward } from '../runtime/backward.js';
import { timeEncoded } from '../runtime/timing.js';
import { sampleInputs, sampleSeeds } from '../runtime/sample.js';
import { VARIANT_NAMES, type VariantName } from '../variants/index.js';
import type { ProblemSize } from '../dsl/index.js';
import type { StorageDtype } from '../runtime/dtypes.js';
import { allDtypes } from './forward.js';

/** FLA fwd+bwd ms, bf16, (B,T,H,D) = (4,2048,16,128): H100 (helion's BENCHMARKS.md) for linear_attn
 * and retention; B200 (the project's history) for the rest; see ../shared/anchors. */
export const FLA_FWD_BWD_MS_4_2048_16: Partial<Record<VariantName, { ms: number; card: string }>> = {
  linear_attn: { ms: 1.547, card: 'H100' }, retention: { ms: 1.225, card: 'H100' },
  simple_gla: { ms: 1.273, card: 'B200' }, gla: { ms: 1.540, card: 'B200' }, delta_rule: { ms: 1.658, card: 'B200' },
  gated_delta_rule: { ms: 1.814, card: 'B200' }, kda: { ms: 2.138, card: 'B200' },
};

/** FLA fwd+bwd ms at (B,H,T,K=V) = (1,32,4096,128), bf16, on an H200 beside lae (2026-12-01, anchors). */
export const FLA_FWD_BWD_MS_1_32_4096: Partial<Record<VariantName, { ms: number; card: string }>> = {
  simple_gla: { ms: 1.708, card: 'H200' }, gla: { ms: 2.567, card: 'H200' }, delta_rule: { ms: 2.058, card: 'H200' },
  gated_delta_rule: { ms: 2.259, card: 'H200' }, kda: { ms: 2.588, card: 'H200' },
};

export const TRAIN_SHAPES: ProblemSize[] = [
  { B: 1, H: 32, T: 4096, K: 128, V: 128 },
  { B: 4, H: 16, T: 2048, K: 128, V: 128 },
];

export interface TrainRow {
  variant: string;
  dtype: StorageDtype; B: number; H: number; T: number; K: number; V: number;
  forwardMs: number; backwardMs: number; forwardBackwardMs: number;
  fla: { ms: number; card: string } | null;
  kernels?: Record<string, number>;
}

async function warm(run: () => Promise<void>) {
  const t0 = performance.now();
  do await run(); while (performance.now() - t0 < 400);
}
const best = async (f: () => Promise<number>) => Math.min(await f(), await f());

export async function benchTrain(engine: Engine, opts: { variants?: string[]; shapes?: ProblemSize[]; repeat?: number; breakdown?: boolean; dtype?: StorageDtype; log?: (l: string) => void } = {}): Promise<TrainRow[]> {
  const rows: TrainRow[] = [];
  const repeat = opts.repeat ?? 20;
  for (const shape of opts.shapes ?? TRAIN_SHAPES) {
    for (const name of opts.variants ?? VARIANT_NAMES) {
      const op = engine.variant(name);
      const inputs = sampleInputs(op.def, shape, 3, true);
      const fwd = await op.prepareForward(inputs, { ...shape, chunkSize: 64, dtypes: allDtypes(op.def, opts.dtype) });
      const bwd = await prepareBackward(engine, op.def, fwd, sampleSeeds(op.def, shape));
      try {
        await warm(async () => { await fwd.execute(); await bwd.execute(); });
        const device = engine.device;
        const forwardMs = await best(() => timeEncoded(device, fwd.encode, repeat));
        const backwardMs = await best(() => bwd.timeGpu(repeat));
        const forwardBackwardMs = await best(() => timeEncoded(device, (p) => { fwd.encode(p); bwd.encode(p); }, repeat));
        let kernels: Record<string, number> | undefined;
        if (opts.breakdown) {
          kernels = {};
          for (const k of bwd.plan.kernels) {
            const i = bwd.plan.kernels.indexOf(k);
            // One kernel alone, on the inputs a whole run leaves: the kernels timed before it ran
            // alone many times, and some add into buffers they read, so their values drift run
            // by run (delta_rule's dW left f16's range after the earlier kernels' loops, and its
            // wyDk then timed its exact path: 3.9 ms against 0.89 after a whole run, 2026-12-02).
            await fwd.execute();
            await bwd.execute();
            kernels[k.stage === 'chain' ? k.name.replace(`${name}_`, '') : k.stage] = await timeEncoded(device, (p) => {
              encodeOne(bwd, p, i);
            }, repeat);
          }
        }
        const fla = shape.K !== 128 || shape.V !== 128 ? null
          : shape.B === 4 && shape.T === 2048 && shape.H === 16 ? FLA_FWD_BWD_MS_4_2048_16[name as VariantName] ?? null
            : shape.B === 1 && shape.T === 4096 && shape.H === 32 ? FLA_FWD_BWD_MS_1_32_4096[name as VariantName] ?? null : null;
        const row: TrainRow = { variant: name, dtype: opts.dtype ?? 'f32', ...shape, forwardMs, backwardMs, forwardBackwardMs, fla, kernels };
        rows.push(row);
        opts.log?.(formatTrainRow(row));
      } finally {
        bwd.destroy();
        fwd.destroy();
      }
    }
  }
  return rows;
}

/** Records only kernel `i` of a prepared backward (for the per-kernel breakdown). */
function encodeOne(bwd: { encode(p: GPUComputePassEncoder): void }, pass: GPUComputePassEncoder, i: number) {
  let n = 0;
  const proxy = new Proxy(pass, {
    get(target, prop) {
      if (prop === 'dispatchWorkgroups') {
        return (...args: [number, number?, number?]) => { if (n++ === i) target.dispatchWorkgroups(...args); };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  bwd.encode(proxy);
}

export const TRAIN_HEADER = '| variant | B,H,T,K,V | forward ms | backward ms | fwd+bwd ms | FLA fwd+bwd bf16 ms (card) | lae/FLA time |\n|---|---|---|---|---|---|---|';
export function formatTrainRow(r: TrainRow): string {
  return `| ${r.variant} | ${r.B},${r.H},${r.T},${r.K},${r.V} | ${r.forwardMs.toFixed(3)} | ${r.backwardMs.toFixed(3)} | ${r.forwardBackwardMs.toFixed(3)} | ` +
    `${r.fla ? `${r.fla.ms} (${r.fla.card})` : '-'} | ${r.fla ? `${(r.forwardBackwardMs / r.fla.ms).toFixed(1)}x` : '-'} |` +
    (r.kernels ? ` ${Object.entries(r.kernels).map(([k, ms]) => `${k} ${ms.toFixed(3)}`).join(', ')} |` : '');
}

