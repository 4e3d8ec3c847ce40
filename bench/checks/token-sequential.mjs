// GPU check of the token-sequential forms (run on the GPU machine after `npm run build`):
// rwkv7 and dplr_delta_rule against the FLA fixtures (forward, step over the whole sequence,
// every gradient), rwkv7 at the bench's head shape (K = V = 128) against the float64 reference,
// and rwkv4 (forward, step, backward) with keys past f32's exp range. One line per check; exits 1
// when a bound (rel L2 1e-4) is missed.
import { readFileSync } from 'node:fs';
import { createEngine, TOKEN_SEQUENTIAL_VARIANTS, sampleInputs, referenceForward, referenceBackward, relL2 } from '../../dist/index.js';

const TOL = 1e-4;
const engine = await createEngine({});
console.log(`token-sequential check on ${engine.adapterName}, tier ${engine.tier}`);
let bad = 0;
const report = (what, errs) => {
  const worst = Math.max(...Object.values(errs));
  if (!(worst < TOL)) bad++;
  console.log(`${what}: ${Object.entries(errs).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(' ')} ${worst < TOL ? 'ok' : `OVER ${TOL}`}`);
};
const f32 = (a) => Float32Array.from(a);
const grads = (def) => [...def.inputs.map((i) => `d${i.name}`), 'dh0'];

async function checkCase(name, size, x, h0, dO, dht, scale, want) {
  const op = engine.variant(name);
  const def = op.def;
  const errs = {};
  const fwd = await op.forward({ ...x, h0 }, { ...size, scale, poisonOutputs: true });
  errs.o = relL2(fwd.o, want.o); errs.ht = relL2(fwd.ht, want.ht);
  const state = Float32Array.from(h0);
  const st = await op.step(x, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T, scale });
  errs.stepO = relL2(st.o, want.o); errs.stepState = relL2(state, want.ht);
  const g = await op.backward({ ...x, h0 }, { do: dO, dht }, { ...size, scale, poisonOutputs: true });
  for (const k of grads(def)) errs[k] = relL2(g[k], want[k]);
  return errs;
}

// FLA fixtures.
const dir = new URL('../../test/fixtures/fla-reference/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8'));
for (const m of manifest.filter((c) => Object.hasOwn(TOKEN_SEQUENTIAL_VARIANTS, c.variant))) {
  const buf = readFileSync(new URL(m.file, dir));
  const all = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
  const t = Object.fromEntries(Object.entries(m.tensors).map(([n, { shape, offset }]) => [n, all.slice(offset, offset + shape.reduce((a, b) => a * b, 1))]));
  const def = TOKEN_SEQUENTIAL_VARIANTS[m.variant];
  const x = Object.fromEntries(def.inputs.map((i) => [i.name, f32(t[i.name])]));
  const size = { B: m.B, T: m.T, H: m.H, K: m.K, V: m.V };
  report(`${m.file} (FLA)`, await checkCase(m.variant, size, x, f32(t.h0), f32(t.do), f32(t.dht), m.scale, t));
}

// rwkv7 at the bench's head shape, against the float64 reference.
{
  const size = { B: 1, T: Number(process.env.T ?? 256), H: Number(process.env.H ?? 4), K: 128, V: 128 };
  const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv7;
  const x = sampleInputs(def, size, 3, true);
  const { h0, ...rest } = x;
  const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, (_, i) => Math.sin(i));
  const dht = Float32Array.from({ length: h0.length }, (_, i) => Math.cos(i));
  const want = { ...referenceForward(def, rest, size, { h0 }), ...referenceBackward(def, rest, size, { do: dO, dht }, { h0 }) };
  report(`rwkv7 (B,T,H,K,V) = (${size.B},${size.T},${size.H},128,128)`, await checkCase('rwkv7', size, rest, h0, dO, dht, 1, want));
}

// rwkv4, channels as heads, keys up to ~100 (past f32 exp at 88).
{
  const size = { B: 2, T: 256, H: 64, K: 1, V: 1 };
  const def = TOKEN_SEQUENTIAL_VARIANTS.rwkv4;
  const x = sampleInputs(def, size, 4, true);
  for (let i = 0; i < x.k.length; i++) x.k[i] *= 25;
  const { h0, ...rest } = x;
  const n = size.B * size.T * size.H;
  const dO = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const dht = Float32Array.from({ length: h0.length }, (_, i) => Math.cos(i));
  const want = { ...referenceForward(def, rest, size, { h0 }), ...referenceBackward(def, rest, size, { do: dO, dht }, { h0 }) };
  report('rwkv4 (B,T,C) = (2,256,64)', await checkCase('rwkv4', size, rest, h0, dO, dht, 1, want));
}
engine.destroy();
process.exit(bad ? 1 : 0);
