// Why the fused wyDk takes 3.9 ms for delta_rule and 1.3 for gated_delta_rule at the bench shape
// (H200, 2026-12-02, once right): its exact f32 path runs for a tile whose staged dW or k is not
// finite in f16 (|x| > 65504). Per variant and scale s of the seed do (dW is linear in do):
// wyDk's GPU time alone, and the gradients' largest magnitude and non-finite count. If the time
// falls with s, the exact path ran because dW passed f16's range. Run on the device machine after
// .gpu-kit/enter.sh from the project root after `npm run build`.
import { createEngine, sampleInputs } from '../../dist/index.js';
import { prepareBackward } from '../../dist/runtime/backward.js';
import { timeEncoded } from '../../dist/runtime/timing.js';
import { seededRandom } from '../../dist/runtime/sample.js';

const engine = await createEngine({ dawnFlags: ['disable-dawn-features=timestamp_quantization'], tuning: { unverifiedFragments: true } });
const shape = { B: 1, T: 4096, H: 32, K: 128, V: 128 };
function encodeOne(bwd, pass, i) {
  let n = 0;
  const proxy = new Proxy(pass, { get(t, prop) {
    if (prop === 'dispatchWorkgroups') return (...a) => { if (n++ === i) t.dispatchWorkgroups(...a); };
    const v = Reflect.get(t, prop); return typeof v === 'function' ? v.bind(t) : v;
  } });
  bwd.encode(proxy);
}
for (const name of ['delta_rule', 'gated_delta_rule']) {
  const op = engine.variant(name);
  const inputs = sampleInputs(op.def, shape, 3, true);
  for (const s of [1, 1e-2, 1e-4]) {
    const rnd = seededRandom(4);
    const dO = Float32Array.from({ length: shape.T * shape.H * shape.V }, () => s * rnd.normal());
    const dht = Float32Array.from({ length: shape.H * shape.K * shape.V }, () => s * rnd.normal());
    const fwd = await op.prepareForward(inputs, { ...shape, chunkSize: 64 });
    const bwd = await prepareBackward(engine, op.def, fwd, { do: dO, dht });
    await fwd.execute(); await bwd.execute();
    const i = bwd.plan.kernels.findIndex((k) => k.stage === 'wyDk');
    const ms = Math.min(await timeEncoded(engine.device, (p) => encodeOne(bwd, p, i), 10), await timeEncoded(engine.device, (p) => encodeOne(bwd, p, i), 10));
    const g = await bwd.read();
    const stats = Object.entries(g).map(([k, a]) => { let m = 0, bad = 0; for (const x of a) { if (!Number.isFinite(x)) bad++; else m = Math.max(m, Math.abs(x)); } return `${k} max ${m.toExponential(1)}${bad ? ` (${bad} non-finite)` : ''}`; });
    console.log(`${name} do scale ${s}: wyDk ${ms.toFixed(3)} ms; ${stats.join(', ')}`);
    bwd.destroy(); fwd.destroy();
  }
}
engine.destroy();
