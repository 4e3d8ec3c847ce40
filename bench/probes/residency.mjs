// How many workgroups share a multiprocessor when nothing but a resource holds them back: a
// synthetic kernel of 128 invocations whose lifetime is a chain of dependent loads made by one
// invocation per subgroup (latency; too few loads to load the memory system), run on grids of k x 132 workgroups (the H200's multiprocessors). While k is within
// the resident limit the time stays at one lifetime; past it, it steps. Rows vary one resource at
// a time: workgroup memory, live registers (named vec4 accumulators), subgroup-matrix result
// fragments held across the chain. A row that steps at k = 2 says that resource alone keeps a
// multiprocessor to one workgroup. Env KS (default 1,2,3,4,5,6,8), ITERS (dependent loads, 48),
// ROWS (labels to run). Run on the device machine after .gpu-kit/enter.sh, after `npm run build`.
import { createEngine } from '../../dist/index.js';
import { timeEncoded } from '../../dist/runtime/timing.js';

const ks = (process.env.KS ?? '1,2,3,4,5,6,8').split(',').map(Number);
const iters = Number(process.env.ITERS ?? 48);
const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
const device = engine.device;
const sgm = device.features.has('chromium-experimental-subgroup-matrix');
console.log(`residency probe on ${engine.adapterName}, tier ${engine.tier}; ${iters} dependent loads per invocation`);

const WORDS = 1 << 20;
/** A random cycle through the buffer, so every load depends on the one before. */
const perm = new Uint32Array(WORDS);
{
  const order = Array.from({ length: WORDS }, (_, i) => i);
  for (let i = WORDS - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  for (let i = 0; i < WORDS; i++) perm[order[i]] = order[(i + 1) % WORDS];
}
const next = device.createBuffer({ size: WORDS * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(next, 0, perm);
const out = device.createBuffer({ size: 16 * 132 * 16 * 128, usage: GPUBufferUsage.STORAGE });

/** The kernel's text: wgBytes of workgroup memory touched once, regs live vec4 registers updated
 * every step, frags subgroup-matrix result fragments multiplied into every step. */
function kernel({ wgBytes = 0, regs = 0, frags = 0 }) {
  const lines = [];
  if (frags) lines.push('enable f16;', 'enable chromium_experimental_subgroup_matrix;', 'diagnostic(off, chromium.subgroup_matrix_uniformity);');
  lines.push('@group(0) @binding(0) var<storage, read> nxt: array<u32>;', '@group(0) @binding(1) var<storage, read_write> res: array<vec4<f32>>;');
  if (wgBytes) lines.push(`var<workgroup> pad: array<vec4<f32>, ${wgBytes / 16}>;`);
  if (frags) lines.push('var<workgroup> tile: array<f16, 512>;', 'var<workgroup> wf32: array<f32, 256>;');
  lines.push('@compute @workgroup_size(128)', 'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) lid: u32) {');
  lines.push('  let gid = wid.x * 128u + lid;', `  var p = (gid * 2654435761u) % ${WORDS}u;`);
  if (wgBytes) lines.push(`  for (var i = lid; i < ${wgBytes / 16}u; i += 128u) { pad[i] = vec4<f32>(f32(i)); }`, '  workgroupBarrier();');
  if (frags) lines.push('  for (var i = lid; i < 512u; i += 128u) { tile[i] = f16(i % 7u) * 0.01h; }', '  workgroupBarrier();');
  for (let r = 0; r < regs; r++) lines.push(`  var r${r} = vec4<f32>(f32(${r}));`);
  for (let f = 0; f < frags; f++) lines.push(`  var m${f} = subgroup_matrix_result<f32, 16, 16>();`);
  // One lane per subgroup walks the chain; the others wait for it at the last barrier.
  lines.push(`  let walks = lid % 32u == 0u;`, `  for (var s = 0u; s < ${iters}u; s++) {`, '    if (walks) { p = nxt[p]; }', '    let x = f32(p & 255u);');
  for (let r = 0; r < regs; r++) lines.push(`    r${r} = r${r} * 0.999 + vec4<f32>(x, x + ${r}.0, x * ${r}.0, x - ${r}.0);`);
  if (frags) {
    lines.push('    let fl = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&tile, (s & 1u) * 256u, false, 16u);', '    let fr = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&tile, 0u, false, 16u);');
    for (let f = 0; f < frags; f++) lines.push(`    m${f} = subgroupMatrixMultiplyAccumulate(fl, fr, m${f});`);
  }
  lines.push('  }');
  const sum = ['vec4<f32>(f32(p))', ...Array.from({ length: regs }, (_, r) => `r${r}`)].join(' + ');
  lines.push(`  var acc = ${sum};`);
  if (wgBytes) lines.push(`  acc += pad[(p + lid) % ${wgBytes / 16}u];`);
  lines.push('  workgroupBarrier();', '  res[gid % 270336u] = acc;');
  if (frags) {
    lines.push('  workgroupBarrier();');
    // Every fragment is stored, so none is dead; the stores race, which a timing probe allows.
    for (let f = 0; f < frags; f++) lines.push(`  subgroupMatrixStore(&wf32, 0u, m${f}, false, 16u);`);
  }
  lines.push('}');
  return lines.join('\n');
}

const rows = {
  base: {}, ...Object.fromEntries([12, 16, 20, 24, 25, 26, 27, 28, 30, 32, 36, 40, 48].map((kb) => [`wg ${kb}K`, { wgBytes: kb * 1024 }])),
  'regs 32 vec4': { regs: 32 }, 'regs 48 vec4': { regs: 48 }, 'regs 60 vec4': { regs: 60 },
  ...(sgm ? { 'frags 8': { frags: 8 }, 'frags 16': { frags: 16 } } : {}),
};
const only = process.env.ROWS?.split(',');
for (const [label, shape] of Object.entries(rows)) {
  if (only && !only.includes(label)) continue;
  try {
    const module = device.createShaderModule({ code: kernel(shape) });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: next } }, { binding: 1, resource: { buffer: out } }] });
    const row = [];
    for (const k of ks) {
      const record = (pass) => { pass.setPipeline(pipeline); pass.setBindGroup(0, group); for (let i = 0; i < 8; i++) pass.dispatchWorkgroups(132 * k); };
      const t0 = performance.now();
      while (performance.now() - t0 < 150) await timeEncoded(device, record, 2);
      const samples = [];
      for (let s = 0; s < 3; s++) samples.push(await timeEncoded(device, record, 5));
      row.push(`k=${k}: ${((Math.min(...samples) / 8) * 1000).toFixed(1)}`);
    }
    console.log(`${label.padEnd(18)} us per dispatch: ${row.join(', ')}`);
  } catch (e) { console.log(`${label}: ${String(e.message).split('\n')[0]}`); }
}
engine.destroy();
