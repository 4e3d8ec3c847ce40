// What the Vulkan driver makes of each kernel lae generates: registers, spills, shared memory and
// whatever else it reports through VK_KHR_pipeline_executable_properties (see README.md).
// argv: variant:mode ... (mode forward or backward; default linear_attn:forward).
// env: SHAPE=B,T,H,K,V (default 1,128,2,128,128), CHUNK (64), TUNING (JSON of engine tuning),
//      STATS=regex (columns of the table; default all), KEEP=dir (keep the .spvasm files there),
//      and vk-stats' own (VK_DEVICE_MATCH, VK_STATS_NO_ROBUST, VK_STATS_IR, VK_STATS_VALIDATE).
// Run from the project root after `npm run build`; on the GPU machine after .gpu-kit/enter.sh.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, readFileSync, writeFileSync, writeSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const TAG = '// vkstats-kernel ';

if (process.argv[2] === '--child') await child(process.argv.slice(3));
else await parent(process.argv.slice(2));

// Child: builds the plans, then compiles each kernel again on its own, one at a time, so Dawn's
// dump of its WGSL (carrying a tag comment) is followed by the dump of its SPIR-V.
async function child(specs) {
  const { createEngine, sampleInputs, VARIANTS, TOKEN_SEQUENTIAL_VARIANTS } = await import(join(root, 'dist/index.js'));
  const { prepareBackward } = await import(join(root, 'dist/runtime/backward.js'));
  const { compile } = await import(join(root, 'dist/runtime/pipelines.js'));
  const { seededRandom } = await import(join(root, 'dist/runtime/sample.js'));
  const tuning = process.env.TUNING ? JSON.parse(process.env.TUNING) : undefined;
  const engine = await createEngine({ dawnFlags: ['enable-dawn-features=dump_shaders'], ...(tuning ? { tuning } : {}) });
  const [B, T, H, K, V] = (process.env.SHAPE ?? '1,128,2,128,128').split(',').map(Number);
  const shape = { B, T, H, K, V };
  const say = (o) => writeSync(1, `@@vkstats ${JSON.stringify(o)}\n`);
  say({ adapter: engine.adapterName, tier: engine.tier, shape, chunk: Number(process.env.CHUNK ?? 64) });
  const kernels = [];
  for (const spec of specs) {
    const [name, mode = 'forward'] = spec.split(':');
    try {
      const op = engine.variant(name);
      const fwd = await op.prepareForward(sampleInputs(VARIANTS[name] ?? TOKEN_SEQUENTIAL_VARIANTS[name], shape, 3, true), { ...shape, chunkSize: Number(process.env.CHUNK ?? 64) });
      await fwd.execute(1);
      let plan = fwd.plan;
      if (mode === 'backward') {
        const rnd = seededRandom(4);
        const dO = Float32Array.from({ length: B * T * H * V }, () => rnd.normal());
        const dht = Float32Array.from({ length: B * H * K * V }, () => rnd.normal());
        const bwd = await prepareBackward(engine, op.def, fwd, { do: dO, dht });
        await bwd.execute();
        plan = bwd.plan;
        bwd.destroy();
      }
      if (!fwd.destroyed) fwd.destroy();
      plan.kernels.forEach((k, i) => kernels.push({ spec, i, stage: k.stage, name: k.name, wg: k.workgroupSize, wgsl: k.wgsl }));
    } catch (e) { say({ spec, error: String(e.message ?? e).split('\n')[0] }); }
  }
  for (const [n, k] of kernels.entries()) {
    say({ n, spec: k.spec, i: k.i, stage: k.stage, name: k.name, wg: k.wg });
    try { await compile(engine.device, k.name, `${TAG}${n}\n${k.wgsl}`); }
    catch (e) { say({ n, error: String(e.message ?? e).split('\n').slice(0, 2).join(' ') }); }
  }
  say({ done: kernels.length });
  engine.destroy();
}

