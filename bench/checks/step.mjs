// GPU check of the decode step (run on the GPU machine after `npm run build`): for every
// variant, a sequence stepped token by token through op.step reproduces the float64
// reference's o and final state, at the bench's head shape (K = V = 128) and a small batch,
// with the state stored as f32 and as bf16. Env: B, H, N (tokens), K, V. One line per variant
// and state dtype; exits 1 when a bound is missed (f32 state 1e-5, bf16 state 1e-2).
import { createEngine, VARIANTS, sampleInputs, referenceForward, relL2 } from '../../dist/index.js';

const size = { B: Number(process.env.B ?? 3), T: Number(process.env.N ?? 6), H: Number(process.env.H ?? 4), K: Number(process.env.K ?? 128), V: Number(process.env.V ?? 128) };
const names = process.argv[2] ? process.argv[2].split(',') : Object.keys(VARIANTS);
const engine = await createEngine({});
console.log(`step check on ${engine.adapterName}, tier ${engine.tier}, (B,N,H,K,V) = (${size.B},${size.T},${size.H},${size.K},${size.V})`);

function sliceT(def, inputs, t) {
  const out = {};
  for (const d of def.inputs) {
    const full = inputs[d.name];
    if (!d.dims.includes('T')) { out[d.name] = full; continue; }
    const ti = d.dims.indexOf('T');
    const dimOf = (x) => (typeof x === 'number' ? x : x === 'B' ? size.B : x === 'T' ? size.T : x === 'H' ? size.H : x === 'K' ? size.K : x === 'V' ? size.V : 1);
    const outer = d.dims.slice(0, ti).reduce((a, x) => a * dimOf(x), 1);
    const inner = d.dims.slice(ti + 1).reduce((a, x) => a * dimOf(x), 1);
    const part = new Float32Array(outer * inner);
    for (let o = 0; o < outer; o++) part.set(full.subarray((o * size.T + t) * inner, (o * size.T + t + 1) * inner), o * inner);
    out[d.name] = part;
  }
  return out;
}

let bad = 0;
for (const name of names) {
  const def = VARIANTS[name];
  const inputs = sampleInputs(def, size, 7, true);
  const ref = referenceForward(def, inputs, size, { h0: inputs.h0 });
  for (const stateDtype of ['f32', 'bf16']) {
    const state = Float32Array.from(inputs.h0);
    const o = new Float32Array(ref.o.length);
    const row = size.H * size.V;
    for (let t = 0; t < size.T; t++) {
      const res = await engine.variant(name).step(sliceT(def, inputs, t), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: 1, stateDtype });
      for (let b = 0; b < size.B; b++) o.set(res.o.subarray(b * row, (b + 1) * row), (b * size.T + t) * row);
    }
    const eo = relL2(o, ref.o); const es = relL2(state, ref.ht);
    const bound = stateDtype === 'f32' ? 1e-5 : 1e-2;
    const ok = eo < bound && es < bound;
    if (!ok) bad++;
    console.log(`${name} state ${stateDtype}: o ${eo.toExponential(1)} state ${es.toExponential(1)} ${ok ? 'ok' : `OVER ${bound}`}`);
  }
}
process.exit(bad ? 1 : 0);
