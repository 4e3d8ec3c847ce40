// The child process of `lae tune` (runtime/tune.ts): `node tune-worker.js <job JSON>`. It makes an
// engine of its own with one candidate tuning, times the job's variants, and prints one line,
// RESULT_MARK + JSON, on stdout. Some pipeline configurations crash Dawn's process; running each
// candidate here is what lets the tuner record that and go on. A 'probe' job only reports the
// adapter and tier.
import { planBackward, ConfigError, hasChunkedForm, memoryTierFor } from '../codegen/index.js';
import { VARIANT_NAMES } from '../variants/index.js';
import { createEngine, type Engine } from './engine.js';
import { prepareBackward } from './backward.js';
import { sampleInputs, sampleSeeds } from './sample.js';
import { timeEncoded, timeRun, type Timeable } from './timing.js';
import type { AdapterIdentity, Tuning } from './tuning-cache.js';
import type { TensorCoreOption, Tier } from './tier.js';
import { identityOf } from './device.js';

export const RESULT_MARK = '@@lae-tune-result ';
/** Test hook: a candidate whose label equals this variable's value aborts its process (as a
 * crash of Dawn's would) once its engine exists. */
export const CRASH_ENV = 'LAE_TUNE_TEST_CRASH';

export interface WorkerJob {
  mode: 'probe' | 'candidate';
  tensorCores: TensorCoreOption;
  label?: string;
  tuning?: Tuning;
  variants?: string[];
  shape?: { B: number; T: number; H: number; K: number; V: number };
  what?: 'forward' | 'train';
  repeat?: number;
  samples?: number;
}

export interface ProbeReport { adapter: AdapterIdentity; adapterName: string; tier: Tier; tierNote: string; memoryTier: number; timestamps: boolean }
export type CandidateReport =
  | { status: 'ok'; tier: Tier; timing: 'gpu timestamps' | 'wall time'; ms: Record<string, number>; misfits: string[] }
  | { status: 'does not fit'; tier: Tier; error: string };

/** Each tuned variant's plans (forward; backward too for 'train'): a ConfigError means this
 * tuning's layouts do not fit at this shape. Also the built-in variants that do not fit (the
 * winner should serve every variant, not only the tuned ones). */
function checkFit(engine: Engine, job: Required<Pick<WorkerJob, 'variants' | 'shape' | 'what'>>): { error?: string; misfits: string[] } {
  const plans = (name: string) => {
    const op = engine.variant(name);
    const plan = op.plan({ K: job.shape.K, V: job.shape.V });
    if (job.what === 'train') planBackward(op.def, plan.config);
  };
  for (const name of job.variants) {
    try {
      plans(name);
    } catch (e) {
      if (e instanceof ConfigError) return { error: `${name}: ${e.message}`, misfits: [] };
      throw e;
    }
  }
  const misfits: string[] = [];
  for (const name of VARIANT_NAMES.filter((n) => !job.variants.includes(n))) {
    try {
      if (hasChunkedForm(engine.variant(name).def)) plans(name);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      misfits.push(name);
    }
  }
  return { misfits };
}

/** ms of one forward (or forward + backward) of a variant on the engine. */
async function timeVariant(engine: Engine, name: string, job: Required<Pick<WorkerJob, 'shape' | 'what' | 'repeat' | 'samples'>>, gpuTimer: boolean): Promise<number> {
  const op = engine.variant(name);
  const inputs = sampleInputs(op.def, job.shape, 3, true);
  const fwd = await op.prepareForward(inputs, job.shape);
  try {
    if (job.what === 'forward') return await timeRun(fwd, job.repeat, job.samples, undefined, gpuTimer);
    const bwd = await prepareBackward(engine, op.def, fwd, sampleSeeds(op.def, job.shape));
    try {
      const both: Timeable = {
        execute: async (repeat = 1) => { for (let i = 0; i < repeat; i++) { await fwd.execute(); await bwd.execute(); } },
        timeGpu: (repeat) => timeEncoded(engine.device, (p) => { fwd.encode(p); bwd.encode(p); }, repeat),
      };
      return await timeRun(both, job.repeat, job.samples, undefined, gpuTimer);
    } finally {
      bwd.destroy();
    }
  } finally {
    fwd.destroy();
  }
}

export async function runJob(job: WorkerJob): Promise<ProbeReport | CandidateReport> {
  // Full-resolution timestamps (Dawn quantizes them by default), as `lae bench` asks.
  const engine = await createEngine({
    dawnFlags: ['disable-dawn-features=timestamp_quantization'], tensorCores: job.tensorCores, tuningCache: 'off',
    ...(job.tuning ? { tuning: job.tuning } : {}),
  });
  try {
    const timestamps = engine.device.features.has('timestamp-query');
    if (job.mode === 'probe') {
      return {
        adapter: engine.adapterInfo ?? identityOf(undefined), adapterName: engine.adapterName, tier: engine.tier, tierNote: engine.tierNote,
        memoryTier: memoryTierFor(engine.limits.maxComputeWorkgroupStorageSize) ?? 0, timestamps,
      };
    }
    if (job.label !== undefined && process.env[CRASH_ENV] === job.label) process.abort();
    const full = { variants: job.variants ?? [], shape: job.shape!, what: job.what ?? 'forward', repeat: job.repeat ?? 10, samples: job.samples ?? 5 } as const;
    const fit = checkFit(engine, full);
    if (fit.error !== undefined) return { status: 'does not fit', tier: engine.tier, error: fit.error };
    const ms: Record<string, number> = {};
    for (const name of full.variants) ms[name] = await timeVariant(engine, name, full, timestamps);
    return { status: 'ok', tier: engine.tier, timing: timestamps ? 'gpu timestamps' : 'wall time', ms, misfits: fit.misfits };
  } finally {
    engine.destroy();
  }
}

// Run as a script: the job is argv[2]; an error goes to stderr with exit code 1.
const self = process.argv[1] ?? '';
if (/tune-worker\.[jt]s$/.test(self)) {
  runJob(JSON.parse(process.argv[2] ?? '{}') as WorkerJob).then((report) => {
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(report)}\n`, () => process.exit(0));
  }, (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`, () => process.exit(1));
  });
}
