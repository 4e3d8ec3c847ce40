// Timing recorded GPU work by timestamp queries (submitting it with its errors checked is
// runtime/plan-run.ts's submit).
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
