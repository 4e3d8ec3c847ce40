// What the demo page measures, apart from the page itself: one forward of a spec against the
// float64 reference (error, time per call, the plan's WGSL), and forward time against T.
import {
  referenceForward, relL2, sampleInputs, type Engine, type ForwardMode, type ProblemSize, type VariantDef,
} from '../../index.js';

export type ChunkSize = 16 | 32 | 64;

/** Bounds on the relative L2 error of o and ht against float64: the f32 tier's is the test
 * suite's (test/forward-random.test.ts); the tensor-core tiers round matmul operands to f16
 * (`lae demo` uses the same two). */
export function errorBound(tier: Engine['tier']): number {
  return tier === 'f32' ? 1e-4 : 3e-3;
}

export interface ForwardReport {
  errO: number;
  errHt: number;
  bound: number;
  /** Time of one forward on GPU-resident inputs, and how it was taken. */
  ms: number;
  timer: TimerKind;
  kernels: { name: string; wgsl: string }[];
}

export type TimerKind = 'GPU timestamps' | 'wall clock';

/** One forward of `def` on sampled inputs (with h0), compared with referenceForward, then timed. */
export async function checkForward(engine: Engine, def: VariantDef, size: ProblemSize, chunkSize: ChunkSize, mode: ForwardMode): Promise<ForwardReport> {
  const op = engine.variant(def);
  const inputs = sampleInputs(op.def, size, 7, true);
  const { h0, ...rest } = inputs;
  const ref = referenceForward(op.def, rest, size, { h0 });
  const got = await op.forward(inputs, { ...size, chunkSize, mode, poisonOutputs: true });
  const { ms, timer, kernels } = await timeForward(engine, def, size, chunkSize, mode, inputs);
  return { errO: relL2(got.o, ref.o), errHt: relL2(got.ht!, ref.ht), bound: errorBound(engine.tier), ms, timer, kernels };
}

/** ms per forward with the inputs already on the GPU: by timestamp queries where the device has
 * them (the median of several), else the wall time of a batch of forwards in one submit, sized to
 * take about 100 ms, divided by its count. */
export async function timeForward(
  engine: Engine, def: VariantDef, size: ProblemSize, chunkSize: ChunkSize, mode: ForwardMode,
  inputs = sampleInputs(def, size, 7, true),
): Promise<{ ms: number; timer: TimerKind; kernels: { name: string; wgsl: string }[] }> {
  const prepared = await engine.variant(def).prepareForward(inputs, { ...size, chunkSize, mode });
  try {
    const kernels = prepared.plan.kernels.map((k) => ({ name: k.name, wgsl: k.wgsl }));
    await prepared.execute(1); // the first run also builds the bind groups
    if (engine.device.features.has('timestamp-query')) return { ms: await prepared.timeGpu(7), timer: 'GPU timestamps', kernels };
    let t0 = performance.now();
    await prepared.execute(1);
    const once = performance.now() - t0;
    const repeat = Math.max(1, Math.min(50, Math.ceil(100 / Math.max(once, 0.01))));
    t0 = performance.now();
    await prepared.execute(repeat);
    return { ms: (performance.now() - t0) / repeat, timer: 'wall clock', kernels };
  } finally {
    prepared.destroy();
  }
}

export interface SweepPoint { mode: ForwardMode; T: number; ms: number }

/** Forward time against T for the chunked and the token-sequential kernels; `onPoint` sees each
 * point as it is measured, so the chart can grow while the sweep runs. */
export async function sweepT(
  engine: Engine, def: VariantDef, size: Omit<ProblemSize, 'T'>, Ts: readonly number[], chunkSize: ChunkSize,
  onPoint: (p: SweepPoint) => void,
): Promise<SweepPoint[]> {
  const points: SweepPoint[] = [];
  for (const T of Ts) {
    for (const mode of ['chunked', 'recurrent'] as const) {
      const { ms } = await timeForward(engine, def, { ...size, T }, chunkSize, mode);
      const p = { mode, T, ms };
      points.push(p);
      onPoint(p);
    }
  }
  return points;
}
