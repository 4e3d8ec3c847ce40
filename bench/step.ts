// The decode-step benchmark: one token per sequence on a GPU-resident state. Per variant and
// batch it reports
//   - GPU time per step by timestamp queries: one compute pass per step (what a lone step
//     costs), and STEPS_PER_PASS steps recorded back to back in one pass (what a model's many
//     layers cost per step, the pass's begin/end shared), each the best of three medians, after 300 ms of the same work;
//   - the state traffic this implies (B*H*K*V f32 read and written) in GB/s, and as a fraction
//     of a plain vec4 copy kernel's rate over the same bytes on the same device (the ceiling);
//   - host time per call (wall clock, mean over a loop): `op.step` with host inputs and a
//     GpuTensor state (upload, build, submit, wait, read o back), a prepared step's execute()
//     (submit and wait), and encodeStep (recording only, no submit), plus the wall time per
//     step of STEPS_PER_PASS encodeStep calls submitted in one command buffer and waited for.
import type { Engine } from '../runtime/engine.js';
import { timeEncoded } from '../runtime/timing.js';
import { GpuTensor } from '../runtime/tensor.js';
import { sampleInputs } from '../runtime/sample.js';
import { storageBytes } from '../runtime/dtypes.js';
import { VARIANT_NAMES } from '../variants/index.js';

/** Steps per compute pass (and per command buffer) in the back-to-back timings: a model's layers. */
export const STEPS_PER_PASS = 32;
/** Host-timing loop length. */
const HOST_CALLS = 20;

export interface StepRow {
  variant: string; B: number; H: number; K: number; V: number;
  /** Storage of the state on the device. */
  stateDtype: 'f32' | 'bf16';
  /** GPU us of one step in a pass of its own, and per step of STEPS_PER_PASS in one pass. */
  stepUs: number; stepUsInPass: number;
  bytesPerStep: number;
  /** State bytes / stepUsInPass, and the copy kernel's rate over as many bytes. */
  gbps: number;
  copyGbps: number;
  /** Host wall us per call: op.step (awaited, o read back), execute() of a prepared step
   * (awaited), encodeStep (recording only), and per step of STEPS_PER_PASS encodeStep calls
   * submitted together and awaited. */
  hostStepUs: number; hostExecuteUs: number; hostEncodeUs: number; hostEncodedBatchUs: number;
}

/** GB/s (bytes read + written) of a vec4 copy kernel moving `bytes / 2` bytes: the memory
 * ceiling the step's state traffic is measured against. STEPS_PER_PASS copies per pass. */
