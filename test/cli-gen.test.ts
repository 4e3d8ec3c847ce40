// `lae gen`: written WGSL compiles on the device, the generated TS module type-checks and its
// standalone forward matches the float64 reference; spec files load with no build step.
// Spec loading imports the built package: run `npm run build` before these tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { genPlans, requiredLimits, runGen } from '../cli/gen.js';
import { DEFAULT_LIMITS } from '../codegen/index.js';
import { importModuleSource, loadSpecFile } from '../cli/load-spec.js';
import { compile } from '../runtime/pipelines.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { VARIANTS, VARIANT_NAMES } from '../variants/index.js';
import type { ProblemSize, VariantDef } from '../dsl/index.js';
import { getEngine, getTensorCoreEngine } from './helpers/engine.js';
import { relL2, rng } from './helpers/numerics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOL = 1e-4;

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'lae-cli-gen-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

const TYPE_CHECK_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: ['@webgpu/types'],
  typeRoots: [join(ROOT, 'node_modules')],
  strict: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  noImplicitReturns: true,
  skipLibCheck: true,
  noEmit: true,
};
/** A compiler host that parses the declarations under node_modules (TypeScript's lib.dom.d.ts,
 * @webgpu/types) once for all the type checks of this file: parsing them was most of each. */
const typeCheckHost = ts.createCompilerHost(TYPE_CHECK_OPTIONS);
const parsedLibs = new Map<string, ts.SourceFile | undefined>();
const parse = typeCheckHost.getSourceFile.bind(typeCheckHost);
typeCheckHost.getSourceFile = (name, language, onError, create) => {
  if (!name.includes('/node_modules/')) return parse(name, language, onError, create);
  if (!parsedLibs.has(name)) parsedLibs.set(name, parse(name, language, onError, create));
  return parsedLibs.get(name);
};

/** Type-checks generated modules as a user project would: strict, with @webgpu/types. */
function typeCheck(files: string[]): string[] {
  const program = ts.createProgram(files, TYPE_CHECK_OPTIONS, typeCheckHost);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.formatDiagnostic(d, {
    getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n',
  }));
}

/** Imports a generated .kernels.ts the way a bundler would: transpiled, no type info needed. */
async function importGenerated(file: string): Promise<GeneratedModule> {
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file, compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  return (await importModuleSource(js, basename(file))) as unknown as GeneratedModule;
}

interface GeneratedModule {
  VARIANT: string;
  CONFIG: { chunk: number; wgMemory: number };
  REQUIRED_LIMITS: Record<string, number>;
  DEFAULT_SCALE: number;
  MODES: readonly string[];
  PLANS: Record<string, { kernels: readonly { name: string; wgsl: string }[] }>;
  createKernels(device: GPUDevice): Promise<unknown>;
  forward(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, size: { B: number; T: number; H: number },
    opts?: { scale?: number; mode?: string }): Promise<{ o: Float32Array; ht: Float32Array }>;
  backward(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, seeds: { do: Float32Array; dht?: Float32Array },
    size: { B: number; T: number; H: number }, opts?: { scale?: number }): Promise<Record<string, Float32Array>>;
  step(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, state: Float32Array,
    size: { B: number; H: number; N?: number }, opts?: { scale?: number }): Promise<{ o: Float32Array }>;
  encodeForward(device: GPUDevice, pipelines: unknown, encoder: GPUCommandEncoder, inputs: Record<string, GpuBinding>, outputs: { o: GpuBinding; ht?: GpuBinding },
    size: { B: number; T: number; H: number }, opts?: { scale?: number; mode?: string }): Promise<void>;
  encodeStep(device: GPUDevice, pipelines: unknown, encoder: GPUCommandEncoder, inputs: Record<string, GpuBinding>, state: GpuBinding, outputs: { o: GpuBinding },
    size: { B: number; H: number; N?: number }, opts?: { scale?: number }): Promise<void>;
  encodeBackward(device: GPUDevice, pipelines: unknown, encoder: GPUCommandEncoder, inputs: Record<string, GpuBinding>, seeds: { do: GpuBinding; dht?: GpuBinding },
    grads: Record<string, GpuBinding>, size: { B: number; T: number; H: number }, opts?: { scale?: number }): Promise<void>;
  releaseScratch(device: GPUDevice): void;
}
type GpuBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** A module made with --varlen: sizes carry cuSeqlens (B = 1). */
interface VarlenModule {
  createKernels(device: GPUDevice): Promise<unknown>;
  forward(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, size: { B: number; T: number; H: number; cuSeqlens: Int32Array | readonly number[] },
    opts?: { mode?: string }): Promise<{ o: Float32Array; ht: Float32Array }>;
  backward(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, seeds: { do: Float32Array; dht?: Float32Array },
    size: { B: number; T: number; H: number; cuSeqlens: Int32Array }): Promise<Record<string, Float32Array>>;
  step(device: GPUDevice, pipelines: unknown, inputs: Record<string, Float32Array>, state: Float32Array,
    size: { B: number; H: number; N?: number; cuSeqlens: Int32Array }): Promise<{ o: Float32Array }>;
}

