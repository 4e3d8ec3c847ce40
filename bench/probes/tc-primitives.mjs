// Probe of the WebGPU subgroup-matrix primitives the tensor-core tier is designed around, on the
// device machine (run from the project root after .gpu-kit/enter.sh): which uniformity
// diagnostic lets several subgroups of one workgroup address their own fragments, whether a
// result fragment loads from and stores to workgroup memory and scales by a scalar, and how fast
// chunk-shaped products run when f32 operands are staged into workgroup memory as f16.
// Prints one line per check; exits 0 even when a check fails (the line says why).
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia', 'disable-dawn-features=timestamp_quantization']);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
console.log('adapter', adapter.info.vendor, adapter.info.architecture, adapter.info.description, 'subgroups', adapter.info.subgroupMinSize, adapter.info.subgroupMaxSize);
const feats = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix', 'timestamp-query'].filter((f) => adapter.features.has(f));
const device = await adapter.requestDevice({ requiredFeatures: feats, requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize, maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup } });
globalThis.__keep = gpu;
if (!feats.includes('chromium-experimental-subgroup-matrix')) { console.log('no subgroup matrices: stop'); process.exit(0); }

const HDR = (diag) => `enable f16;\nenable chromium_experimental_subgroup_matrix;\n${diag ? `diagnostic(off, ${diag});\n` : ''}`;
async function pipeline(code, label) {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
  let p = null;
  if (!errs.length) { try { p = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } }); } catch (e) { errs.push(String(e.message)); } }
  const e = await device.popErrorScope(); if (e) errs.push(e.message);
  if (errs.length) { console.log(`${label}: COMPILE FAIL ${errs.slice(0, 3).join(' | ').slice(0, 600)}`); return null; }
  return p;
}
const buf = (data, extra = 0) => { const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extra, mappedAtCreation: true }); new data.constructor(b.getMappedRange()).set(data); b.unmap(); return b; };
async function read(b, n) { const r = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }); const e = device.createCommandEncoder(); e.copyBufferToBuffer(b, 0, r, 0, n * 4); device.queue.submit([e.finish()]); await r.mapAsync(GPUMapMode.READ); const out = new Float32Array(r.getMappedRange().slice(0)); r.unmap(); r.destroy(); return out; }
const bind = (p, bufs) => device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
async function time(p, bg, grid, reps = 20) {
  const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
  const qb = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const rb = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const ts = [];
  for (let s = 0; s < 7; s++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    pass.setPipeline(p); pass.setBindGroup(0, bg);
    for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(...grid);
    pass.end(); enc.resolveQuerySet(qs, 0, 2, qb, 0); enc.copyBufferToBuffer(qb, 0, rb, 0, 16);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ); const t = new BigUint64Array(rb.getMappedRange().slice(0)); rb.unmap();
    ts.push(Number(t[1] - t[0]) / 1e6 / reps);
  }
  ts.sort((a, b) => a - b); return ts[2];
}
const rnd = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5; return a; };
const relErr = (a, b) => { let n = 0, d = 0; for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; } return Math.sqrt(n / d); };

// 1. Several subgroups per workgroup, each addressing its own fragment by subgroup_id, under each
//    spelling of the uniformity diagnostic; plus result fragments through workgroup memory.
for (const diag of [null, 'chromium.subgroup_matrix_uniformity', 'chromium_experimental.subgroup_matrix_uniformity']) {
  const code = `${HDR(diag)}
@group(0) @binding(0) var<storage, read> A: array<f16>;
@group(0) @binding(1) var<storage, read> B: array<f16>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
var<workgroup> sC: array<f32, 4 * 256>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_id) sg: u32, @builtin(local_invocation_index) lid: u32) {
  // C[64 x 16] = A[64 x 16] B[16 x 16] * 0.5 + 1, subgroup sg owning rows 16*sg.
  let a = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&A, sg * 256u, false, 16u);
  let b = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&B, 0u, false, 16u);
  var c = subgroupMatrixMultiply<f32>(a, b);
  c = subgroupMatrixScalarMultiply(c, 0.5);
  subgroupMatrixStore(&sC, sg * 256u, c, false, 16u);
  workgroupBarrier();
  for (var e = lid; e < 1024u; e += 128u) { sC[e] = sC[e] + 1.0; }
  workgroupBarrier();
  let r = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&sC, sg * 256u, false, 16u);
  subgroupMatrixStore(&C, sg * 256u, r, false, 16u);
}`;
  const p = await pipeline(code, `multi-subgroup diag=${diag}`);
  if (!p) continue;
  const f2h = (x) => { const f = new Float32Array([x]); const u = new Uint32Array(f.buffer)[0]; const s = (u >>> 16) & 0x8000; let e = ((u >>> 23) & 0xff) - 112; let m = (u >>> 13) & 0x3ff; if (e <= 0) return s; return s | (e << 10) | m; };
  const h2f = (h) => { const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023; return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15); };
  const A = new Uint16Array(64 * 16).map(() => f2h(Math.random() - 0.5)), Bm = new Uint16Array(256).map(() => f2h(Math.random() - 0.5));
  const bc = buf(new Float32Array(1024));
  const enc = device.createCommandEncoder(); const pass = enc.beginComputePass(); pass.setPipeline(p); pass.setBindGroup(0, bind(p, [buf(A), buf(Bm), bc])); pass.dispatchWorkgroups(1); pass.end(); device.queue.submit([enc.finish()]);
  const got = await read(bc, 1024); const want = new Float32Array(1024);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 16; j++) { let s = 0; for (let k = 0; k < 16; k++) s += h2f(A[i * 16 + k]) * h2f(Bm[k * 16 + j]); want[i * 16 + j] = s * 0.5 + 1; }
  console.log(`multi-subgroup diag=${diag}: rel err ${relErr(got, want).toExponential(2)}`);
}