export async function copyRate(device: GPUDevice, bytes: number): Promise<number> {
  const words = Math.ceil(bytes / 2 / 16);
  const module = device.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * n.x + wid.x) * 256u + lid;
  if (i < ${words}u) { dst[i] = src[i]; }
}` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const src = device.createBuffer({ size: words * 16, usage: GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: words * 16, usage: GPUBufferUsage.STORAGE });
  try {
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }] });
    const groups = Math.ceil(words / 256);
    const gx = Math.min(groups, 32768);
    const gy = Math.ceil(groups / gx);
    const record = (pass: GPUComputePassEncoder) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      for (let i = 0; i < STEPS_PER_PASS; i++) pass.dispatchWorkgroups(gx, gy);
    };
    await busy(device, record);
    const ms = (await best(() => timeEncoded(device, record, 10))) / STEPS_PER_PASS;
    return (2 * words * 16) / (ms * 1e-3) / 1e9;
  } finally {
    src.destroy(); dst.destroy();
  }
}

/** Keeps the GPU busy with `record` for 300 ms before a timing. Awaited single steps (a few us
 * of GPU work between host round trips) leave it mostly idle, and the step's and the copy
 * kernel's figures at batch 32 then varied 2-3x from run to run on the H200 (2026-12-02). */
async function busy(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void) {
  const t0 = performance.now();
  do await timeEncoded(device, record, 20); while (performance.now() - t0 < 300);
}
const best = async (f: () => Promise<number>) => Math.min(await f(), await f(), await f());

/** Mean wall-clock us of `n` awaited calls. */
async function wallUs(n: number, call: () => Promise<unknown>): Promise<number> {
  await call();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await call();
  return ((performance.now() - t0) / n) * 1e3;
}

export async function benchStep(engine: Engine, opts: { variants?: string[]; batches?: number[]; H?: number; D?: number; repeat?: number; host?: boolean; stateDtype?: 'f32' | 'bf16'; log?: (l: string) => void } = {}): Promise<StepRow[]> {
  const rows: StepRow[] = [];
  const H = opts.H ?? 32, K = opts.D ?? 128, V = opts.D ?? 128;
  const device = engine.device;
  const stateDtype = opts.stateDtype ?? 'f32';
  for (const B of opts.batches ?? [1, 32, 128]) {
    const copyGbps = await copyRate(device, 2 * B * H * K * V * (stateDtype === 'bf16' ? 2 : 4));
    for (const name of opts.variants ?? VARIANT_NAMES) {
      const op = engine.variant(name);
      const size = { B, T: 1, H, K, V };
      const { h0, ...inputs } = sampleInputs(op.def, size, 5, true);
      const state = stateDtype === 'bf16'
        ? GpuTensor.uploadBytes(device, 'state', storageBytes(h0!, 'bf16'), [h0!.length])
        : GpuTensor.upload(device, 'state', h0!, [h0!.length]);
      const stepOpts = { B, H, K, V, stateDtype };
      const run = await op.prepareStep(inputs, state, stepOpts);
      // GPU copies of the inputs and an o buffer, for encodeStep.
      const gpuInputs = Object.fromEntries(Object.entries(inputs).map(([n, a]) => [n, GpuTensor.upload(device, n, Float32Array.from(a as ArrayLike<number>), [(a as ArrayLike<number>).length])]));
      const o = GpuTensor.empty(device, 'o', [B * H * V]);
      try {
        const many = (pass: GPUComputePassEncoder) => { for (let i = 0; i < STEPS_PER_PASS; i++) run.encode(pass); };
        await busy(device, many);
        const stepUs = (await best(() => run.timeGpu(opts.repeat ?? 50))) * 1e3;
        await busy(device, many);
        const stepUsInPass = ((await best(() => timeEncoded(device, many, 10))) * 1e3) / STEPS_PER_PASS;
        const bytes = 2 * B * H * K * V * (stateDtype === 'bf16' ? 2 : 4);
        const host = opts.host ?? true;
        const buffers = Object.fromEntries(Object.entries(gpuInputs).map(([n, t]) => [n, t.buffer]));
        const encodeOne = (enc: GPUCommandEncoder) => op.encodeStep(enc, buffers, state.buffer, { o: o.buffer }, stepOpts);
        let hostEncodeUs = NaN, hostEncodedBatchUs = NaN, hostStepUs = NaN, hostExecuteUs = NaN;
        if (host) {
          hostStepUs = await wallUs(HOST_CALLS, () => op.step(inputs, state, stepOpts));
          hostExecuteUs = await wallUs(HOST_CALLS, () => run.execute());
          // Recording alone: STEPS_PER_PASS encodeStep calls into one encoder, never submitted.
          await encodeOne(device.createCommandEncoder());
          const enc = device.createCommandEncoder();
          const t0 = performance.now();
          for (let i = 0; i < STEPS_PER_PASS; i++) await encodeOne(enc);
          hostEncodeUs = ((performance.now() - t0) / STEPS_PER_PASS) * 1e3;
          enc.finish();
          // Recorded, submitted once, waited for: the host's whole cost per step of a decode loop
          // that records every layer's step into one command buffer.
          hostEncodedBatchUs = (await wallUs(5, async () => {
            const e = device.createCommandEncoder();
            for (let i = 0; i < STEPS_PER_PASS; i++) await encodeOne(e);
            device.queue.submit([e.finish()]);
            await device.queue.onSubmittedWorkDone();
          })) / STEPS_PER_PASS;
        }
        const row: StepRow = {
          variant: name, B, H, K, V, stateDtype, stepUs, stepUsInPass, bytesPerStep: bytes, gbps: bytes / (stepUsInPass * 1e-6) / 1e9, copyGbps,
          hostStepUs, hostExecuteUs, hostEncodeUs, hostEncodedBatchUs,
        };
        rows.push(row);
        opts.log?.(formatStepRow(row));
      } finally {
        run.destroy();
        state.destroy();
        o.destroy();
        for (const t of Object.values(gpuInputs)) t.destroy();
      }
    }
  }
  return rows;
}

export const STEP_HEADER = `| variant | B,H,K,V | state | GPU us/step (own pass) | GPU us/step (${STEPS_PER_PASS} per pass) | state MB read+written | GB/s | % of copy kernel's GB/s | host us: op.step | execute() | encodeStep (record) | ${STEPS_PER_PASS} encodeSteps + submit + wait, per step |\n|---|---|---|---|---|---|---|---|---|---|---|---|`;
export function formatStepRow(r: StepRow): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  return `| ${r.variant} | ${r.B},${r.H},${r.K},${r.V} | ${r.stateDtype} | ${f(r.stepUs)} | ${f(r.stepUsInPass)} | ${(r.bytesPerStep / 1e6).toFixed(1)} | ${r.gbps.toFixed(0)} | ${((100 * r.gbps) / r.copyGbps).toFixed(0)}% of ${r.copyGbps.toFixed(0)} | ` +
    `${f(r.hostStepUs)} | ${f(r.hostExecuteUs)} | ${f(r.hostEncodeUs)} | ${f(r.hostEncodedBatchUs)} |`;
}
