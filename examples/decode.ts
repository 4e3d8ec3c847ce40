// Decoding with lae: prefill a prompt with the chunked forward, then generate token by token
// with the decode step, the state staying on the GPU between steps.
// Run after `npm run build`: node dist/examples/decode.js
import { createEngine, GpuTensor, sampleInputs, stateShape, type VariantDef } from '../index.js';

const B = 1, H = 4, K = 64, V = 64, PROMPT = 128, GENERATE = 16;

/** One token's inputs for the variant; a model would compute q, k, v, gates from its hidden state. */
function nextTokenInputs(def: VariantDef, t: number) {
  const { h0: _h0, ...inputs } = sampleInputs(def, { B, T: 1, H, K, V }, 1000 + t, false);
  return inputs;
}

const engine = await createEngine();
try {
  const op = engine.variant('gated_delta_rule');
  const prompt = sampleInputs(op.def, { B, T: PROMPT, H, K, V }, 1, false);
  const { ht } = await op.forward(prompt, { B, T: PROMPT, H, K, V });
  const state = GpuTensor.upload(engine.device, 'state', ht!, stateShape(op.def, { B, T: 1, H, K, V }));
  const t0 = performance.now();
  for (let t = 0; t < GENERATE; t++) {
    const { o } = await op.step(nextTokenInputs(op.def, t), state, { B, H, K, V });
    if (t === 0) console.log(`first generated output row: ${Array.from(o.subarray(0, 4), (x) => x.toFixed(4)).join(' ')} ...`);
  }
  const ms = (performance.now() - t0) / GENERATE;
  console.log(`${GENERATE} decode steps on ${engine.adapterName}: ${ms.toFixed(2)} ms per step (host round trip included)`);
  state.destroy();
} finally {
  engine.destroy();
}
