// GPU check (run on the H100 after `npm run build`): packed sequences (cuSeqlens) against each
// sequence run alone, K = V = 128, chunk 64; argv: variants (default all nine).
// e.g. node bench/checks/varlen.mjs gla,kda
import { createEngine, VARIANTS, sampleInputs, relL2 } from '../../dist/index.js';
import { seededRandom } from '../../dist/runtime/sample.js';
const names = process.argv[2] ? process.argv[2].split(',') : Object.keys(VARIANTS);
const LENS = [700, 64, 1, 1234, 0, 129];
const cu = Int32Array.from(LENS.reduce((a, n) => [...a, a[a.length - 1] + n], [0]));
const S = LENS.length, T = cu[S], H = 4, K = 128, V = 128, ST = H * K * V;
const engine = await createEngine();
const row = (a, s) => a.slice(s * ST, (s + 1) * ST);
for (const name of names) {
  const def = VARIANTS[name];
  const op = engine.variant(name);
  const inputs = sampleInputs(def, { B: 1, T, H, K, V, S }, 3, true);
  const rnd = seededRandom(9);
  const dO = Float32Array.from({ length: T * H * V }, () => rnd.normal());
  const dht = Float32Array.from({ length: S * ST }, () => rnd.normal());
  const opts = { B: 1, T, H, K, V, cuSeqlens: cu, poisonOutputs: true };
  const f = await op.forward(inputs, { ...opts, saveForBackward: true });
  const g = await op.backward(inputs, { do: dO, dht }, { ...opts, saved: f.saved });
  const { h0, ...tok } = inputs;
  const state = h0.slice();
  const st = await op.step(tok, state, { B: 1, H, K, V, cuSeqlens: cu });
  let worst = {};
  const note = (k, e) => { worst[k] = Math.max(worst[k] ?? 0, e); };
  const shared = {};
  for (let s = 0; s < S; s++) {
    const [t0, t1] = [cu[s], cu[s + 1]];
    if (t0 === t1) { note('empty', relL2(row(f.ht, s), row(h0, s)) + relL2(row(g.dh0, s), row(dht, s))); continue; }
    const alone = {};
    for (const d of def.inputs) {
      if (!d.dims.includes('T')) { alone[d.name] = inputs[d.name]; continue; }
      const w = inputs[d.name].length / T;
      alone[d.name] = inputs[d.name].slice(t0 * w, t1 * w);
    }
    const o1 = { B: 1, T: t1 - t0, H, K, V };
    const a = await op.forward({ ...alone, h0: row(h0, s) }, o1);
    const b = await op.backward({ ...alone, h0: row(h0, s) }, { do: dO.slice(t0 * H * V, t1 * H * V), dht: row(dht, s) }, o1);
    note('o', relL2(f.o.slice(t0 * H * V, t1 * H * V), a.o)); note('ht', relL2(row(f.ht, s), a.ht));
    note('step o', relL2(st.o.slice(t0 * H * V, t1 * H * V), a.o)); note('step state', relL2(row(state, s), a.ht));
    note('dh0', relL2(row(g.dh0, s), b.dh0));
    for (const d of def.inputs) {
      const k = `d${d.name}`;
      if (!d.dims.includes('T')) { shared[k] ??= new Float64Array(b[k].length); b[k].forEach((x, i) => { shared[k][i] += x; }); continue; }
      const w = b[k].length / (t1 - t0);
      note(k, relL2(g[k].slice(t0 * w, t1 * w), b[k]));
    }
  }
  for (const [k, v] of Object.entries(shared)) note(k, relL2(g[k], v));
  console.log(name.padEnd(17), Object.entries(worst).map(([k, v]) => `${k}=${v.toExponential(1)}`).join(' '));
}
engine.destroy();