/** Random inputs by name: gates as log-sigmoids (negative), the rest standard normal. */
function randomInputs(def: VariantDef, size: ProblemSize, seed: number): Record<string, Float32Array> {
  const r = rng(seed);
  const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
  const out: Record<string, Float32Array> = {};
  for (const i of def.inputs) {
    const n = i.dims.reduce((a, d) => a * size[d], 1);
    const gate = i.name === 'g' || i.name === 'w';
    out[i.name] = Float32Array.from({ length: n }, () => (gate ? -softplus(r.normal()) : r.normal()));
  }
  return out;
}

async function checkForward(mod: GeneratedModule, def: VariantDef, size: ProblemSize, seed: number): Promise<void> {
  const engine = await getEngine();
  const pipelines = await mod.createKernels(engine.device);
  const inputs = randomInputs(def, size, seed);
  const r = rng(seed + 1000);
  const h0 = Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
  for (const mode of mod.MODES) {
    for (const withH0 of [false, true]) {
      const scale = withH0 ? 0.37 : undefined;
      const got = await mod.forward(engine.device, pipelines, withH0 ? { ...inputs, h0 } : inputs,
        { B: size.B, T: size.T, H: size.H }, { mode, ...(scale === undefined ? {} : { scale }) });
      const want = referenceForward(def, inputs, size, { h0: withH0 ? h0 : null, scale });
      expect(relL2(got.o, want.o), `${def.name} ${mode} h0=${withH0} o`).toBeLessThan(TOL);
      expect(relL2(got.ht, want.ht), `${def.name} ${mode} h0=${withH0} ht`).toBeLessThan(TOL);
    }
  }
}

