// Training with lae: fit the initial state (the "memory") and the values of a gated-delta layer
// so that its output matches a target sequence, with forward + backward from TypeScript and Adam.
// The forward keeps its GPU buffers (saveForBackward), so the backward recomputes nothing.
// Run after `npm run build`: node dist/examples/train.js
import { createEngine, sampleInputs, type ProblemSize } from '../index.js';

const size: ProblemSize = { B: 1, T: 48, H: 2, K: 16, V: 16 };
const STEPS = 100;

/** Adam on a flat parameter vector. */
function adam(param: Float32Array, lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8) {
  const m = new Float32Array(param.length), v = new Float32Array(param.length);
  let t = 0;
  return (grad: Float32Array) => {
    t++;
    for (let i = 0; i < param.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * grad[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * grad[i]! * grad[i]!;
      param[i]! -= (lr * m[i]! / (1 - b1 ** t)) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps);
    }
  };
}

const engine = await createEngine();
try {
  const op = engine.variant('gated_delta_rule');
  // The target: the layer's output with a hidden initial state and hidden values.
  const truth = sampleInputs(op.def, size, 1, true);
  const { o: target } = await op.forward(truth, size);
  // The model starts from a zero state and different values; q, k, g, beta are given.
  const params = { h0: new Float32Array(truth.h0!.length), v: sampleInputs(op.def, size, 2, false).v! };
  const steps = { h0: adam(params.h0), v: adam(params.v) };
  let first = 0, last = 0;
  for (let step = 0; step < STEPS; step++) {
    const inputs = { ...truth, ...params };
    const { o, saved } = await op.forward(inputs, { ...size, saveForBackward: true });
    // L = 1/2 ||o - target||^2, so dL/do = o - target.
    const dO = o.map((x, i) => x - target[i]!);
    const loss = 0.5 * dO.reduce((s, x) => s + x * x, 0);
    const grads = await op.backward(inputs, { do: dO }, { ...size, saved });
    steps.h0(grads.dh0!);
    steps.v(grads.dv!);
    if (step === 0) first = loss;
    last = loss;
    if (step % 25 === 0 || step === STEPS - 1) console.log(`step ${String(step).padStart(3)}  loss ${loss.toExponential(3)}`);
  }
  console.log(`loss fell from ${first.toExponential(3)} to ${last.toExponential(3)} (${(first / last).toFixed(0)}x) on ${engine.adapterName}`);
} finally {
  engine.destroy();
}
