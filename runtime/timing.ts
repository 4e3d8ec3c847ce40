// GPU time of recorded work by timestamp queries: `repeat` compute passes, each timed from its
// beginning to its end; the median. Needs the device's 'timestamp-query' feature.
import { EngineError } from './errors.js';

export async function timeEncoded(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void, repeat: number): Promise<number> {
  if (!device.features.has('timestamp-query')) throw new EngineError('this device has no timestamp-query feature');
  const count = 2 * repeat;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    for (let r = 0; r < repeat; r++) {
      const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } });
      encode(pass);
      pass.end();
    }
    enc.resolveQuerySet(querySet, 0, count, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
    device.queue.submit([enc.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const ts = new BigInt64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    const perPass: number[] = [];
    for (let r = 0; r < repeat; r++) perPass.push(Number(ts[2 * r + 1]! - ts[2 * r]!) / 1e6);
    perPass.sort((a, b) => a - b);
    return perPass[Math.floor(repeat / 2)]!;
  } finally {
    querySet.destroy(); resolve.destroy(); readback.destroy();
  }
}
