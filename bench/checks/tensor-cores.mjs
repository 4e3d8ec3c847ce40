// GPU check of the tensor-core tier (run on the GPU machine after `npm run build`): for every
// variant, the forward's o and ht and every gradient of the backward against the float64
// reference, for the subgroup-matrix lowering (the tensor cores) and, on the same device and
// tiles, the portable lowering; f32 inputs. Env: SIZES as B,T,H,K,V;... (default
// 1,300,4,128,128;1,4096,2,128,128), C (chunk, default 64), GRADS=0 to skip the backward;
// argv: variants. Prints one line per variant, lowering and size.
import { createEngine, VARIANTS, sampleInputs, referenceForward, referenceBackward, relL2 } from '../../dist/index.js';
import { seededRandom } from '../../dist/runtime/sample.js';

const names = process.argv[2] ? process.argv[2].split(',') : Object.keys(VARIANTS);
const sizes = (process.env.SIZES ?? '1,300,4,128,128;1,4096,2,128,128').split(';').map((s) => {
  const [B, T, H, K, V] = s.split(',').map(Number);
  return { B, T, H, K, V };
});
const chunk = Number(process.env.C ?? 64);
const grads = process.env.GRADS !== '0';
const engines = {};
for (const tc of ['auto', 'portable']) {
  engines[tc] = await createEngine({ tensorCores: tc });
  console.log(`tensorCores ${tc}: tier ${engines[tc].tier} (${engines[tc].tierNote}) on ${engines[tc].adapterName}`);
}
const fmt = (x) => x.toExponential(1);
for (const size of sizes) {
  for (const name of names) {
    const def = VARIANTS[name];
    const inputs = sampleInputs(def, size, 3, true);
    const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
    const rnd = seededRandom(9);
    const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => rnd.normal());
    const dht = Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => rnd.normal());
    const { h0, ...rest } = inputs;
    const refGrads = grads && size.T * size.H <= 1200 ? referenceBackward(def, rest, size, { do: dO, dht }, { h0 }) : null;
    const outs = {};
    for (const [tc, engine] of Object.entries(engines)) {
      const op = engine.variant(name);
      const t0 = Date.now();
      try {
        const got = await op.forward(inputs, { ...size, chunkSize: chunk, poisonOutputs: true });
        outs[tc] = got.o;
        let line = `${name} ${tc} (${Object.values(size).join(',')}) C=${chunk}: o ${fmt(relL2(got.o, ref.o))} ht ${fmt(relL2(got.ht, ref.ht))}`;
        if (refGrads) {
          const g = await op.backward(inputs, { do: dO, dht }, { ...size, chunkSize: chunk, poisonOutputs: true });
          const errs = Object.keys(refGrads).map((k) => `${k} ${g[k] ? fmt(relL2(g[k], refGrads[k])) : 'MISSING'}`);
          line += ` | ${errs.join(' ')}`;
        }
        console.log(`${line} (${Date.now() - t0} ms)`);
      } catch (e) {
        console.log(`${name} ${tc} (${Object.values(size).join(',')}): ERROR ${String(e.message).slice(0, 1500)}`);
      }
    }
    if (outs.auto && outs.portable) console.log(`${name} subgroup-matrix vs portable o: ${fmt(relL2(outs.auto, outs.portable))}`);
  }
}
for (const e of Object.values(engines)) e.destroy();