describe('lae gen: built-in variants', () => {
  it('writes .wgsl files and gla.kernels.ts; every kernel compiles on the device', async () => {
    const out = join(tmp, 'gla-default');
    const files = await runGen({ variant: 'gla', out });
    const names = files.map((f) => basename(f)).sort();
    const forward = ['gla_chunkState.wgsl', 'gla_output.wgsl', 'gla_prep.wgsl', 'gla_recurrent.wgsl', 'gla_stateScan.wgsl'];
    const backward = ['gla_bwdChunkEnd.wgsl', 'gla_bwdChunkState.wgsl', 'gla_bwdDScores.wgsl', 'gla_bwdDk.wgsl', 'gla_bwdDq.wgsl', 'gla_bwdDu.wgsl', 'gla_bwdDvLocal.wgsl', 'gla_bwdGate.wgsl', 'gla_bwdInter.wgsl',
      'gla_bwdScores.wgsl', 'gla_bwdStateScan.wgsl'];
    // No chain kernels: gla reads each input as a role itself, so each gradient is the role's.
    expect(names).toEqual(['gla.kernels.ts', ...forward, ...backward, 'gla_step.wgsl'].sort());
    for (const f of files) expect(existsSync(f)).toBe(true);
    const engine = await getEngine();
    for (const f of files.filter((x) => x.endsWith('.wgsl'))) {
      const wgsl = readFileSync(f, 'utf8');
      expect(wgsl).toContain(`spec hash ${VARIANTS.gla.hash}`);
      expect(wgsl).toContain('"K":128');
      await compile(engine.device, basename(f), wgsl);
    }
    const mod = readFileSync(join(out, 'gla.kernels.ts'), 'utf8');
    expect(mod).toMatch(/^\/\/\/ <reference types="@webgpu\/types" \/>/);
    expect(mod).not.toMatch(/^import /m);
    expect(mod).toContain('export async function forward(');
    expect(mod).toContain('export async function backward(');
    expect(mod).toContain('export async function step(');
    expect(mod).toContain('export async function createKernels(');
    expect(mod).toContain(`DEFAULT_SCALE = ${1 / Math.sqrt(128)}`);
    // By default within WebGPU's default limits: chunks of 32 in 16 KiB of workgroup memory.
    expect(mod).toMatch(/CONFIG = \{ K: 128, V: 128, chunk: 32, wgMemory: 16384 \}/);
    expect(mod).toMatch(/Device limits the kernels need: within WebGPU's defaults/);
  });

  it("by default every module fits WebGPU's default limits (all nine variants, with and without --varlen); past them, createKernels says what to do", async () => {
    const defaults = {
      maxStorageBuffersPerShaderStage: DEFAULT_LIMITS.maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize: DEFAULT_LIMITS.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: DEFAULT_LIMITS.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX: DEFAULT_LIMITS.maxComputeWorkgroupSizeX,
    };
    for (const name of VARIANT_NAMES) {
      for (const varlen of [false, true]) expect(requiredLimits(genPlans(VARIANTS[name], { varlen }).plans), `${name}${varlen ? ' --varlen' : ''}`).toEqual(defaults);
    }
    expect(() => genPlans(VARIANTS.gla, { chunk: 64 })).toThrow(/chunks of 64 need 32768 bytes of workgroup memory, past the 16384 asked for: use --chunk 32, or --wg-memory 32768/);
    expect(() => genPlans(VARIANTS.gla, { tensorCores: 'portable', wgMemory: 16384 })).toThrow(/tensor-core tier's kernels need 32768 bytes/);
    // --wg-memory 32768: chunks of 64, and a device with WebGPU's default limits is refused before any compile.
    const out = join(tmp, 'gla-32k');
    await runGen({ variant: 'gla', out, wgMemory: 32768 });
    const mod = await importGenerated(join(out, 'gla.kernels.ts'));
    expect(mod.CONFIG.chunk).toBe(64);
    expect(mod.REQUIRED_LIMITS.maxComputeWorkgroupStorageSize).toBeGreaterThan(16384);
    const defaultDevice = { features: new Set<string>(), limits: { ...DEFAULT_LIMITS } } as unknown as GPUDevice;
    await expect(mod.createKernels(defaultDevice)).rejects.toThrow(
      /these kernels need maxComputeWorkgroupStorageSize >= \d+; the device grants 16384: create it with adapter\.requestDevice\(\{ requiredLimits: REQUIRED_LIMITS \}\).*lae gen --wg-memory 16384/);
  });

  it('respects mode and chunk, and rejects what it cannot generate', async () => {
    const files = await runGen({ variant: 'delta_rule', out: join(tmp, 'dr'), mode: 'recurrent', K: 32, V: 16, chunk: 32 });
    expect(files.map((f) => basename(f))).toEqual(['delta_rule_recurrent.wgsl', 'delta_rule_step.wgsl', 'delta_rule.kernels.ts']);
    const chunked = await runGen({ variant: 'delta_rule', out: join(tmp, 'dr2'), mode: 'chunked', chunk: 16 });
    expect(chunked.some((f) => f.endsWith('recurrent.wgsl'))).toBe(false);
    expect(readFileSync(chunked[0]!, 'utf8')).toContain('"chunk":16');
    await expect(runGen({ variant: 'nope', out: join(tmp, 'x') })).rejects.toThrow(/unknown variant 'nope'.*gla/);
    await expect(runGen({ variant: 'gla', out: join(tmp, 'x'), chunk: 8 as 16 })).rejects.toThrow(/chunk size 8/);
    await expect(runGen({ variant: 'gla', out: join(tmp, 'x'), K: 300 })).rejects.toThrow(/K = 300/);
    await expect(runGen({ variant: 'gla', out: join(tmp, 'x'), mode: 'fast' as 'both' })).rejects.toThrow(/mode must be/);
  });

  it('the generated gla module type-checks, and its forward matches the reference', async () => {
    const out = join(tmp, 'gla-small');
    await runGen({ variant: 'gla', out, K: 16, V: 8, chunk: 16 });
    const file = join(out, 'gla.kernels.ts');
    expect(typeCheck([file])).toEqual([]);
    const mod = await importGenerated(file);
    expect(mod.VARIANT).toBe('gla');
    expect(mod.MODES).toEqual(['chunked', 'recurrent']);
    expect(mod.DEFAULT_SCALE).toBeCloseTo(0.25, 12);
    await checkForward(mod, VARIANTS.gla, { B: 1, T: 20, H: 2, K: 16, V: 8 }, 7);
  });

  it("the generated gla module's backward and step match the float64 reference", async () => {
    const engine = await getEngine();
    const mod = await importGenerated(join(tmp, 'gla-small', 'gla.kernels.ts'));
    const pipelines = await mod.createKernels(engine.device);
    const size = { B: 1, T: 20, H: 2, K: 16, V: 8 };
    const def = VARIANTS.gla;
    const inputs = randomInputs(def, size, 17);
    const r = rng(18);
    const h0 = Float32Array.from({ length: size.B * size.H * size.K * size.V }, () => r.normal());
    const dO = Float32Array.from({ length: size.B * size.T * size.H * size.V }, () => r.normal());
    const dht = Float32Array.from({ length: h0.length }, () => r.normal());
    const grads = await mod.backward(engine.device, pipelines, { ...inputs, h0 }, { do: dO, dht }, size);
    const want = referenceBackward(def, inputs, size, { do: dO, dht }, { h0 });
    expect(Object.keys(grads).sort()).toEqual(['dg', 'dh0', 'dk', 'dq', 'dv']);
    for (const name of Object.keys(want)) expect(relL2(grads[name]!, want[name]!), name).toBeLessThan(TOL);
    // Step through the first 3 tokens, one call of N = 3: o and the state match the forward's.
    const N = 3;
    const first = Object.fromEntries(def.inputs.map((i) => {
      const row = inputs[i.name]!.length / size.T;
      return [i.name, inputs[i.name]!.slice(0, N * row)];
    }));
    const state = h0.slice();
    const { o } = await mod.step(engine.device, pipelines, first, state, { B: 1, H: size.H, N });
    const ref = referenceForward(def, first, { ...size, T: N }, { h0 });
    expect(relL2(o, ref.o)).toBeLessThan(TOL);
    expect(relL2(state, ref.ht)).toBeLessThan(TOL);
  });

  it("the generated module's encode calls run on the caller's GPU buffers, recorded into the caller's encoder", async () => {
    const engine = await getEngine();
    const device = engine.device;
    const mod = await importGenerated(join(tmp, 'gla-small', 'gla.kernels.ts'));
    const pipelines = await mod.createKernels(device);
    const size = { B: 1, T: 20, H: 2, K: 16, V: 8 };
    const def = VARIANTS.gla;
    const inputs = randomInputs(def, size, 27);
    const tok = randomInputs(def, { ...size, T: 1 }, 28);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const upload = (a: Float32Array) => {
      const b = device.createBuffer({ size: a.byteLength, usage });
      device.queue.writeBuffer(b, 0, a as Float32Array<ArrayBuffer>);
      return b;
    };
    const empty = (n: number) => device.createBuffer({ size: n * 4, usage });
    const readBack = async (b: GPUBuffer, n: number, offset = 0) => {
      const staging = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(b, offset, staging, 0, n * 4);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(staging.getMappedRange().slice(0));
      staging.destroy();
      return out;
    };
    const x = Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, upload(a)]));
    const x1 = Object.fromEntries(Object.entries(tok).map(([k, a]) => [k, upload(a)]));
    const oN = size.B * size.T * size.H * size.V;
    const stateN = size.B * size.H * size.K * size.V;
    // o at an offset of a larger buffer; the state written by the forward, advanced by the step.
    const align = device.limits.minStorageBufferOffsetAlignment;
    const oArena = empty(align / 4 + oN);
    const state = empty(stateN);
    const o1 = empty(size.B * size.H * size.V);
    const enc = device.createCommandEncoder();
    await mod.encodeForward(device, pipelines, enc, x, { o: { buffer: oArena, offset: align, size: oN * 4 }, ht: state }, size, { mode: 'chunked' });
    await mod.encodeStep(device, pipelines, enc, x1, state, { o: o1 }, { B: size.B, H: size.H });
    device.queue.submit([enc.finish()]);
    const want = referenceForward(def, inputs, size);
    const want1 = referenceForward(def, tok, { ...size, T: 1 }, { h0: want.ht });
    expect(relL2(await readBack(oArena, oN, align), want.o)).toBeLessThan(TOL);
    expect(relL2(await readBack(o1, size.B * size.H * size.V), want1.o)).toBeLessThan(TOL);
    expect(relL2(await readBack(state, stateN), want1.ht)).toBeLessThan(TOL);

    // The backward into the caller's gradient buffers.
    const r = rng(29);
    const dO = Float32Array.from({ length: oN }, () => r.normal());
    const grads = Object.fromEntries(def.inputs.map((i) => [`d${i.name}`, empty(inputs[i.name]!.length)]));
    const enc2 = device.createCommandEncoder();
    await mod.encodeBackward(device, pipelines, enc2, x, { do: upload(dO) }, grads, size);
    device.queue.submit([enc2.finish()]);
    const wantGrads = referenceBackward(def, inputs, size, { do: dO });
    for (const i of def.inputs) expect(relL2(await readBack(grads[`d${i.name}`]!, inputs[i.name]!.length), wantGrads[`d${i.name}`]!), `d${i.name}`).toBeLessThan(TOL);

    // Bad bindings are named.
    const enc3 = device.createCommandEncoder();
    await expect(mod.encodeForward(device, pipelines, enc3, { ...x, q: { buffer: oArena, offset: 4 } }, { o: empty(oN) }, size))
      .rejects.toThrow(/input 'q': offset 4 is not a multiple of this device's minStorageBufferOffsetAlignment/);
    await expect(mod.encodeForward(device, pipelines, enc3, x, { o: empty(oN - 2) }, size)).rejects.toThrow(/output 'o': the binding has \d+ bytes; the tensor needs \d+/);
    await expect(mod.encodeForward(device, pipelines, enc3, { ...x, g: inputs.g as unknown as GPUBuffer }, { o: empty(oN) }, size))
      .rejects.toThrow(/input 'g' must be a GPUBuffer or a binding/);
    enc3.finish();
    mod.releaseScratch(device);
  });

  it('lae gen --varlen: the module takes cuSeqlens; forward, backward and step match each sequence alone', async () => {
    const out = join(tmp, 'gla-varlen');
    // compactLoops and test/varlen.test.ts's K, V and chunk: the kernels of that file's gla on
    // packed sequences (the same WGSL but for the header comment), compiled once per run. The
    // module's loops as lae gen writes them by default (no compactLoops) run in the gla-small
    // tests above; compactLoops only adds an opaque zero to loop bounds (codegen/kernels/common.ts).
    await runGen({ variant: 'gla', out, K: 8, V: 4, chunk: 16, varlen: true, compactLoops: true });
    const file = join(out, 'gla.kernels.ts');
    expect(typeCheck([file])).toEqual([]);
    const mod = await importGenerated(file) as unknown as VarlenModule;
    const engine = await getEngine();
    const pipelines = await mod.createKernels(engine.device);
    const def = VARIANTS.gla;
    const cu = Int32Array.from([0, 5, 5, 21, 30]);
    const S = cu.length - 1, T = 30, H = 2, K = 8, V = 4, ST = H * K * V;
    const size = { B: 1, T, H, cuSeqlens: cu };
    const inputs = randomInputs(def, { B: 1, T, H, K, V }, 21);
    const r = rng(22);
    const h0 = Float32Array.from({ length: S * ST }, () => r.normal());
    const dO = Float32Array.from({ length: T * H * V }, () => r.normal());
    const dht = Float32Array.from({ length: S * ST }, () => r.normal());
    const fwd = { chunked: await mod.forward(engine.device, pipelines, { ...inputs, h0 }, size, { mode: 'chunked' }),
      recurrent: await mod.forward(engine.device, pipelines, { ...inputs, h0 }, size, { mode: 'recurrent' }) };
    const grads = await mod.backward(engine.device, pipelines, { ...inputs, h0 }, { do: dO, dht }, size);
    const state = h0.slice();
    const { o: stepO } = await mod.step(engine.device, pipelines, inputs, state, { B: 1, H, cuSeqlens: cu });
    const tok = (a: Float32Array, w: number, s: number) => a.slice(cu[s]! * w, cu[s + 1]! * w);
    const row = (a: Float32Array, s: number) => a.slice(s * ST, (s + 1) * ST);
    for (let s = 0; s < S; s++) {
      const n = cu[s + 1]! - cu[s]!;
      if (n === 0) {
        expect(row(fwd.chunked.ht, s)).toEqual(row(h0, s));
        expect(row(grads.dh0!, s)).toEqual(row(dht, s));
        continue;
      }
      const alone = Object.fromEntries(def.inputs.map((i) => [i.name, tok(inputs[i.name]!, inputs[i.name]!.length / T, s)]));
      const one = { B: 1, T: n, H, K, V };
      const want = referenceForward(def, alone, one, { h0: row(h0, s) });
      for (const [mode, got] of Object.entries(fwd)) {
        expect(relL2(tok(got.o, H * V, s), want.o), `${mode} o ${s}`).toBeLessThan(TOL);
        expect(relL2(row(got.ht, s), want.ht), `${mode} ht ${s}`).toBeLessThan(TOL);
      }
      expect(relL2(tok(stepO, H * V, s), want.o), `step o ${s}`).toBeLessThan(TOL);
      expect(relL2(row(state, s), want.ht), `step state ${s}`).toBeLessThan(TOL);
      const wantG = referenceBackward(def, alone, one, { do: tok(dO, H * V, s), dht: row(dht, s) }, { h0: row(h0, s) });
      for (const i of def.inputs) expect(relL2(tok(grads[`d${i.name}`]!, inputs[i.name]!.length / T, s), wantG[`d${i.name}`]!), `d${i.name} ${s}`).toBeLessThan(TOL);
      expect(relL2(row(grads.dh0!, s), wantG.dh0!), `dh0 ${s}`).toBeLessThan(TOL);
    }
    await expect(mod.forward(engine.device, pipelines, inputs, { ...size, cuSeqlens: [0, 5, 29] }))
      .rejects.toThrow(/cuSeqlens ends at 29 but the packed inputs have T = 30 tokens/);
    await expect(mod.forward(engine.device, pipelines, inputs, { ...size, cuSeqlens: [0, 9, 5, 30] }))
      .rejects.toThrow(/cuSeqlens is not increasing/);
  });

  it('lae gen --varlen of gated_delta_rule, whose plans pack buffers and read the state in place (codegen/fit.ts): the module equals the engine', async () => {
    const out = join(tmp, 'gdr-varlen');
    // test/varlen.test.ts's K, V and chunk: that file's gated_delta_rule kernels on packed sequences.
    await runGen({ variant: 'gated_delta_rule', out, K: 8, V: 4, chunk: 16, varlen: true, compactLoops: true });
    const file = join(out, 'gated_delta_rule.kernels.ts');
    expect(typeCheck([file])).toEqual([]);
    const mod = await importGenerated(file) as unknown as VarlenModule & { PLANS: Record<string, { kernels: readonly { stage: string }[] }> };
    const stages = (name: string) => mod.PLANS[name]!.kernels.map((k) => k.stage);
    expect(stages('chunked')).toContain('packIn');
    expect(stages('chunked')).toContain('stateInit');
    expect(stages('recurrent')).toContain('stateInit');
    expect(stages('backward')).toContain('packIn');
    const engine = await getEngine();
    const pipelines = await mod.createKernels(engine.device);
    const def = VARIANTS.gated_delta_rule;
    const cu = Int32Array.from([0, 5, 5, 21, 30]);
    const T = 30, H = 2, K = 8, V = 4;
    const { h0, ...inputs } = sampleInputs(def, { B: 1, T, H, K, V, S: cu.length - 1 }, 31, true);
    const r = rng(32);
    const dO = Float32Array.from({ length: T * H * V }, () => r.normal());
    const dht = Float32Array.from({ length: h0!.length }, () => r.normal());
    const size = { B: 1, T, H, cuSeqlens: cu };
    const op = engine.variant(def);
    const opts = { B: 1, T, H, K, V, cuSeqlens: cu, chunkSize: 16 as const };
    for (const mode of ['chunked', 'recurrent'] as const) {
      const got = await mod.forward(engine.device, pipelines, { ...inputs, h0: h0! }, size, { mode });
      const want = await op.forward({ ...inputs, h0 }, { ...opts, mode });
      expect(relL2(got.o, want.o), `${mode} o`).toBeLessThan(1e-5);
      expect(relL2(got.ht, want.ht!), `${mode} ht`).toBeLessThan(1e-5);
    }
    const grads = await mod.backward(engine.device, pipelines, { ...inputs, h0: h0! }, { do: dO, dht }, size);
    const want = await op.backward({ ...inputs, h0 }, { do: dO, dht }, opts);
    for (const g of [...def.inputs.map((i) => `d${i.name}`), 'dh0']) expect(relL2(grads[g]!, want[g]!), g).toBeLessThan(1e-5);
  });

  it("the module runs lae's own plan runner and varlen tables: their source, verbatim", async () => {
    const out = join(tmp, 'gla-embed');
    await runGen({ variant: 'gla', out, K: 16, V: 8, chunk: 16, varlen: true });
    const mod = readFileSync(join(out, 'gla.kernels.ts'), 'utf8');
    const statements = (file: string) => ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true)
      .statements.filter((st) => !ts.isImportDeclaration(st));
    // All of the runner; of varlen.ts, the check and the tables (the rest is the engine's).
    for (const st of statements('runtime/plan-run.ts')) expect(mod).toContain(st.getText());
    const varlen = statements('runtime/varlen.ts').filter((st) => ts.isFunctionDeclaration(st) && ['checkCuSeqlens', 'sequenceTables'].includes(st.name!.text));
    expect(varlen).toHaveLength(2);
    for (const st of varlen) expect(mod).toContain(st.getText());
    expect(mod).toMatch(/^\/\/ ---- from lae [\w.-]+: runtime\/plan-run\.ts ----$/m);
    expect(mod).not.toMatch(/^import /m);
  });

  it('the generated modules of all nine variants type-check', async () => {
    const files: string[] = [];
    for (const name of VARIANT_NAMES) {
      const written = await runGen({ variant: name, out: join(tmp, 'all'), K: 16, V: 8, chunk: 16 });
      files.push(written.at(-1)!);
    }
    expect(typeCheck(files)).toEqual([]);
  });

  it('the generated module reports wrong inputs by name', async () => {
    const engine = await getEngine();
    const mod = await importGenerated(join(tmp, 'gla-small', 'gla.kernels.ts'));
    const pipelines = await mod.createKernels(engine.device);
    const size = { B: 1, T: 4, H: 1, K: 16, V: 8 };
    const inputs = randomInputs(VARIANTS.gla, size, 3);
    await expect(mod.forward(engine.device, pipelines, { ...inputs, g: new Float32Array(3) }, size))
      .rejects.toThrow(/input 'g' has 3 elements; expected 64/);
    const { g: _g, ...noG } = inputs;
    await expect(mod.forward(engine.device, pipelines, noG, size)).rejects.toThrow(/missing input 'g'/);
    await expect(mod.forward(engine.device, pipelines, { ...inputs, x: inputs.q! }, size)).rejects.toThrow(/unknown input 'x'/);
  });
});

