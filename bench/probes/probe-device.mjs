// What the subgroup-matrix probes share (run on the device machine after .gpu-kit/enter.sh): a
// device with f16 subgroup matrices through Dawn's toggles (or exit 0 where there are none),
// storage buffers from typed arrays, read-back, and one workgroup's run of a probe shader with
// its compile and validation errors printed under the case's label.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);

export const HDR = 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);\n';

const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const feats = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'].filter((f) => adapter.features.has(f));
if (!feats.includes('chromium-experimental-subgroup-matrix')) { console.log('no subgroup matrices: stop'); process.exit(0); }
export const device = await adapter.requestDevice({ requiredFeatures: feats, requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize } });
globalThis.__keep = gpu;
console.log('adapter', adapter.info.vendor, adapter.info.architecture, adapter.info.description);

export const buf = (data) => { const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true }); new data.constructor(b.getMappedRange()).set(data); b.unmap(); return b; };
export async function read(b, n) { const r = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }); const e = device.createCommandEncoder(); e.copyBufferToBuffer(b, 0, r, 0, n * 4); device.queue.submit([e.finish()]); await r.mapAsync(GPUMapMode.READ); const out = new Float32Array(r.getMappedRange().slice(0)); r.unmap(); r.destroy(); return out; }

/** Runs `code` (bindings 0 = input, 1 = output) on one workgroup; the output's first `words`
 * f32, or null after printing why it did not run. */
export async function runOneWorkgroup(label, code, input, output, words) {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === 'error');
  if (errs.length) { await device.popErrorScope(); console.log(`${label}: COMPILE FAIL ${errs[0].message}`); return null; }
  const p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bIn = buf(input), bOut = buf(output);
  const enc = device.createCommandEncoder(); const pass = enc.beginComputePass(); pass.setPipeline(p);
  pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: bIn } }, { binding: 1, resource: { buffer: bOut } }] }));
  pass.dispatchWorkgroups(1); pass.end(); device.queue.submit([enc.finish()]);
  const e = await device.popErrorScope();
  if (e) { console.log(`${label}: VALIDATION ${e.message}`); return null; }
  return read(bOut, words);
}
