// GPU check of the tensor-core tier (run on the GPU machine after `npm run build`): for every
// variant, the forward's o and ht and every gradient of the backward against the float64
// reference, for the subgroup-matrix lowering (the tensor cores) and, on the same device and
// tiles, the portable lowering; f32 inputs. Env: SIZES as B,T,H,K,V;... (default
// 1,300,4,128,128;1,4096,2,128,128), C (chunk, default 64), GRADS=0 to skip the backward,
// UNVERIFIED=1 to run the tensor-core stages that await this check (codegen/backward.ts's
// UNVERIFIED_ON_GPU) on the subgroup matrices too, UNROLL=1 / UNROLL=0 to set tuning.unrollStaging (default: the engine's, unrolled on the subgroup matrices), OUTPUT_TILE (32, 64) to set tuning.outputTile, OUTPUT_SCORES (prep, output) to set tuning.outputScores, DQK_FORM (prefetch, shared, pipelined, single) to set tuning.dqkForm (gla, kda, rwkv6's bwdDq / bwdDk), NONFINITE=1 to check instead (forward and backward) that a NaN in v or an Inf in k at a late token reaches no earlier
// output (the pattern of non-finite elements of o and ht is the reference's), and a NaN in do only the gradients the reference has it in; argv: variants.
// DIST: the build to check (default ../../dist; a second build such as ../../dist-alt).
// Prints one line per variant, lowering and size. The generalized delta rule's variants (rwkv7,
// dplr_delta_rule) run their chunked forward on the tensor-core tier, their backward after the
// token-sequential one.
const DIST = process.env.DIST ?? '../../dist';
const { createEngine, VARIANTS, TOKEN_SEQUENTIAL_VARIANTS, sampleInputs, referenceForward, referenceBackward, relL2 } = await import(`${DIST}/index.js`);
const { seededRandom } = await import(`${DIST}/runtime/sample.js`);
const ALL = { ...VARIANTS, ...TOKEN_SEQUENTIAL_VARIANTS };

const names = process.argv[2] ? process.argv[2].split(',') : Object.keys(VARIANTS);
const sizes = (process.env.SIZES ?? '1,300,4,128,128;1,4096,2,128,128').split(';').map((s) => {
  const [B, T, H, K, V] = s.split(',').map(Number);
  return { B, T, H, K, V };
});
const chunk = Number(process.env.C ?? 64);
const grads = process.env.GRADS !== '0';
const engines = {};
for (const tc of ['auto', 'portable']) {
  // UNVERIFIED=1: the stages awaiting their first GPU check run on the subgroup matrices too.
  engines[tc] = await createEngine({ tensorCores: tc, tuning: { unverifiedFragments: process.env.UNVERIFIED === '1', unrollStaging: process.env.UNROLL === '1' ? true : process.env.UNROLL === '0' ? false : undefined, ...(process.env.OUTPUT_TILE ? { outputTile: Number(process.env.OUTPUT_TILE) } : {}), ...(process.env.OUTPUT_SCORES ? { outputScores: process.env.OUTPUT_SCORES } : {}), ...(process.env.DQK_FORM ? { dqkForm: process.env.DQK_FORM } : {}) } });
  console.log(`tensorCores ${tc}: tier ${engines[tc].tier} (${engines[tc].tierNote}) on ${engines[tc].adapterName}`);
}
const fmt = (x) => x.toExponential(1);
/** Elements finite in one and not the other, and the relative L2 error over the finite ones. */
function pattern(got, ref) {
  let differ = 0; const a = []; const b = [];
  for (let i = 0; i < ref.length; i++) {
    const f = Number.isFinite(ref[i]);
    if (Number.isFinite(got[i]) !== f) differ++; else if (f) { a.push(got[i]); b.push(ref[i]); }
  }
  return `${differ} differ in finiteness, finite ${fmt(relL2(a, b))}`;
}
if (process.env.NONFINITE === '1') {
  for (const size of sizes) {
    for (const name of names) {
      const def = ALL[name];
      for (const [what, role, at, value] of [['v NaN', 'v', 0.4, Number.NaN], ['k Inf', 'k', 0.7, Infinity]]) {
        const inputs = sampleInputs(def, size, 3, true);
        if (!inputs[role]) continue;
        const t = Math.floor(at * size.T);
        const width = role === 'v' ? size.V : size.K;
        inputs[role][(t * size.H) * width + 3] = value;
        const { h0, ...rest } = inputs;
        const ref = referenceForward(def, rest, size, { h0 });
        for (const [tc, engine] of Object.entries(engines)) {
          try {
            const got = await engine.variant(name).forward(inputs, { ...size, chunkSize: chunk, poisonOutputs: true });
            const early = got.o.subarray(0, t * size.H * size.V).every(Number.isFinite);
            console.log(`${name} ${tc} ${what} at t=${t}: o before t ${early ? 'finite' : 'NOT FINITE'}; o ${pattern(got.o, ref.o)}; ht ${pattern(got.ht, ref.ht)}`);
          } catch (e) {
            console.log(`${name} ${tc} ${what}: ERROR ${String(e.message).slice(0, 800)}`);
          }
        }
      }
      // The backward: a NaN in do at a late token reaches only the gradients the reference has it
      // in (the transposed products L^T R of tc-bwd-du.ts set the rows up to it to NaN).
      if (def.correction !== 'dplr') {
        const inputs = sampleInputs(def, size, 3, true);
        const t = Math.floor(0.6 * size.T);
        const rnd = seededRandom(11);
        const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => rnd.normal());
        dO[(t * size.H) * size.V + 2] = Number.NaN;
        const { h0, ...rest } = inputs;
        const ref = referenceBackward(def, rest, size, { do: dO }, { h0 });
        for (const [tc, engine] of Object.entries(engines)) {
          try {
            const got = await engine.variant(name).backward(inputs, { do: dO }, { ...size, chunkSize: chunk, poisonOutputs: true });
            console.log(`${name} ${tc} do NaN at t=${t}: ${Object.keys(ref).map((k) => `${k} ${pattern(got[k], ref[k])}`).join('; ')}`);
          } catch (e) {
            console.log(`${name} ${tc} do NaN: ERROR ${String(e.message).slice(0, 800)}`);
          }
        }
      }
    }
  }
  for (const e of Object.values(engines)) e.destroy();
  process.exit(0);
}
for (const size of sizes) {
  for (const name of names) {
    const def = ALL[name];
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