describe('lae gen --tensor-cores', () => {
  it('portable: the module asks for shader-f16, type-checks, and its forward matches the reference within the tier\'s bound', async () => {
    const out = join(tmp, 'gdn-tc');
    // The size of test/nonfinite.test.ts on this tier: the same forward pipelines.
    const size = { B: 1, T: 40, H: 2, K: 16, V: 8 };
    // compactLoops: lavapipe's JIT is slow on unrolled loops (the module is the same otherwise).
    const files = await runGen({ variant: 'gated_delta_rule', out, chunk: 16, K: size.K, V: size.V, mode: 'chunked', tensorCores: 'portable', compactLoops: true });
    const moduleFile = files.find((f) => f.endsWith('.kernels.ts'))!;
    expect(typeCheck([moduleFile])).toEqual([]);
    const mod = (await importGenerated(moduleFile)) as GeneratedModule & { REQUIRED_FEATURES: readonly string[] };
    expect(mod.REQUIRED_FEATURES).toEqual(['shader-f16']);
    const output = readFileSync(files.find((f) => f.endsWith('_output.wgsl'))!, 'utf8');
    expect(output).toMatch(/\nenable f16;\n/);
    expect(output).toContain('(P.T >> 31u)');
    // A device with shader-f16 (the engine of the tier's portable lowering asks for it).
    const engine = await getTensorCoreEngine();
    const pipelines = await mod.createKernels(engine.device);
    const def = VARIANTS.gated_delta_rule;
    const inputs = randomInputs(def, size, 12);
    inputs.beta = inputs.beta!.map((x) => 1 / (1 + Math.exp(-x)));
    const got = await mod.forward(engine.device, pipelines, inputs, { B: size.B, T: size.T, H: size.H });
    const want = referenceForward(def, inputs, size);
    expect(relL2(got.o, want.o)).toBeLessThan(3e-3);
    expect(relL2(got.ht, want.ht)).toBeLessThan(3e-3);
  });

  it('subgroup-matrix: the WGSL enables the extension, and a device without the features is told what to request', async () => {
    const out = join(tmp, 'gla-tc');
    const files = await runGen({ variant: 'gla', out, K: 32, V: 32, mode: 'chunked', tensorCores: 'subgroup-matrix' });
    const output = readFileSync(files.find((f) => f.endsWith('_output.wgsl'))!, 'utf8');
    expect(output).toContain('enable chromium_experimental_subgroup_matrix;');
    expect(output).toContain('subgroupMatrixMultiplyAccumulate');
    const mod = (await importGenerated(files.find((f) => f.endsWith('.kernels.ts'))!)) as GeneratedModule & { REQUIRED_FEATURES: readonly string[] };
    expect(mod.REQUIRED_FEATURES).toEqual(['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix']);
    const engine = await getEngine();
    if (!engine.device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName)) {
      await expect(mod.createKernels(engine.device)).rejects.toThrow(/lacks .*chromium-experimental-subgroup-matrix.*REQUIRED_FEATURES/);
    }
    await expect(runGen({ variant: 'gla', out, tensorCores: 'tensor' as never })).rejects.toThrow(/tensorCores must be one of subgroup-matrix, portable/);
  });
});