// 2. Chunk-shaped products: NB blocks of O[64 x 128] = L[64 x 128] R[128 x 128], the output
//    stage's Q S_n at (B,H,T,K,V) = (1,32,4096,128,128). L, R f32 in storage, staged into
//    workgroup memory as f16 in K-slabs of SK; SUBS subgroups, each an FM x FN block of 16x16
//    fragments. Also: f16 operands in storage loaded straight into fragments (no staging).
const NB = 2048;
const Lh = rnd(NB * 64 * 128), Rh = rnd(NB * 128 * 128);
const bL = buf(Lh), bR = buf(Rh), bO = buf(new Float32Array(NB * 64 * 128));
const flops = 2 * NB * 64 * 128 * 128;
function stagedKernel({ subs, fm, fn, sk, diag }) {
  // subgroup grid: (64 / (16 fm)) x (128 / (16 fn)) = subs
  const gr = 64 / (16 * fm), gc = 128 / (16 * fn);
  if (gr * gc !== subs) return null;
  const WG = 32 * subs;
  const lines = [];
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) lines.push(`var c${i}_${j} = subgroup_matrix_result<f32, 16, 16>();`);
  const mac = [];
  for (let i = 0; i < fm; i++) mac.push(`let a${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&sL, (r0 + ${16 * i}u) * SK + kk, false, SK);`);
  for (let j = 0; j < fn; j++) mac.push(`let b${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&sR, kk * 128u + c0 + ${16 * j}u, false, 128u);`);
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) mac.push(`c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`);
  const st = [];
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) st.push(`subgroupMatrixStore(&O, blk * 8192u + (r0 + ${16 * i}u) * 128u + c0 + ${16 * j}u, c${i}_${j}, false, 128u);`);
  return `${HDR(diag)}
@group(0) @binding(0) var<storage, read> L: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> R: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
const SK: u32 = ${sk}u;
const WG: u32 = ${WG}u;
var<workgroup> sL: array<f16, 64 * SK>;
var<workgroup> sR: array<f16, SK * 128>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32) {
  let blk = wid.x;
  let r0 = (sg / ${gc}u) * ${16 * fm}u;
  let c0 = (sg % ${gc}u) * ${16 * fn}u;
  ${lines.join('\n  ')}
  for (var k0 = 0u; k0 < 128u; k0 += SK) {
    // L slab [64 x SK]: vec4 loads along k; R slab [SK x 128]: vec4 loads along columns.
    var lv: array<vec4<f32>, 64u * SK / 4u / WG>;
    var rv: array<vec4<f32>, SK * 128u / 4u / WG>;
    for (var s = 0u; s < 64u * SK / 4u / WG; s++) { let e = lid + s * WG; let row = e / (SK / 4u); let q = e % (SK / 4u); lv[s] = L[(blk * 8192u + row * 128u + k0) / 4u + q]; }
    for (var s = 0u; s < SK * 128u / 4u / WG; s++) { let e = lid + s * WG; let row = e / 32u; let q = e % 32u; rv[s] = R[(blk * 16384u + (k0 + row) * 128u) / 4u + q]; }
    for (var s = 0u; s < 64u * SK / 4u / WG; s++) { let e = lid + s * WG; let row = e / (SK / 4u); let q = e % (SK / 4u); let h = vec4<f16>(lv[s]); for (var x = 0u; x < 4u; x++) { sL[row * SK + 4u * q + x] = h[x]; } }
    for (var s = 0u; s < SK * 128u / 4u / WG; s++) { let e = lid + s * WG; let row = e / 32u; let q = e % 32u; let h = vec4<f16>(rv[s]); for (var x = 0u; x < 4u; x++) { sR[row * 128u + 4u * q + x] = h[x]; } }
    workgroupBarrier();
    for (var kk = 0u; kk < SK; kk += 16u) {
      ${mac.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${st.join('\n  ')}
}`;
}
const diagOk = 'chromium.subgroup_matrix_uniformity';
for (const cfg of [
  { subs: 4, fm: 1, fn: 8, sk: 32 }, { subs: 4, fm: 2, fn: 4, sk: 32 }, { subs: 4, fm: 2, fn: 4, sk: 64 },
  { subs: 8, fm: 1, fn: 4, sk: 32 }, { subs: 8, fm: 2, fn: 2, sk: 32 }, { subs: 2, fm: 2, fn: 8, sk: 32 }, { subs: 1, fm: 4, fn: 8, sk: 16 },
]) {
  for (const diag of [diagOk, 'chromium_experimental.subgroup_matrix_uniformity']) {
    const code = stagedKernel({ ...cfg, diag });
    const label = `staged subs=${cfg.subs} frags=${cfg.fm}x${cfg.fn} SK=${cfg.sk} diag=${diag}`;
    const p = await pipeline(code, label);
    if (!p) continue;
    const bg = bind(p, [bL, bR, bO]);
    const ms = await time(p, bg, [NB, 1, 1]);
    const got = await read(bO, 64 * 128 * 2);
    const want = new Float32Array(64 * 128 * 2);
    for (let blk = 0; blk < 2; blk++) for (let i = 0; i < 64; i++) for (let j = 0; j < 128; j++) { let s = 0; for (let k = 0; k < 128; k++) s += Lh[blk * 8192 + i * 128 + k] * Rh[blk * 16384 + k * 128 + j]; want[blk * 8192 + i * 128 + j] = s; }
    console.log(`${label}: ${ms.toFixed(4)} ms, ${(flops / ms / 1e9).toFixed(1)} TFLOP/s, rel err ${relErr(got, want).toExponential(2)}`);
    break;
  }
}
// 3. The same product from f16 operands in storage, fragments loaded straight from it.
{
  const toH = (a) => { const o = new Uint16Array(a.length); const f = new Float32Array(1), u = new Uint32Array(f.buffer); for (let i = 0; i < a.length; i++) { f[0] = a[i]; const b = u[0]; const s = (b >>> 16) & 0x8000; const e = ((b >>> 23) & 0xff) - 112; o[i] = e <= 0 ? s : s | (e << 10) | ((b >>> 13) & 0x3ff); } return o; };
  const bLh = buf(toH(Lh)), bRh = buf(toH(Rh));
  for (const [subs, fm, fn] of [[4, 2, 4], [4, 1, 8], [8, 2, 2]]) {
    const gc = 128 / (16 * fn);
    const decl = [], mac = [], st = [];
    for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) decl.push(`var c${i}_${j} = subgroup_matrix_result<f32, 16, 16>();`);
    for (let i = 0; i < fm; i++) mac.push(`let a${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&L, blk * 8192u + (r0 + ${16 * i}u) * 128u + k, false, 128u);`);
    for (let j = 0; j < fn; j++) mac.push(`let b${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&R, blk * 16384u + k * 128u + c0 + ${16 * j}u, false, 128u);`);
    for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) mac.push(`c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`);
    for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) st.push(`subgroupMatrixStore(&O, blk * 8192u + (r0 + ${16 * i}u) * 128u + c0 + ${16 * j}u, c${i}_${j}, false, 128u);`);
    const code = `${HDR(diagOk)}
@group(0) @binding(0) var<storage, read> L: array<f16>;
@group(0) @binding(1) var<storage, read> R: array<f16>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(${32 * subs})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sg: u32) {
  let blk = wid.x;
  let r0 = (sg / ${gc}u) * ${16 * fm}u;
  let c0 = (sg % ${gc}u) * ${16 * fn}u;
  ${decl.join('\n  ')}
  for (var k = 0u; k < 128u; k += 16u) {
    ${mac.join('\n    ')}
  }
  ${st.join('\n  ')}
}`;
    const label = `direct-f16 subs=${subs} frags=${fm}x${fn}`;
    const p = await pipeline(code, label);
    if (!p) continue;
    const ms = await time(p, bind(p, [bLh, bRh, bO]), [NB, 1, 1]);
    console.log(`${label}: ${ms.toFixed(4)} ms, ${(flops / ms / 1e9).toFixed(1)} TFLOP/s`);
  }
}
// 4. Bandwidth reference: a plain f32 copy of L (64 MiB) into O.
{
  const code = `@group(0) @binding(0) var<storage, read> L: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> R: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> O: array<vec4<f32>>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) { let i = g.x + g.y * 65535u * 256u; if (i < arrayLength(&O)) { O[i] = L[i]; } }`;
  const p = await pipeline(code, 'copy');
  const n4 = NB * 64 * 128 / 4;
  const ms = await time(p, bind(p, [bL, bR, bO]), [Math.min(65535, Math.ceil(n4 / 256)), Math.ceil(n4 / 256 / 65535), 1]);
  console.log(`copy 64 MiB f32: ${ms.toFixed(4)} ms, ${(2 * n4 * 16 / ms / 1e9).toFixed(0)} GB/s (read + written)`);
}
device.destroy();
