// Timing recorded GPU work by timestamp queries (submitting it with its errors checked is
// runtime/plan-run.ts's submit), and timing a prepared run with a warm-up (the benchmarks and
// `lae tune`).
import { EngineError } from './errors.js';

type Record = (pass: GPUComputePassEncoder) => void;

/** GPU ms of recorded work, the median over `repeat` runs. Each run is one compute pass, or the
 * given passes in order, timed from the first's beginning to the last's end. Needs the
 * device's 'timestamp-query' feature. */
export async function timeEncoded(device: GPUDevice, passes: Record | readonly Record[], repeat: number): Promise<number> {
  if (!device.features.has('timestamp-query')) throw new EngineError('this device has no timestamp-query feature');
  const list = typeof passes === 'function' ? [passes] : passes;
  const count = 2 * repeat;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    for (let r = 0; r < repeat; r++) {
      list.forEach((record, i) => {
        const first = i === 0;
        const last = i === list.length - 1;
        const pass = enc.beginComputePass(first || last ? {
          timestampWrites: {
            querySet,
            ...(first ? { beginningOfPassWriteIndex: 2 * r } : {}),
            ...(last ? { endOfPassWriteIndex: 2 * r + 1 } : {}),
          },
        } : {});
        record(pass);
        pass.end();
      });
    }
    enc.resolveQuerySet(querySet, 0, count, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
    device.queue.submit([enc.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const ts = new BigInt64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    const perRun: number[] = [];
    for (let r = 0; r < repeat; r++) perRun.push(Number(ts[2 * r + 1]! - ts[2 * r]!) / 1e6);
    perRun.sort((a, b) => a - b);
    return perRun[Math.floor(repeat / 2)]!;
  } finally {
    querySet.destroy(); resolve.destroy(); readback.destroy();
  }
}

/** What timeRun times: a prepared run (PreparedForward, or a forward and backward together). */
export interface Timeable {
  execute(repeat?: number, only?: number): Promise<void>;
  timeGpu(repeat: number, only?: number, split?: boolean): Promise<number>;
}

/** ms of one run: GPU time by timestamp queries where the device has them (gpuTimer), else wall
 * time of batched submits (`samples` submits of `repeat` runs, the median per run). */
export async function timeRun(run: Timeable, repeat: number, samples: number, only?: number, gpuTimer = true): Promise<number> {
  // Warm-up: produces every kernel's inputs, and runs the GPU for a while so its clocks are up
  // (without it the first timed forwards read up to 2x slow on the H100).
  const t0 = performance.now();
  do await run.execute(1); while (performance.now() - t0 < 400);
  if (gpuTimer) {
    // Two medians, the better one: a clock dip during one of them shows as a 2x outlier.
    const n = Math.max(3, repeat * samples);
    return Math.min(await run.timeGpu(n, only), await run.timeGpu(n, only));
  }
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await run.execute(repeat, only);
    times.push((performance.now() - t0) / repeat);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