describe('lae gen: spec files', () => {
  const spec = (imports: string, body: string) => `${imports}

export default defineVariant({
${body}
});
`;
  const scalarDecay = `  name: 'scalar_softplus',
  description: 'scalar decay -softplus(a) * c',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], a: ['B', 'T', 'H'], c: ['H'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'scalar', logDecay: ({ a, c }) => softplus(a).neg().mul(c),
  correction: 'none',`;

  it("loads a spec that imports 'lae', and gen writes its kernels and a working module", async () => {
    const file = join(tmp, 'scalar-softplus.ts');
    writeFileSync(file, spec("import { defineVariant, softplus } from 'lae';", scalarDecay));
    const def = await loadSpecFile(file);
    expect(def.name).toBe('scalar_softplus');
    expect(def.decay).toBe('scalar');
    expect(def.inputs.map((i) => i.name)).toEqual(['q', 'k', 'v', 'a', 'c']);
    expect(typeof def.hash).toBe('string');

    const out = join(tmp, 'scalar-out');
    // compactLoops (lavapipe's JIT is slow on unrolled loops; the module is the same otherwise):
    // the default module's loops run in the gla-small tests.
    const files = await runGen({ variant: file, out, K: 16, V: 8, chunk: 16, compactLoops: true });
    const names = files.map((f) => basename(f));
    for (const k of ['chunkState', 'output', 'prep', 'recurrent', 'stateScan', 'step', 'bwdChunkState', 'bwdStateScan', 'bwdDu', 'bwdGate', 'chain_a', 'chain_c']) {
      expect(names).toContain(`scalar_softplus_${k}.wgsl`);
    }
    expect(names).toContain('scalar_softplus.kernels.ts');
    const moduleFile = join(out, 'scalar_softplus.kernels.ts');
    expect(typeCheck([moduleFile])).toEqual([]);
    const size = { B: 1, T: 20, H: 2, K: 16, V: 8 };
    await checkForward(await importGenerated(moduleFile), def, size, 11);
  });

  it('loads a spec that imports the dsl by a relative path (sources or dist)', async () => {
    for (const target of [join(ROOT, 'dsl', 'index.js'), join(ROOT, 'dist', 'dsl', 'index.js')]) {
      const dir = mkdtempSync(join(tmp, 'rel-'));
      const rel = relative(dir, target).split('\\').join('/');
      const file = join(dir, 'my-variant.ts');
      writeFileSync(file, spec(`import { defineVariant, softplus } from '${rel.startsWith('.') ? rel : `./${rel}`}';`, scalarDecay));
      const def = await loadSpecFile(file);
      expect(def.name).toBe('scalar_softplus');
      expect(def.roles.logDecay).toBeDefined();
    }
  });

  it('reports type errors as file:line:col', async () => {
    const file = join(tmp, 'type-error.ts');
    // line 8 of the file: mul() takes an Expr or a number
    writeFileSync(file, spec("import { defineVariant } from 'lae';", `  name: 'bad_types',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'diagonal',
  logDecay: ({ g }) => g.mul('two'),
  correction: 'none',`));
    const err = await loadSpecFile(file).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain('type-error.ts:8:');
    expect(err!.message).toMatch(/'string' is not assignable/);
    await expect(runGen({ variant: file, out: join(tmp, 'never') })).rejects.toThrow(/type-error\.ts:8:\d+: error TS\d+/);
  });

  it('passes spec validation errors (SpecError) through with the field named', async () => {
    const file = join(tmp, 'bogus-decay.ts');
    writeFileSync(file, spec("import { defineVariant } from 'lae';", `  name: 'bogus',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  decay: 'bogus' as any,
  correction: 'none',`));
    const err = await loadSpecFile(file).then(() => null, (e: Error) => e);
    expect(err?.name).toBe('SpecError');
    expect(err?.message).toMatch(/invalid variant spec 'bogus': field 'decay': got "bogus"/);

    const axis = join(tmp, 'bad-axis.ts');
    writeFileSync(axis, spec("import { defineVariant } from 'lae';", `  name: 'bad_axis',
  inputs: { q: ['B', 'T', 'H', 'K'], k: ['B', 'T', 'H', 'K'], v: ['B', 'T', 'H', 'V'], g: ['B', 'T', 'H', 'K'] },
  q: ({ q }) => q, k: ({ k }) => k, v: ({ v }) => v,
  decay: 'scalar', logDecay: ({ g }) => g,
  correction: 'none',`));
    await expect(runGen({ variant: axis, out: join(tmp, 'never') })).rejects.toThrow(/field 'logDecay': reads input 'g'/);
  });

  it('explains a file without a variant default export', async () => {
    const none = join(tmp, 'no-default.ts');
    writeFileSync(none, "export const x: number = 1;\n");
    await expect(loadSpecFile(none)).rejects.toThrow(/export default defineVariant/);
    const wrong = join(tmp, 'wrong-default.ts');
    writeFileSync(wrong, "export default { name: 'x' };\n");
    await expect(loadSpecFile(wrong)).rejects.toThrow(/not a variant definition.*export default defineVariant/s);
    await expect(loadSpecFile(join(tmp, 'missing.ts'))).rejects.toThrow(/spec file not found/);
  });
});
