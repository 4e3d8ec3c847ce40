// Runs in headless Chromium (test/browser.test.ts): bundled with esbuild for the browser from
// the published entry point, dist/index.js, as a user's bundler would.
import {
  createEngine, defineVariant, referenceBackward, referenceForward, relL2, sampleInputs, VARIANT_NAMES, VARIANTS,
  type VariantDef,
} from 'lae'; // the package's entry: dist/index.js in the bundle (test/browser.test.ts), index.ts for tsc

/** A spec written in the page: GLA with a sigmoid-squashed log decay and a scaled value. */
const pageSpec = defineVariant({
  name: 'page_gla',
  description: 'written in the browser page',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v.mul(0.5),
  decay: 'diagonal', logDecay: ({ g }) => g,
  correction: 'none',
});

function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

export interface PageResult {
  adapter: { vendor: string; architecture: string; description: string };
  limits: { maxStorageBuffersPerShaderStage: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
  errors: { variant: string; what: string; err: number }[];
  ms: number;
}

/** forward, backward and step of every variant (or of the built-ins named in `only`) and the
 * page's spec against the float64 reference.
 * defaultLimits: the device is made with requestDevice() and no requiredLimits. */
async function run(defaultLimits: boolean, only?: readonly string[]): Promise<PageResult> {
  const t0 = performance.now();
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('requestAdapter() returned null');
  const device = defaultLimits ? await adapter.requestDevice() : undefined;
  const engine = await createEngine(device ? { device } : {});
  const used = engine.device.limits;
  const size = { B: 1, T: 19, H: 2, K: 8, V: 6 };
  const errors: PageResult['errors'] = [];
  const defs: VariantDef[] = [...VARIANT_NAMES.filter((n) => !only || only.includes(n)).map((n) => VARIANTS[n]), pageSpec];
  for (const def of defs) {
    const op = engine.variant(def);
    const inputs = sampleInputs(def, size, 7, true);
    const { h0, ...rest } = inputs;
    const ref = referenceForward(def, rest, size, { h0 });
    const fwd = await op.forward(inputs, { ...size, chunkSize: 16 });
    errors.push({ variant: def.name, what: 'forward o', err: relL2(fwd.o, ref.o) });
    errors.push({ variant: def.name, what: 'forward ht', err: relL2(fwd.ht!, ref.ht) });
    const seeds = { do: normals(size.B * size.T * size.H * size.V, 3), dht: normals(size.B * size.H * size.K * size.V, 4) };
    const grads = await op.backward(inputs, seeds, { ...size, chunkSize: 16 });
    const refGrads = referenceBackward(def, rest, size, seeds, { h0 });
    for (const name of [...def.inputs.map((i) => `d${i.name}`), 'dh0']) {
      errors.push({ variant: def.name, what: `backward ${name}`, err: relL2(grads[name]!, refGrads[name]!) });
    }
    const state = Float32Array.from(h0!);
    const step = await op.step(rest, state, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T });
    errors.push({ variant: def.name, what: 'step o', err: relL2(step.o, ref.o) });
    errors.push({ variant: def.name, what: 'step state', err: relL2(state, ref.ht) });
  }
  engine.destroy();
  device?.destroy();
  const info = adapter.info;
  return {
    adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description },
    limits: {
      maxStorageBuffersPerShaderStage: used.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: used.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: used.maxComputeInvocationsPerWorkgroup,
    },
    errors,
    ms: performance.now() - t0,
  };
}

(globalThis as unknown as { laeRun: typeof run }).laeRun = run;
