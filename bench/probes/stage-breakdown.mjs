// Where a kernel's time goes (run on the GPU machine after `npm run build`): splits the kernel's
// entry point into groups of top-level statements at its top-level barriers, and times the
// kernel alone with each group skipped in turn (wrapped in `if (P.T == 0xffffffffu) { ... }`,
// a uniform branch the compiler cannot fold, so every binding stays referenced and the layout is
// unchanged), then with every group skipped (the launch floor). The time a group saves is its
// share, up to overlap. Results are timing only: skipped groups leave garbage behind.
// argv: variant:stage[,variant:stage...]; env: SHAPE as B,T,H,K,V (default 1,4096,32,128,128),
// C (chunk, 64), TC (tensorCores option, 'auto'). A group that declares a name used later does
// not compile when skipped; its line says so.
import { createEngine, VARIANTS, sampleInputs } from '../../dist/index.js';
import { compile } from '../../dist/runtime/pipelines.js';

const targets = (process.argv[2] ?? 'gated_delta_rule:prep').split(',').map((s) => s.split(':'));
const [B, T, H, K, V] = (process.env.SHAPE ?? '1,4096,32,128,128').split(',').map(Number);
const size = { B, T, H, K, V };
const chunk = Number(process.env.C ?? 64);
const engine = await createEngine({ tensorCores: process.env.TC ?? 'auto', dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
console.log(`tier ${engine.tier} on ${engine.adapterName}; shape ${[B, T, H, K, V].join(',')} chunk ${chunk}`);
const repeat = 30;
/** Kernel i's GPU ms after a warm-up (the clocks ramp up), the better of two medians. */
async function timeKernel(run, i) {
  const t0 = performance.now();
  do await run.execute(1); while (performance.now() - t0 < 300);
  return Math.min(await run.timeGpu(repeat, i), await run.timeGpu(repeat, i));
}

/** main's body as top-level statements ([first line, end line) each), grouped: a top-level block
 * `{ ... }` or a statement of more than three lines is a group of its own, other statements group up to the next top-level barrier;
 * declarations (let, var) stay out of every group, so later statements still see them. */
function groups(wgsl) {
  const lines = wgsl.split('\n');
  const start = lines.findIndex((l) => /^fn main\(/.test(l)) + 1;
  let end = lines.length - 1;
  while (end > start && lines[end].trim() !== '}') end--;
  const stmts = [];
  let depth = 0;
  let from = null;
  for (let i = start; i < end; i++) {
    if (from === null) { if (!lines[i].trim() || lines[i].trim().startsWith('//')) continue; from = i; }
    for (const ch of lines[i]) { if (ch === '{') depth++; else if (ch === '}') depth--; }
    if (depth === 0 && /[;}]\s*$/.test(lines[i])) {
      const text = lines[from].trim();
      stmts.push({ a: from, b: i + 1, decl: /^(let|var) /.test(text), block: text === '{', barrier: /^(workgroupBarrier|storageBarrier)\(\);$/.test(text) });
      from = null;
    }
  }
  const out = [];
  let cur = [];
  const flush = () => { if (cur.length) out.push(cur); cur = []; };
  for (const s of stmts) {
    if (s.decl) continue;
    if (s.block || s.b - s.a > 3) { flush(); out.push([[s.a, s.b]]); continue; }
    cur.push([s.a, s.b]);
    if (s.barrier) flush();
  }
  flush();
  return { lines, groups: out.filter((g) => !g.every(([a]) => /Barrier\(\);/.test(lines[a]))) };
}

function skip(lines, ranges) {
  const out = lines.slice();
  for (const [a, b] of ranges.flat()) {
    out[a] = `if (P.T == 0xffffffffu) {\n${out[a]}`;
    out[b - 1] = `${out[b - 1]}\n}`;
  }
  return out.join('\n');
}

for (const [name, stage] of targets) {
  const op = engine.variant(name);
  const inputs = sampleInputs(VARIANTS[name], size, 3, true);
  const opts = { ...size, chunkSize: chunk };
  const base = await op.prepareForward(inputs, opts);
  const i = base.plan.kernels.findIndex((k) => k.stage === stage);
  if (i < 0) { console.log(`${name}: no stage ${stage} (${base.plan.kernels.map((k) => k.stage).join(', ')})`); base.destroy(); continue; }
  const kernel = base.plan.kernels[i];
  const full = await timeKernel(base, i);
  base.destroy();
  const key = base.plan.key;
  const cache = engine.pipelines.entries;
  const original = await cache.get(key);
  const { lines, groups: gs } = groups(kernel.wgsl);
  console.log(`${name} ${stage}: ${full.toFixed(4)} ms alone; ${gs.length} groups`);
  const timeWith = async (wgsl) => {
    const p = await compile(engine.device, kernel.name, wgsl);
    cache.set(key, Promise.resolve(original.map((q, j) => (j === i ? p : q))));
    const run = await op.prepareForward(inputs, opts);
    try { return await timeKernel(run, i); } finally { run.destroy(); cache.set(key, Promise.resolve(original)); }
  };
  const fmt = (ms) => `${ms.toFixed(4)} ms (saves ${(full - ms).toFixed(4)}, ${(100 * (full - ms) / full).toFixed(0)}%)`;
  try { console.log(`  all groups skipped: ${fmt(await timeWith(skip(lines, gs)))}`); } catch (e) { console.log(`  all groups skipped: ${String(e.message).split('\n').slice(0, 2).join(' ')}`); }
  for (const g of gs) {
    const [a] = g[0];
    const b = g[g.length - 1][1];
    const head = lines.slice(a, b).find((l) => l.trim() && l.trim() !== '{')?.trim().slice(0, 90);
    try {
      console.log(`  skip lines ${a + 1}-${b} [${head}]: ${fmt(await timeWith(skip(lines, [g])))}`);
    } catch (e) {
      console.log(`  skip lines ${a + 1}-${b} [${head}]: does not compile (${String(e.message).split('\n')[1]?.trim().slice(0, 120)})`);
    }
  }
}
engine.destroy();
