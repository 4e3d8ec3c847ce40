// Times one forward kernel at the bench shape as lae generates it and with edits to its WGSL, as
// stage-edits.mjs does for the backward: for finding what a kernel's time depends on. Results are
// timing only (an edit may change what the kernel computes). argv: variant:stage and an edits
// module whose default export maps a label to [find, replace] pairs (every occurrence of find, a
// string or a global RegExp, is replaced; a label whose text is not found says so). An edit that
// leaves a binding unused fails (the layout is the plan's): skip code at run time instead, under a
// uniform condition the compiler cannot fold, such as `P.T == 0xffffffffu`. Env SHAPE as B,T,H,K,V (default
// 1,4096,32,128,128), C (chunk, 64). Run on the device machine after .gpu-kit/enter.sh, from the
// project root after `npm run build`.
import { resolve } from 'node:path';
import { createEngine, VARIANTS, sampleInputs } from '../../dist/index.js';
import { compile } from '../../dist/runtime/pipelines.js';

const [name, stage] = (process.argv[2] ?? 'gated_delta_rule:wyFactors').split(':');
const edits = process.argv[3] ? (await import(resolve(process.argv[3]))).default : {};
const [B, T, H, K, V] = (process.env.SHAPE ?? '1,4096,32,128,128').split(',').map(Number);
const size = { B, T, H, K, V };
const opts = { ...size, chunkSize: Number(process.env.C ?? 64) };
const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
const op = engine.variant(name);
const inputs = sampleInputs(VARIANTS[name], size, 3, true);
/** Kernel i's GPU ms after a warm-up of whole forwards, the better of two medians of 30. */
async function timeKernel(run, i) {
  const t0 = performance.now();
  do await run.execute(1); while (performance.now() - t0 < 300);
  return Math.min(await run.timeGpu(30, i), await run.timeGpu(30, i));
}
const base = await op.prepareForward(inputs, opts);
const i = base.plan.kernels.findIndex((k) => k.stage === stage);
if (i < 0) throw new Error(`${name}: no stage ${stage} (${base.plan.kernels.map((k) => k.stage).join(', ')})`);
const kernel = base.plan.kernels[i];
const full = await timeKernel(base, i);
base.destroy();
console.log(`${name} ${stage} on ${engine.adapterName}, ${[B, T, H, K, V].join(',')}: ${full.toFixed(4)} ms as generated`);
const key = base.plan.key;
const cache = engine.pipelines.entries;
const original = await cache.get(key);
for (const [label, pairs] of Object.entries(edits)) {
  let wgsl = kernel.wgsl;
  const found = (a) => (a instanceof RegExp ? new RegExp(a.source).test(wgsl) : wgsl.includes(a));
  const missing = pairs.filter(([a]) => !found(a));
  if (missing.length) { console.log(`  ${label}: edit text not found (${String(missing[0][0]).slice(0, 70)})`); continue; }
  for (const [a, b] of pairs) wgsl = a instanceof RegExp ? wgsl.replace(a, b) : wgsl.split(a).join(b);
  try {
    const p = await compile(engine.device, kernel.name, wgsl);
    cache.set(key, Promise.resolve(original.map((q, j) => (j === i ? p : q))));
    const run = await op.prepareForward(inputs, opts);
    try { console.log(`  ${label}: ${(await timeKernel(run, i)).toFixed(4)} ms`); } finally { run.destroy(); }
  } catch (e) {
    console.log(`  ${label}: ${String(e.message).split('\n').slice(0, 2).join(' ')}`);
  } finally { cache.set(key, Promise.resolve(original)); }
}
engine.destroy();
