// `lae demo`: every variant on the default device against the float64 reference.
import { createEngine } from '../runtime/engine.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { VARIANT_NAMES } from '../variants/index.js';
import type { ProblemSize } from '../dsl/index.js';
import { relL2 } from '../runtime/compare.js';

export const DEMO_TOLERANCE = 1e-4;

export async function runDemo(size: ProblemSize, chunk: 16 | 32 | 64, log: (s: string) => void): Promise<boolean> {
  const engine = await createEngine();
  try {
    log(`lae demo on ${engine.adapterName}`);
    log(`(B,T,H,K,V) = (${size.B},${size.T},${size.H},${size.K},${size.V}), chunk ${chunk}, random inputs with h0, float64 CPU reference\n`);
    log('| variant | o rel L2 | ht rel L2 | first run ms (compile + run) | run ms | ok |');
    log('|---|---|---|---|---|---|');
    let allOk = true;
    for (const name of VARIANT_NAMES) {
      const op = engine.variant(name);
      const inputs = sampleInputs(op.def, size, 11, true);
      const ref = referenceForward(op.def, inputs, size, { h0: inputs.h0 });
      const t0 = performance.now();
      await op.forward(inputs, { ...size, chunkSize: chunk, poisonOutputs: true });
      const first = performance.now() - t0;
      const t1 = performance.now();
      const got = await op.forward(inputs, { ...size, chunkSize: chunk, poisonOutputs: true });
      const again = performance.now() - t1;
      const eo = relL2(got.o, ref.o);
      const eh = relL2(got.ht!, ref.ht);
      const ok = eo < DEMO_TOLERANCE && eh < DEMO_TOLERANCE;
      allOk &&= ok;
      log(`| ${name} | ${eo.toExponential(2)} | ${eh.toExponential(2)} | ${first.toFixed(0)} | ${again.toFixed(1)} | ${ok ? 'yes' : 'NO'} |`);
    }
    log(`\n${allOk ? 'all variants within' : 'SOME VARIANTS OUTSIDE'} relative L2 ${DEMO_TOLERANCE}`);
    return allOk;
  } finally {
    engine.destroy();
  }
}
