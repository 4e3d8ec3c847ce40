// Times one backward kernel of a variant at the bench shape as lae generates it and with edits to
// its WGSL (each a [find, replace] pair on the text, swapped in through the engine's pipeline
// cache as stage-breakdown.mjs does for the forward). For finding what a kernel's time depends
// on; results are timing only (an edit may change what the kernel computes). Edit sets below;
// argv: variant:stage (default delta_rule:wyDk). Run on the device machine after
// .gpu-kit/enter.sh, from the project root after `npm run build`.
import { createEngine, sampleInputs, VARIANTS } from '../../dist/index.js';
import { prepareBackward } from '../../dist/runtime/backward.js';
import { compile } from '../../dist/runtime/pipelines.js';
import { timeEncoded } from '../../dist/runtime/timing.js';
import { seededRandom } from '../../dist/runtime/sample.js';

const EDITS = {
  'no exact path (the fragment epilogue always)': [['if (workgroupUniformLoad(&wy_any[0]) != 0u) {', 'if (workgroupUniformLoad(&wy_any[0]) == 0xfffffff7u) {']],
  'exact path always': [['if (workgroupUniformLoad(&wy_any[0]) != 0u) {', 'if (workgroupUniformLoad(&wy_any[0]) != 0xfffffff7u) {']],
};
const [name, stage] = (process.argv[2] ?? 'delta_rule:wyDk').split(':');
const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'], tuning: { unverifiedFragments: true } });
const shape = { B: 1, T: 4096, H: 32, K: 128, V: 128 };
const op = engine.variant(name);
const inputs = sampleInputs(VARIANTS[name], shape, 3, true);
const rnd = seededRandom(4);
const dO = Float32Array.from({ length: shape.T * shape.H * shape.V }, () => rnd.normal());
const dht = Float32Array.from({ length: shape.H * shape.K * shape.V }, () => rnd.normal());
function encodeOne(bwd, pass, i) {
  let n = 0;
  const proxy = new Proxy(pass, { get(t, prop) {
    if (prop === 'dispatchWorkgroups') return (...a) => { if (n++ === i) t.dispatchWorkgroups(...a); };
    const v = Reflect.get(t, prop); return typeof v === 'function' ? v.bind(t) : v;
  } });
  bwd.encode(proxy);
}
async function timed() {
  const fwd = await op.prepareForward(inputs, { ...shape, chunkSize: 64 });
  const bwd = await prepareBackward(engine, op.def, fwd, { do: dO, dht });
  try {
    const t0 = performance.now();
    do { await fwd.execute(); await bwd.execute(); } while (performance.now() - t0 < 400);
    const i = bwd.plan.kernels.findIndex((k) => k.stage === stage);
    const one = () => timeEncoded(engine.device, (p) => encodeOne(bwd, p, i), 20);
    return { ms: Math.min(await one(), await one()), plan: bwd.plan, i };
  } finally { bwd.destroy(); fwd.destroy(); }
}
const base = await timed();
console.log(`${name} ${stage} on ${engine.adapterName}: ${base.ms.toFixed(3)} ms as generated`);
const key = base.plan.key;
const cache = engine.pipelines.entries;
const original = await cache.get(key);
const kernel = base.plan.kernels[base.i];
for (const [label, edits] of Object.entries(EDITS)) {
  let wgsl = kernel.wgsl;
  const missing = edits.filter(([a]) => !wgsl.includes(a));
  if (missing.length) { console.log(`  ${label}: edit text not found (${missing[0][0].slice(0, 60)})`); continue; }
  for (const [a, b] of edits) wgsl = wgsl.split(a).join(b);
  try {
    const p = await compile(engine.device, kernel.name, wgsl);
    cache.set(key, Promise.resolve(original.map((q, j) => (j === base.i ? p : q))));
    console.log(`  ${label}: ${(await timed()).ms.toFixed(3)} ms`);
  } catch (e) {
    console.log(`  ${label}: ${String(e.message).split('\n').slice(0, 2).join(' ')}`);
  } finally { cache.set(key, Promise.resolve(original)); }
}
engine.destroy();
