// GPU check (run on the H100 after `npm run build`): every gradient of the backward against the
// float64 reference at a size the tests do not reach. Env: B, T, K, V, C (chunk); argv: variants.
// e.g. B=1 T=300 K=128 V=128 C=64 node bench/checks/backward.mjs
import { createEngine, VARIANTS, sampleInputs, referenceBackward, relL2 } from '../../dist/index.js';
import { seededRandom } from '../../dist/runtime/sample.js';
const names = process.argv[2] ? process.argv[2].split(',') : Object.keys(VARIANTS);
const size = { B: Number(process.env.B ?? 2), T: Number(process.env.T ?? 37), H: 2, K: Number(process.env.K ?? 16), V: Number(process.env.V ?? 8) };
const chunk = Number(process.env.C ?? 16);
const engine = await createEngine();
for (const name of names) {
  const def = VARIANTS[name];
  const inputs = sampleInputs(def, size, 3, true);
  const rnd = seededRandom(9);
  const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => rnd.normal());
  const dht = Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => rnd.normal());
  const op = engine.variant(name);
  const t0 = Date.now();
  const got = await op.backward(inputs, { do: dO, dht }, { ...size, chunkSize: chunk, poisonOutputs: true });
  const { h0, ...rest } = inputs;
  const ref = referenceBackward(def, rest, size, { do: dO, dht }, { h0 });
  const errs = Object.keys(ref).map((k) => `${k}=${got[k] ? relL2(got[k], ref[k]).toExponential(1) : 'MISSING'}`);
  console.log(name, `${Date.now() - t0}ms`, errs.join(' '));
}
engine.destroy();
