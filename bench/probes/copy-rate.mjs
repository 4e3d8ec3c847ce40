// Probe of the memory ceiling the decode-step bench divides by (bench/step.ts copyRate), which
// read 1560 GB/s at 134 MB of state traffic and 4190 at 537 MB on the H200 (2026-12-02): a vec4
// copy of half the bytes, 32 dispatches per pass, at several sizes, with the workgroups as one
// row or split over two, timed cold (as the bench did) and after a 300 ms warm loop. Run on the
// device machine after .gpu-kit/enter.sh, from the project root after `npm run build`.
import { createEngine } from '../../dist/index.js';
import { timeEncoded } from '../../dist/runtime/timing.js';

const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
const device = engine.device;
console.log(`copy probe on ${engine.adapterName}`);
for (const mb of [4, 16, 34, 67, 134, 268, 537]) {
  const words = Math.ceil((mb * 1e6) / 2 / 16);
  for (const split of [1, 2, 4]) {
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
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }] });
    const groups = Math.ceil(words / 256);
    const gy = split;
    const gx = Math.ceil(groups / gy);
    const record = (pass) => { pass.setPipeline(pipeline); pass.setBindGroup(0, group); for (let i = 0; i < 32; i++) pass.dispatchWorkgroups(gx, gy); };
    const gbps = (ms) => ((2 * words * 16) / ((ms / 32) * 1e-3) / 1e9).toFixed(0);
    const cold = await timeEncoded(device, record, 3);
    const t0 = performance.now();
    while (performance.now() - t0 < 300) await timeEncoded(device, record, 3);
    const warm = [];
    for (let s = 0; s < 5; s++) warm.push(await timeEncoded(device, record, 10));
    warm.sort((a, b) => a - b);
    console.log(`${mb} MB split ${split} (${gx}x${gy}): cold ${gbps(cold)} GB/s; warm median-of-10 over 5 samples: min ${gbps(warm[0])} median ${gbps(warm[2])} max ${gbps(warm[4])}`);
    src.destroy(); dst.destroy();
  }
}
engine.destroy();