async function parent(specs) {
  if (!specs.length) specs = ['linear_attn:forward'];
  const dir = process.env.KEEP ?? mkdtempSync(join(tmpdir(), 'vkstats-'));
  mkdirSync(dir, { recursive: true });
  // Dawn prints the dumps from native code: the child's stdout and stderr go to one file.
  const log = join(dir, 'dawn.log');
  const fd = openSync(log, 'w');
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', ...specs], { stdio: ['ignore', fd, fd], env: process.env });
  closeSync(fd);
  const text = readFileSync(log, 'utf8');
  const lines = text.split('\n');
  const meta = [], info = {};
  for (const l of lines) {
    if (!l.startsWith('@@vkstats ')) continue;
    const o = JSON.parse(l.slice(10));
    if (o.adapter) console.log(`# ${o.adapter}; tier ${o.tier}; shape ${JSON.stringify(o.shape)}, chunk ${o.chunk}`);
    else if (o.error) console.log(`# ${o.spec ?? `kernel ${o.n}`}: ${o.error}`);
    else if (o.stage) meta[o.n] = o;
  }
  if (r.status !== 0 || !meta.length) {
    console.log(`# engine child exited ${r.status ?? r.signal}; its output is in ${log}`);
    if (!meta.length) { console.log(lines.filter((l) => !/^\s/.test(l)).slice(-20).join('\n')); process.exit(1); }
  }
  // Pair each tagged WGSL dump with the next SPIR-V dump.
  const files = [];
  let pending = null;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith(TAG)) pending = Number(lines[i].slice(TAG.length));
    if (lines[i].startsWith('/* Dumped SPIRV disassembly */') && pending !== null) {
      let j = i + 1, end = i + 1;
      for (; j < lines.length && !/^(info:|warning:|Warning:|error:|\/\/|\/\*|@@)/.test(lines[j]); j++) if (/\bOpFunctionEnd\b/.test(lines[j])) end = j + 1;
      const f = join(dir, `${String(pending).padStart(2, '0')}-${meta[pending]?.name ?? 'kernel'}.spvasm`);
      writeFileSync(f, lines.slice(i + 1, end).join('\n') + '\n');
      files[pending] = f;
      pending = null;
    }
  }
  if (!files.filter(Boolean).length) { console.log(`# no SPIR-V dumps found in ${log} (is this Dawn's Vulkan backend?)`); process.exit(1); }
  const bin = join(here, 'vk-stats');
  if (!existsSync(bin)) { console.log(`# ${bin} missing: run bench/probes/vk-stats/build.sh`); process.exit(1); }
  try { chmodSync(bin, 0o755); } catch { /* read-only copy: spawn reports it */ }
  const out = spawnSync(bin, files.filter(Boolean), { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (out.error) { console.log(`# vk-stats: ${out.error.message}`); process.exit(1); }
  const byFile = new Map(files.map((f, n) => [f, n]));
  const stats = meta.map(() => new Map()), notes = meta.map(() => []);
  const names = [];
  for (const l of out.stdout.split('\n')) {
    if (!l) continue;
    if (l.startsWith('#') || l.startsWith('ERROR')) { console.log(l); continue; }
    const [f, exe, name, value, desc] = l.split('\t');
    const n = byFile.get(f);
    if (n === undefined) { console.log(l); continue; }
    if (exe === '-' || exe === 'ERROR' || name === 'ERROR' || name === 'VALIDATION' || name === 'executable' || name.startsWith('IR ')) {
      notes[n].push(`${exe === '-' ? '' : `[${exe}] `}${name === 'pipeline' ? desc : `${name}: ${value}${desc ? ` ${desc}` : ''}`}`);
      continue;
    }
    const key = exe === '0' ? name : `${name}#${exe}`;
    if (!names.includes(key)) names.push(key);
    stats[n].set(key, value);
  }
  if (out.stderr.trim()) console.log(out.stderr.trim());
  const filter = process.env.STATS ? new RegExp(process.env.STATS, 'i') : null;
  const cols = names.filter((c) => !filter || filter.test(c));
  const kname = (m) => (m.name.startsWith(`${m.spec.split(':')[0]}_`) ? m.name.slice(m.spec.split(':')[0].length + 1) : m.name);
  const rows = meta.map((m, n) => [m.spec, kname(m), String(m.wg), ...cols.map((c) => stats[n].get(c) ?? (files[n] ? '' : 'no dump'))]);
  const head = ['run', 'kernel', 'wg', ...cols];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r) => r.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ');
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
  console.log('\nper kernel:');
  meta.forEach((m, n) => { console.log(`  ${m.spec} ${m.stage} (${m.name}): ${files[n] ?? 'no SPIR-V dump'}`); for (const x of notes[n]) console.log(`    ${x}`); });
  if (!process.env.KEEP) console.log(`\n(SPIR-V and the Dawn log are in ${dir}; set KEEP=dir to choose)`);
}
