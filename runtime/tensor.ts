// GPU-resident f32 tensors: upload, read back, and a shape that travels with the buffer.
import { numel } from '../dsl/index.js';

export class GpuTensor {
  constructor(
    readonly device: GPUDevice,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly name: string,
  ) {}

  get length(): number { return numel(this.shape); }

  static upload(device: GPUDevice, name: string, data: Float32Array, shape: readonly number[], extraUsage = 0): GpuTensor {
    const buffer = device.createBuffer({
      label: name,
      size: Math.max(16, alignTo(data.byteLength, 16)),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
      mappedAtCreation: true,
    });
    new Float32Array(buffer.getMappedRange(0, data.byteLength)).set(data);
    buffer.unmap();
    return new GpuTensor(device, buffer, shape, name);
  }

  /** Raw bytes (16-bit floats packed in u32 words, say); `shape` counts logical elements. */
  static uploadBytes(device: GPUDevice, name: string, data: Uint8Array, shape: readonly number[]): GpuTensor {
    const buffer = device.createBuffer({
      label: name,
      size: Math.max(16, alignTo(data.byteLength, 16)),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange(0, data.byteLength)).set(data);
    buffer.unmap();
    return new GpuTensor(device, buffer, shape, name);
  }

  /** Copies `bytes` bytes of the buffer back to the host, uninterpreted. */
  async readBytes(bytes: number): Promise<Uint8Array> {
    const size = Math.max(16, alignTo(bytes, 4));
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffer, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Uint8Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  static empty(device: GPUDevice, name: string, shape: readonly number[], fill?: number): GpuTensor {
    const n = numel(shape);
    const buffer = device.createBuffer({
      label: name,
      size: Math.max(16, alignTo(n * 4, 16)),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: fill !== undefined,
    });
    if (fill !== undefined) {
      new Float32Array(buffer.getMappedRange()).fill(fill);
      buffer.unmap();
    }
    return new GpuTensor(device, buffer, shape, name);
  }

  /** Copies the tensor back to the host. */
  async read(): Promise<Float32Array> {
    const bytes = this.length * 4;
    const staging = this.device.createBuffer({ size: Math.max(16, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffer, 0, staging, 0, Math.max(16, alignTo(bytes, 4)));
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  destroy(): void { this.buffer.destroy(); }
}

export const alignTo = (n: number, a: number) => Math.ceil(n / a) * a;
