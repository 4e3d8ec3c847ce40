// `lae gen`: writes a variant's kernels as .wgsl files plus a standalone, typed TS module
// (`<variant>.kernels.ts`) that embeds them with the plan data, and `forward`, `step` and
// `backward` run by lae's own plan runner (runtime/plan-run.ts, embedded as its source by
// cli/embed.ts), with nothing imported from lae.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Project, VariableDeclarationKind, type SourceFile } from 'ts-morph';
import type { VariantDef } from '../dsl/index.js';
import { VARIANTS, VARIANT_NAMES, TOKEN_SEQUENTIAL_VARIANTS, TOKEN_SEQUENTIAL_NAMES } from '../variants/index.js';
import {
  CHUNK_SIZES, DEFAULT_LIMITS, dplrChunkable, FRAGMENT_LOWERINGS, hasChunkedForm, hasChunkedForward, kernelUsage, maxChunkFor, planBackward, planForward, planStep, WG_MEMORY_TIERS,
  type ChunkSize, type ForwardMode, type FragmentLowering, type KernelPlan, type WorkgroupMemoryTier,
} from '../codegen/index.js';
import { loadSpecFile, packageRoot } from './load-spec.js';
import { embedDeclarations, type EmbedRequest } from './embed.js';
import { SUBGROUP_MATRIX_FEATURES } from '../runtime/tier.js';

const planLabel = (mode: KernelPlan['mode']) => (mode === 'step' || mode === 'stepPool' ? 'decode step' : mode === 'backward' ? 'backward' : `${mode} forward`);

export type GenMode = ForwardMode | 'both';

export interface GenOptions {
  /** A built-in variant name, or the path of a .ts spec file (`export default defineVariant({...})`). */
  variant: string;
  /** Output folder (created if missing). */
  out: string;
  /** Chunk size; default the largest the workgroup-memory tier fits (32 at 16384 bytes, else 64). */
  chunk?: ChunkSize;
  /** Workgroup memory the kernels may use, bytes: 16384 (default for the f32 tier: WebGPU's default
   * limit, so the module runs on any device), 32768 (chunks of 64; default with tensorCores, which
   * need it) or 49152. Past 16384 the device must be created with REQUIRED_LIMITS. */
  wgMemory?: WorkgroupMemoryTier;
  K?: number;
  V?: number;
  /** Which forward(s) to generate; default 'both'. */
  mode?: GenMode;
  /** Kernels for packed variable-length sequences: the module's calls then take cuSeqlens. */
  varlen?: boolean;
  /** The tensor-core tier's kernels, lowered to subgroup matrices or to plain WGSL ('portable');
   * the module then lists the device features it needs (REQUIRED_FEATURES). */
  tensorCores?: FragmentLowering;
  /** Kernels for software adapters (SwiftShader, lavapipe): loop bounds carry an opaque zero so
   * their JIT keeps loops rolled (CodegenConfig.compactLoops); slower on a GPU. */
  compactLoops?: boolean;
}

export class GenError extends Error {
  constructor(message: string) { super(message); this.name = 'GenError'; }
}

/** A built-in variant by name, else a spec file by path. */
export async function resolveVariant(variant: string): Promise<VariantDef> {
  for (const table of [VARIANTS, TOKEN_SEQUENTIAL_VARIANTS] as Record<string, VariantDef>[]) {
    if (Object.prototype.hasOwnProperty.call(table, variant)) return table[variant]!;
  }
  const isFile = existsSync(variant) && statSync(variant).isFile();
  if (/\.[mc]?ts$/.test(variant) || isFile) return loadSpecFile(variant);
  throw new GenError(`unknown variant '${variant}'; built-in variants: ${[...VARIANT_NAMES, ...TOKEN_SEQUENTIAL_NAMES].join(', ')}; ` +
    'or give the path of a .ts spec file whose default export is defineVariant({...})');
}

/** The plans `lae gen` writes for `def` with these options (checked): the forwards asked for, the
 * decode step, and the backward (which follows the chunked forward); `args` describes them. */
export function genPlans(def: VariantDef, opts: Omit<GenOptions, 'variant' | 'out'> = {}): { plans: KernelPlan[]; args: string } {
  const K = opts.K ?? 128;
  const V = opts.V ?? 128;
  if (opts.tensorCores !== undefined && !FRAGMENT_LOWERINGS.includes(opts.tensorCores)) {
    throw new GenError(`tensorCores must be one of ${FRAGMENT_LOWERINGS.join(', ')}, got ${JSON.stringify(opts.tensorCores)}`);
  }
  // WebGPU's default 16 KiB unless asked for more, so that a module runs on any device; the
  // tensor-core tier's layouts need 32 KiB.
  const wgMemory = opts.wgMemory ?? (opts.tensorCores ? 32768 : WG_MEMORY_TIERS[0]);
  if (!(WG_MEMORY_TIERS as readonly number[]).includes(wgMemory)) {
    throw new GenError(`workgroup memory ${wgMemory} is not a tier; use one of ${WG_MEMORY_TIERS.join(', ')} (bytes)`);
  }
  if (opts.tensorCores && wgMemory < 32768) {
    throw new GenError(`the tensor-core tier's kernels need 32768 bytes of workgroup memory; got ${wgMemory}: use --wg-memory 32768 (or 49152), or drop --tensor-cores for kernels that fit WebGPU's default 16384`);
  }
  const chunk = opts.chunk ?? maxChunkFor(wgMemory);
  const genMode = opts.mode ?? 'both';
  if (!['chunked', 'recurrent', 'both'].includes(genMode)) {
    throw new GenError(`mode must be 'chunked', 'recurrent' or 'both', got ${JSON.stringify(genMode)}`);
  }
  if (!(CHUNK_SIZES as readonly number[]).includes(chunk)) {
    throw new GenError(`chunk size ${chunk} is not supported; use one of ${CHUNK_SIZES.join(', ')}`);
  }
  if (chunk > maxChunkFor(wgMemory)) {
    throw new GenError(`chunks of ${chunk} need 32768 bytes of workgroup memory, past the ${wgMemory} asked for: use --chunk ${maxChunkFor(wgMemory)}, or --wg-memory 32768 (the device must then grant it: the module's REQUIRED_LIMITS)`);
  }
  const cfg = { K, V, chunk, wgMemory, ...(opts.varlen ? { varlen: true as const } : {}), ...(opts.tensorCores ? { fragments: opts.tensorCores } : {}),
    ...(opts.compactLoops ? { compactLoops: true as const } : {}) };
  // A spec without a chunked form (the normalized form; the generalized delta rule off the
  // tensor-core tier) has the token-sequential forward and the step only. The generalized delta
  // rule's backward follows its token-sequential forward, which the generated module's backward
  // call does not do yet, so the module leaves it out.
  if (!hasChunkedForward(def, cfg) && genMode === 'chunked') {
    throw new GenError(dplrChunkable(def)
      ? `variant '${def.name}' (correction 'dplr') has its chunked forward on the tensor-core tier only; add --tensor-cores, or use --mode recurrent`
      : `variant '${def.name}' (correction '${def.correction}', normalize '${def.normalize}') has no chunked forward yet; use --mode recurrent`);
  }
  const modes: ForwardMode[] = !hasChunkedForward(def, cfg) ? ['recurrent'] : genMode === 'both' ? ['chunked', 'recurrent'] : [genMode];
  const plans = [
    ...modes.map((m) => planForward(def, cfg, m)),
    planStep(def, cfg, 'step'),
    ...(modes.includes('chunked') && hasChunkedForm(def) ? [planBackward(def, cfg)] : []),
  ];
  const args = `variant=${def.name} K=${K} V=${V} chunk=${chunk} wg-memory=${wgMemory} mode=${genMode}${opts.varlen ? ' varlen' : ''}${opts.tensorCores ? ` tensor-cores=${opts.tensorCores}` : ''}${opts.compactLoops ? ' compact-loops' : ''}`;
  return { plans, args };
}

/** Generates the kernels of a variant and writes them; returns the written files' paths. */
export async function runGen(opts: GenOptions): Promise<string[]> {
  if (typeof opts.out !== 'string' || opts.out === '') throw new GenError('an output folder is required');
  const def = await resolveVariant(opts.variant);
  const { plans, args } = genPlans(def, opts);

  const out = resolve(opts.out);
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const plan of plans) {
    for (const k of plan.kernels) {
      const file = join(out, `${k.name}.wgsl`);
      writeFileSync(file, `// generated by lae gen (${args}, ${planLabel(plan.mode)})\n${k.wgsl}`);
      written.push(file);
    }
  }
  const moduleFile = join(out, `${def.name}.kernels.ts`);
  writeFileSync(moduleFile, generateKernelsModule(def, plans, args));
  written.push(moduleFile);
  return written;
}

// ---------------------------------------------------------------------------------------------
// The generated TS module.

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (k: string) => (IDENT.test(k) ? k : JSON.stringify(k));

/** A JS value as TS literal text; `refs` maps string values to identifiers written instead. */
function literal(x: unknown, indent = '', refs?: ReadonlyMap<string, string>): string {
  if (typeof x === 'string') return refs?.get(x) ?? JSON.stringify(x);
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new Error(`internal: non-finite number ${x} in generated data`);
    return Object.is(x, -0) ? '0' : String(x);
  }
  if (typeof x === 'boolean' || x === null) return String(x);
  const inner = `${indent}  `;
  if (Array.isArray(x)) {
    if (x.every((e) => typeof e !== 'object' || e === null)) return `[${x.map((e) => literal(e, inner, refs)).join(', ')}]`;
    if (x.every((e) => Array.isArray(e) && e.every((f) => typeof f !== 'object'))) {
      return `[${x.map((e) => literal(e, inner, refs)).join(', ')}]`;
    }
    return `[\n${x.map((e) => `${inner}${literal(e, inner, refs)},`).join('\n')}\n${indent}]`;
  }
  if (typeof x === 'object') {
    const entries = Object.entries(x as Record<string, unknown>).filter(([, v]) => v !== undefined);
    const flat = entries.every(([, v]) => typeof v !== 'object' || v === null ||
      (Array.isArray(v) && v.every((e) => typeof e !== 'object')));
    if (flat && entries.length <= 8) return `{ ${entries.map(([k, v]) => `${key(k)}: ${literal(v, inner, refs)}`).join(', ')} }`;
    return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${literal(v, inner, refs)},`).join('\n')}\n${indent}}`;
  }
  throw new Error(`internal: cannot write ${typeof x} into the generated module`);
}

/** What the kernels of `plans` take of each per-kernel device limit (the largest over them),
 * never below WebGPU's default: the module's REQUIRED_LIMITS, ready for requestDevice. */
export function requiredLimits(plans: readonly KernelPlan[]): {
  maxStorageBuffersPerShaderStage: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number; maxComputeWorkgroupSizeX: number;
} {
  const out = {
    maxStorageBuffersPerShaderStage: DEFAULT_LIMITS.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: DEFAULT_LIMITS.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: DEFAULT_LIMITS.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: DEFAULT_LIMITS.maxComputeWorkgroupSizeX,
  };
  for (const k of plans.flatMap((p) => p.kernels)) {
    const u = kernelUsage(k);
    out.maxStorageBuffersPerShaderStage = Math.max(out.maxStorageBuffersPerShaderStage, u.storageBuffers);
    out.maxComputeWorkgroupStorageSize = Math.max(out.maxComputeWorkgroupStorageSize, u.workgroupBytes);
    out.maxComputeInvocationsPerWorkgroup = Math.max(out.maxComputeInvocationsPerWorkgroup, u.invocations);
    out.maxComputeWorkgroupSizeX = Math.max(out.maxComputeWorkgroupSizeX, u.workgroupSizeX);
  }
  return out;
}

/** WGSL as a template literal (WGSL has no backticks, but escape anyway). */
const templateLiteral = (s: string) => `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;

const wgslConst = (kernelName: string) => `WGSL_${kernelName.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;

/** Builds `<variant>.kernels.ts` (exported for tests and for `lae gen --stdout`-style uses). */
export function generateKernelsModule(def: VariantDef, plans: readonly KernelPlan[], args = ''): string {
  if (plans.length === 0) throw new Error('internal: no plans to generate');
  const cfg = plans[0]!.config;
  const varlen = cfg.varlen === true;
  const scale = def.scale === 'rsqrtK' ? 1 / Math.sqrt(cfg.K) : def.scale;
  const project = new Project({ useInMemoryFileSystem: true });
  const sf: SourceFile = project.createSourceFile(`${def.name}.kernels.ts`, '', { overwrite: true });
  const exported = (name: string, initializer: string, docs?: string) => sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name, initializer }],
    docs: docs ? [docs] : undefined,
  });

  sf.addStatements([
    '/// <reference types="@webgpu/types" />',
    `// Generated by \`lae gen\`${args ? ` (${args})` : ''}: do not edit; regenerate instead.`,
    `// Variant '${def.name}'${def.description ? ` (${def.description})` : ''}, spec hash ${def.hash};`,
    `// decay=${def.decay} correction=${def.correction} bonus=${def.bonus} state=${def.stateLayout}.`,
    '// Standalone: it needs only WebGPU (a browser, or Node with the `webgpu` package\'s globals).',
  ].join('\n'));

  exported('VARIANT', `${JSON.stringify(def.name)} as const`);
  exported('SPEC_HASH', `${JSON.stringify(def.hash)} as const`);
  exported('CONFIG', `${literal(cfg)} as const`, 'Head dims and chunk size the kernels are compiled for.');
  exported('DEFAULT_SCALE', literal(scale),
    `The variant's default output scale (${def.scale === 'rsqrtK' ? 'K^-0.5' : 'fixed by the spec'}); \`forward\`'s \`scale\` overrides it.`);
  exported('STATE_LAYOUT', `${JSON.stringify(def.stateLayout)} as const`,
    `Layout of h0/ht: ${def.stateLayout === 'kv' ? '[B,H,K,V]' : '[B,H,V,K]'}.`);
  exported('INPUTS', `${literal(Object.fromEntries(def.inputs.map((i) => [i.name, i.dims])))} as const`,
    'Every input of the variant with its shape, row-major, in problem dims.');
  const features = cfg.fragments === 'subgroup-matrix' ? [...SUBGROUP_MATRIX_FEATURES]
    : cfg.fragments === 'portable' ? ['shader-f16'] : [];
  exported('REQUIRED_FEATURES', `${literal(features)} as const`, features.length
    ? `Device features the kernels need: request them in adapter.requestDevice({ requiredFeatures }).${cfg.fragments === 'subgroup-matrix'
      ? ' In Node (Dawn), create the instance with enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia for them to appear on NVIDIA.' : ''}`
    : 'Device features the kernels need: none.');
  const limits = requiredLimits(plans);
  const pastDefaults = Object.entries(limits).filter(([name, n]) => n > DEFAULT_LIMITS[name as keyof typeof limits]).map(([name]) => name);
  exported('REQUIRED_LIMITS', `${literal(limits)} as const`, pastDefaults.length
    ? `Device limits the kernels need, past WebGPU's defaults in ${pastDefaults.join(', ')}: create the device with adapter.requestDevice({ requiredLimits: REQUIRED_LIMITS }) on an adapter that offers them, ${smallerLimitsAdvice(cfg.fragments !== undefined)}.`
    : "Device limits the kernels need: within WebGPU's defaults, so any device runs them (requestDevice() without requiredLimits).");
  const forwardModes = plans.map((p) => p.mode).filter((m) => m === 'chunked' || m === 'recurrent');
  exported('MODES', `${literal(forwardModes)} as const`, 'The forwards this module holds; the first is the default.');
  exported('PLAN_NAMES', `${literal(plans.map((p) => p.mode))} as const`,
    'Every plan in this module: the forwards, the decode step, and the backward (with the chunked forward).');

  sf.addTypeAliases([
    { isExported: true, name: 'Mode', type: '(typeof MODES)[number]' },
    { isExported: true, name: 'PlanName', type: '(typeof PLAN_NAMES)[number]' },
  ]);
  sf.addInterface({
    isExported: true, name: 'PlanDecl', extends: ['RunnablePlan'],
    docs: ['A kernel plan: its buffers in creation order (inputs `in_<name>` and h0 sized from INPUTS and the state shape, the rest by `elems`), its kernels in dispatch order.'],
    properties: [
      { isReadonly: true, name: 'mode', type: 'PlanName' },
      { isReadonly: true, name: 'key', type: 'string' },
      { isReadonly: true, name: 'tiles', type: 'Readonly<Record<string, number>>' },
    ],
  });

  const refs = new Map<string, string>();
  for (const plan of plans) {
    for (const k of plan.kernels) {
      const name = wgslConst(k.name);
      refs.set(k.wgsl, name);
      exported(name, templateLiteral(k.wgsl), `WGSL of kernel '${k.name}' (${k.stage}, ${planLabel(plan.mode)}).`);
    }
  }
  const planData = Object.fromEntries(plans.map((p) => [p.mode, {
    mode: p.mode,
    key: p.key,
    tiles: p.tiles,
    buffers: p.buffers.map((b) => ({ name: b.name, kind: b.kind, elems: b.elems, ...(b.aliasOf ? { aliasOf: b.aliasOf } : {}), ...(b.parts ? { parts: b.parts } : {}) })),
    kernels: p.kernels.map((k) => ({
      name: k.name, stage: k.stage, workgroupSize: k.workgroupSize, grid: k.grid,
      bindings: k.bindings.map((b) => ({ buffer: b.buffer, access: b.access })), wgsl: k.wgsl,
    })),
  }]));
  exported('PLANS', `${literal(planData, '', refs)} as const satisfies { readonly [M in PlanName]: PlanDecl }`,
    'The kernel plans by name: buffers with symbolic sizes, and kernels in dispatch order.');

  const stateDims = `${varlen ? 'N' : 'B'},H,${def.stateLayout === 'kv' ? 'K,V' : 'V,K'}`;
  const cuSeqlensProp = {
    name: 'cuSeqlens', type: 'Int32Array | readonly number[]',
    docs: ['Packed sequences: N+1 token offsets [0, ..., T] (B = 1); sequence s is tokens [cu[s], cu[s+1]), with its own state (row s of h0/ht).'],
  };
  sf.addInterface({
    isExported: true, name: 'Inputs',
    docs: [`Host inputs of '${def.name}': row-major f32, in the shapes of INPUTS.`],
    properties: [
      ...def.inputs.map((i) => ({ name: key(i.name), type: 'Float32Array', docs: [`[${i.dims.join(',')}]`] })),
      { name: 'h0', type: 'Float32Array', hasQuestionToken: true, docs: [`Initial state [${stateDims}]; zeros when absent.`] },
    ],
  });
  sf.addInterface({
    isExported: true, name: 'Size',
    docs: [`Problem size; K = ${cfg.K} and V = ${cfg.V} are fixed by the generated kernels.`],
    properties: [...['B', 'T', 'H'].map((d) => ({ name: d, type: 'number' })), ...(varlen ? [cuSeqlensProp] : [])],
  });
  sf.addTypeAlias({
    isExported: true, name: 'Pipelines', type: '{ readonly [M in PlanName]: readonly GPUComputePipeline[] }',
    docs: ['Compiled pipelines per plan, in the order of PLANS[name].kernels (what createKernels returns).'],
  });
  sf.addInterface({
    isExported: true, name: 'ForwardOptions',
    properties: [
      { name: 'scale', type: 'number', hasQuestionToken: true, docs: ['Output scale; default DEFAULT_SCALE.'] },
      { name: 'mode', type: 'Mode', hasQuestionToken: true, docs: ['Which forward to run; default MODES[0].'] },
    ],
  });
  sf.addInterface({
    isExported: true, name: 'ForwardResult',
    properties: [
      { name: 'o', type: 'Float32Array', docs: [`Output [B,T,H,V].`] },
      { name: 'ht', type: 'Float32Array', docs: [`Final state [${stateDims}].`] },
    ],
  });

  sf.addFunction({
    isExported: true, name: 'createKernels', isAsync: true, returnType: 'Promise<Pipelines>',
    docs: ['Compiles every kernel of every plan (layout \'auto\', entry point \'main\').'],
    parameters: [{ name: 'device', type: 'GPUDevice' }],
    statements: createKernelsBody(cfg.fragments !== undefined).trim(),
  });
  sf.addFunction({
    name: 'runPlans', isAsync: true, returnType: 'Promise<Record<string, Float32Array>>',
    docs: ['Runs the named plans through the plan runner (below) in one compute pass, the later ones binding the earlier ones\' buffers by name (the backward reads its forward\'s), and reads back `read`.'],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'names', type: 'readonly PlanName[]' },
      { name: 'host', type: 'Readonly<Record<string, Float32Array | undefined>>' },
      { name: 'size', type: 'Size' },
      { name: 'scale', type: 'number' },
      { name: 'read', type: 'readonly string[]' },
    ],
    statements: runPlansBody(varlen).trim(),
  });
  sf.addFunction({
    name: 'checkSize', returnType: 'void',
    parameters: [{ name: 'size', type: 'Readonly<Record<string, number>>' }, { name: 'dims', type: 'readonly string[]' }, { name: 'scale', type: 'number' }],
    statements: CHECK_SIZE_BODY.trim(),
  });
  sf.addFunction({
    isExported: true, name: 'forward', isAsync: true, returnType: 'Promise<ForwardResult>',
    docs: [`Runs the ${def.name} forward: uploads the inputs, dispatches the plan's kernels in one compute pass, reads back o and ht.`],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'inputs', type: 'Inputs' },
      { name: 'size', type: 'Size' },
      { name: 'opts', type: 'ForwardOptions', initializer: '{}' },
    ],
    statements: FORWARD_BODY.trim(),
  });
  sf.addInterface({
    isExported: true, name: 'StepSize',
    docs: [varlen ? 'Decode-step size: B = 1, the sequences packed by cuSeqlens, N tokens in all (default cu[N]).' : 'Decode-step size: B sequences of H heads, N tokens each (default 1).'],
    properties: [
      { name: 'B', type: 'number' }, { name: 'H', type: 'number' }, { name: 'N', type: 'number', hasQuestionToken: true },
      ...(varlen ? [cuSeqlensProp] : []),
    ],
  });
  sf.addFunction({
    isExported: true, name: 'step', isAsync: true, returnType: 'Promise<{ o: Float32Array }>',
    docs: [`The decode step: N tokens per sequence (inputs shaped [B,N,H,...]) from \`state\` [${stateDims}], which is updated in place.`],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'inputs', type: "Omit<Inputs, 'h0'>" },
      { name: 'state', type: 'Float32Array' },
      { name: 'size', type: 'StepSize' },
      { name: 'opts', type: '{ scale?: number }', initializer: '{}' },
    ],
    statements: stepBody(varlen).trim(),
  });
  if (plans.some((p) => p.mode === 'backward')) {
    sf.addInterface({
      isExported: true, name: 'Seeds',
      docs: ['Gradients flowing in: L = sum(o * do) + sum(ht * dht).'],
      properties: [
        { name: 'do', type: 'Float32Array', docs: ['[B,T,H,V]'] },
        { name: 'dht', type: 'Float32Array', hasQuestionToken: true, docs: [`[${stateDims}]; zeros when absent.`] },
      ],
    });
    sf.addInterface({
      isExported: true, name: 'Gradients',
      docs: ['The gradient of every input (same shapes), and dh0 when the forward had h0.'],
      properties: [
        ...def.inputs.map((i) => ({ name: key(`d${i.name}`), type: 'Float32Array', docs: [`[${i.dims.join(',')}]`] })),
        { name: 'dh0', type: 'Float32Array', hasQuestionToken: true, docs: [`[${stateDims}]`] },
      ],
    });
    sf.addFunction({
      isExported: true, name: 'backward', isAsync: true, returnType: 'Promise<Gradients>',
      docs: ['Runs the chunked forward, then the backward kernels, in one compute pass; reads back the gradients.'],
      parameters: [
        { name: 'device', type: 'GPUDevice' },
        { name: 'pipelines', type: 'Pipelines' },
        { name: 'inputs', type: 'Inputs' },
        { name: 'seeds', type: 'Seeds' },
        { name: 'size', type: 'Size' },
        { name: 'opts', type: '{ scale?: number }', initializer: '{}' },
      ],
      statements: BACKWARD_BODY.trim(),
    });
  }
  // The buffer-level API: the caller's GPU tensors, recorded into the caller's encoder.
  sf.addInterface({
    isExported: true, name: 'GpuInputs',
    docs: [`The inputs of '${def.name}' as GPU tensors: each a GPUBuffer or { buffer, offset?, size? } (offset a multiple of the device's minStorageBufferOffsetAlignment), f32, in the shapes of INPUTS.`],
    properties: [
      ...def.inputs.map((i) => ({ name: key(i.name), type: 'GpuBinding', docs: [`[${i.dims.join(',')}]`] })),
      { name: 'h0', type: 'GpuBinding', hasQuestionToken: true, docs: [`Initial state [${stateDims}]; zeros when absent.`] },
    ],
  });
  sf.addInterface({
    isExported: true, name: 'ForwardOutputs',
    docs: ['Where encodeForward writes, in place: the caller\'s buffers.'],
    properties: [
      { name: 'o', type: 'GpuBinding', docs: ['[B,T,H,V]'] },
      { name: 'ht', type: 'GpuBinding', hasQuestionToken: true, docs: [`Final state [${stateDims}]; not kept when absent.`] },
    ],
  });
  sf.addFunction({
    name: 'runnerFor', returnType: 'PlanRunner',
    docs: ['The plan runner of a device for the encode calls: it keeps their scratch, one set per plan and size, across calls.'],
    parameters: [{ name: 'device', type: 'GPUDevice' }],
    statements: `let runner = RUNNERS.get(device);
if (!runner) RUNNERS.set(device, (runner = new PlanRunner(device)));
return runner;`,
  });
  sf.addFunction({
    isExported: true, name: 'releaseScratch', returnType: 'void',
    docs: ['Frees the scratch the encode calls keep on `device`. Call it only once every encoder they recorded into has been submitted.'],
    parameters: [{ name: 'device', type: 'GPUDevice' }],
    statements: `RUNNERS.get(device)?.destroy();
RUNNERS.delete(device);`,
  });
  sf.addFunction({
    name: 'encodePlans', isAsync: true, returnType: 'Promise<void>',
    docs: ['Records the named plans into `encoder` on the caller\'s GPU tensors (`given`: plan buffer name -> [label in errors, the binding]); nothing is submitted, uploaded or read back, and lae\'s scratch is the runner\'s workspace for the plan and size.'],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'encoder', type: 'GPUCommandEncoder' },
      { name: 'names', type: 'readonly PlanName[]' },
      { name: 'given', type: 'Readonly<Record<string, readonly [string, unknown]>>' },
      { name: 'size', type: 'Size' },
      { name: 'scale', type: 'number' },
    ],
    statements: encodePlansBody(varlen).trim(),
  });
  sf.addFunction({
    isExported: true, name: 'encodeForward', isAsync: true, returnType: 'Promise<void>',
    docs: [`Records the ${def.name} forward into the caller's \`encoder\`: the inputs are the caller's GPU tensors, o (and ht, when given) are written into the caller's buffers in place. Nothing is submitted or read back; submit the encoder when you are done.`],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'encoder', type: 'GPUCommandEncoder' },
      { name: 'inputs', type: 'GpuInputs' },
      { name: 'outputs', type: 'ForwardOutputs' },
      { name: 'size', type: 'Size' },
      { name: 'opts', type: 'ForwardOptions', initializer: '{}' },
    ],
    statements: ENCODE_FORWARD_BODY.trim(),
  });
  sf.addFunction({
    isExported: true, name: 'encodeStep', isAsync: true, returnType: 'Promise<void>',
    docs: [`Records the decode step into the caller's \`encoder\`: N tokens per sequence (inputs [B,N,H,...], the caller's GPU tensors) from \`state\` [${stateDims}], which is updated in place; o [B,N,H,V] goes into outputs.o.`],
    parameters: [
      { name: 'device', type: 'GPUDevice' },
      { name: 'pipelines', type: 'Pipelines' },
      { name: 'encoder', type: 'GPUCommandEncoder' },
      { name: 'inputs', type: "Omit<GpuInputs, 'h0'>" },
      { name: 'state', type: 'GpuBinding' },
      { name: 'outputs', type: '{ o: GpuBinding }' },
      { name: 'size', type: 'StepSize' },
      { name: 'opts', type: '{ scale?: number }', initializer: '{}' },
    ],
    statements: encodeStepBody(varlen).trim(),
  });
  if (plans.some((p) => p.mode === 'backward')) {
    sf.addFunction({
      isExported: true, name: 'encodeBackward', isAsync: true, returnType: 'Promise<void>',
      docs: ['Records the chunked forward and the backward into the caller\'s `encoder`: inputs and seeds ({ do, dht? }) are the caller\'s GPU tensors; each gradient given in `grads` (\'d\' + input name, dh0 with h0) is written into the caller\'s buffer in place.'],
      parameters: [
        { name: 'device', type: 'GPUDevice' },
        { name: 'pipelines', type: 'Pipelines' },
        { name: 'encoder', type: 'GPUCommandEncoder' },
        { name: 'inputs', type: 'GpuInputs' },
        { name: 'seeds', type: '{ do: GpuBinding; dht?: GpuBinding }' },
        { name: 'grads', type: `{ ${[...def.inputs.map((i) => `${key(`d${i.name}`)}?: GpuBinding`), 'dh0?: GpuBinding'].join('; ')} }` },
        { name: 'size', type: 'Size' },
        { name: 'opts', type: '{ scale?: number }', initializer: '{}' },
      ],
      statements: ENCODE_BACKWARD_BODY.trim(),
    });
  }
  sf.addVariableStatement({
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'RUNNERS', initializer: 'new WeakMap<GPUDevice, PlanRunner>()' }],
    docs: ['The encode calls\' plan runner per device (see runnerFor).'],
  });
  sf.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true });
  // After formatting: the embedded source stays exactly as lae's files have it.
  sf.addStatements(embeddedRuntime(varlen));
  return sf.getFullText();
}

// ---------------------------------------------------------------------------------------------
// What the generated module takes from lae: the plan runner, the pipeline compile, the varlen
// tables and the types they are written in, as their TypeScript source (cli/embed.ts).

/** Files whose declarations a generated module may embed (shipped with the package for it). */
export const EMBEDDED_SOURCES = [
  'runtime/plan-run.ts', 'runtime/errors.ts', 'runtime/varlen.ts', 'runtime/pipelines.ts',
  'codegen/plan.ts', 'codegen/kernels/common.ts', 'dsl/spec.ts',
] as const;

/** What the module's own functions (below) use; the embedder adds what those use. */
export function embedRequests(varlen: boolean): EmbedRequest[] {
  return [
    { file: 'runtime/plan-run.ts', names: ['PlanRunner', 'encodePass', 'submit', 'resolveSize', 'RunnablePlan', 'SizeEnv', 'BufferSource', 'PlanBuffers', 'checkBinding', 'GpuBinding', 'CallerBinding', 'RecordInto'] },
    { file: 'runtime/pipelines.ts', names: ['compile'] },
    { file: 'runtime/errors.ts', names: ['InputError'] },
    ...(varlen ? [{ file: 'runtime/varlen.ts', names: ['checkCuSeqlens', 'sequenceTables'] }] : []),
    { file: 'codegen/kernels/common.ts', names: ['packParams', 'PARAMS_FIELDS'] },
    { file: 'dsl/spec.ts', names: ['Dim'] },
  ];
}

const embedded = new Map<boolean, string>();
function embeddedRuntime(varlen: boolean): string {
  let text = embedded.get(varlen);
  if (text === undefined) {
    const root = packageRoot();
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '';
    text = `// ===== lae's runtime, embedded: its source as lae ${version} type-checks and runs it =====\n\n` +
      embedDeclarations(root, EMBEDDED_SOURCES, embedRequests(varlen), version);
    embedded.set(varlen, text);
  }
  return text;
}

/** What to do when the device falls short of REQUIRED_LIMITS, short of a bigger device. */
const smallerLimitsAdvice = (tensorCores: boolean) => (tensorCores
  ? "or regenerate the module without --tensor-cores (the f32 tier's kernels fit WebGPU's default limits)"
  : "or regenerate the module with lae gen --wg-memory 16384 (WebGPU's default limits)");

const createKernelsBody = (tensorCores: boolean) => `
const missing = REQUIRED_FEATURES.filter((f) => !device.features.has(f as GPUFeatureName));
if (missing.length) {
  throw new Error(\`the device lacks \${missing.join(', ')}, which these kernels need: request REQUIRED_FEATURES in adapter.requestDevice({ requiredFeatures }) on an adapter that has them\`);
}
// Checked here, before compiling: past a limit, the compile error would not say what to do.
for (const [name, need] of Object.entries(REQUIRED_LIMITS)) {
  const have = device.limits[name as keyof typeof REQUIRED_LIMITS];
  if (have < need) {
    throw new Error(\`these kernels need \${name} >= \${need}; the device grants \${have}: create it with adapter.requestDevice({ requiredLimits: REQUIRED_LIMITS }) on an adapter that offers them, ${smallerLimitsAdvice(tensorCores)}\`);
  }
}
const out: Partial<Record<PlanName, readonly GPUComputePipeline[]>> = {};
for (const name of PLAN_NAMES) {
  const plan: PlanDecl = PLANS[name];
  out[name] = await Promise.all(plan.kernels.map((k) => compile(device, k.name, k.wgsl)));
}
return out as Pipelines;`;

const CHECK_SIZE_BODY = `
for (const d of dims) {
  const v = size[d];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(\`size.\${d} must be a positive integer, got \${JSON.stringify(v)}\`);
}
if (!Number.isFinite(scale)) throw new Error(\`scale must be a finite number, got \${scale}\`);`;

const FORWARD_BODY = `
const mode: Mode = opts.mode ?? MODES[0];
if (!(MODES as readonly string[]).includes(mode)) throw new Error(\`mode \${JSON.stringify(mode)} is not in this module; it has \${MODES.join(', ')}\`);
const scale = opts.scale ?? DEFAULT_SCALE;
checkSize(size as unknown as Record<string, number>, ['B', 'T', 'H'], scale);
const host = inputs as unknown as Readonly<Record<string, Float32Array | undefined>>;
for (const name of Object.keys(host)) {
  if (name !== 'h0' && !(name in INPUTS)) throw new Error(\`unknown input '\${name}' for variant '\${VARIANT}'\`);
}
const out = await runPlans(device, pipelines, [mode], host, size, scale, ['o', 'ht']);
return { o: out.o!, ht: out.ht! };`;

/** step's body: with packed sequences N defaults to cu[N] and the size carries the offsets. */
const stepBody = (varlen: boolean) => `
const scale = opts.scale ?? DEFAULT_SCALE;
const N = size.N ?? ${varlen ? 'Number(size.cuSeqlens[size.cuSeqlens.length - 1])' : '1'};
checkSize({ B: size.B, H: size.H, N }, ['B', 'H', 'N'], scale);
const host = inputs as unknown as Readonly<Record<string, Float32Array | undefined>>;
for (const name of Object.keys(host)) {
  if (!(name in INPUTS)) throw new Error(\`unknown input '\${name}' for variant '\${VARIANT}' (the step takes the state as its own argument)\`);
}
if (!(state instanceof Float32Array)) throw new Error('state must be a Float32Array');
const out = await runPlans(device, pipelines, ['step'], { ...host, state }, { B: size.B, T: N, H: size.H${varlen ? ', cuSeqlens: size.cuSeqlens' : ''} }, scale, ['o', 'state']);
state.set(out.state!);
return { o: out.o! };`;

const BACKWARD_BODY = `
const scale = opts.scale ?? DEFAULT_SCALE;
checkSize(size as unknown as Record<string, number>, ['B', 'T', 'H'], scale);
const host = inputs as unknown as Readonly<Record<string, Float32Array | undefined>>;
for (const name of Object.keys(host)) {
  if (name !== 'h0' && !(name in INPUTS)) throw new Error(\`unknown input '\${name}' for variant '\${VARIANT}'\`);
}
const names = Object.keys(INPUTS);
const read = [...names.map((n) => \`grad_in_\${n}\`), ...(inputs.h0 ? ['dh0'] : [])];
const out = await runPlans(device, pipelines, ['chunked', 'backward'], { ...host, do: seeds.do, dht: seeds.dht }, size, scale, read);
const grads: Record<string, Float32Array> = {};
for (const n of names) grads[\`d\${n}\`] = out[\`grad_in_\${n}\`]!;
if (inputs.h0) grads.dh0 = out.dh0!;
return grads as unknown as Gradients;`;

/** Checks the caller's keys of one argument against what it may hold. */
const KEYS_CHECK = (arg: string, allowed: string) => `
for (const k of Object.keys(${arg})) {
  if (!(${allowed})) throw new InputError(\`unknown ${arg.replace(/s$/, '')} '\${k}' for variant '\${VARIANT}'\`);
}`;

const ENCODE_FORWARD_BODY = `
const mode: Mode = opts.mode ?? MODES[0];
if (!(MODES as readonly string[]).includes(mode)) throw new Error(\`mode \${JSON.stringify(mode)} is not in this module; it has \${MODES.join(', ')}\`);
const scale = opts.scale ?? DEFAULT_SCALE;
checkSize(size as unknown as Record<string, number>, ['B', 'T', 'H'], scale);
${KEYS_CHECK('inputs', "k === 'h0' || k in INPUTS")}
${KEYS_CHECK('outputs', "k === 'o' || k === 'ht'")}
const given: Record<string, readonly [string, unknown]> = {};
for (const [k, b] of Object.entries(inputs)) given[k === 'h0' ? 'h0' : \`in_\${k}\`] = [\`input '\${k}'\`, b];
given.o = ["output 'o'", outputs.o];
if (outputs.ht !== undefined) given.ht = ["output 'ht'", outputs.ht];
await encodePlans(device, pipelines, encoder, [mode], given, size, scale);`;

const encodeStepBody = (varlen: boolean) => `
const scale = opts.scale ?? DEFAULT_SCALE;
const N = size.N ?? ${varlen ? 'Number(size.cuSeqlens[size.cuSeqlens.length - 1])' : '1'};
checkSize({ B: size.B, H: size.H, N }, ['B', 'H', 'N'], scale);
${KEYS_CHECK('inputs', 'k in INPUTS')}
const given: Record<string, readonly [string, unknown]> = {};
for (const [k, b] of Object.entries(inputs)) given[\`in_\${k}\`] = [\`input '\${k}'\`, b];
given.state = ['state', state];
given.o = ["output 'o'", outputs.o];
await encodePlans(device, pipelines, encoder, ['step'], given, { B: size.B, T: N, H: size.H${varlen ? ', cuSeqlens: size.cuSeqlens' : ''} }, scale);`;

const ENCODE_BACKWARD_BODY = `
const scale = opts.scale ?? DEFAULT_SCALE;
checkSize(size as unknown as Record<string, number>, ['B', 'T', 'H'], scale);
${KEYS_CHECK('inputs', "k === 'h0' || k in INPUTS")}
${KEYS_CHECK('seeds', "k === 'do' || k === 'dht'")}
${KEYS_CHECK('grads', "k === 'dh0' || k.slice(1) in INPUTS")}
if (grads.dh0 !== undefined && inputs.h0 === undefined) throw new InputError("gradient 'dh0' is given, but inputs have no h0");
const given: Record<string, readonly [string, unknown]> = {};
for (const [k, b] of Object.entries(inputs)) given[k === 'h0' ? 'h0' : \`in_\${k}\`] = [\`input '\${k}'\`, b];
given.do = ["seed 'do'", seeds.do];
if (seeds.dht !== undefined) given.dht = ["seed 'dht'", seeds.dht];
for (const [k, b] of Object.entries(grads)) if (b !== undefined) given[k === 'dh0' ? 'dh0' : \`grad_in_\${k.slice(1)}\`] = [\`gradient '\${k}'\`, b];
await encodePlans(device, pipelines, encoder, ['chunked', 'backward'], given, size, scale);`;

/** encodePlans' body: the sizes, the caller's bindings checked against the bytes each tensor
 * needs (and against the device), then allocate into the runner's workspace, bind, and record. */
const encodePlansBody = (varlen: boolean) => `
${varlen
    ? `const tables = sequenceTables(checkCuSeqlens(size.cuSeqlens, size.T, size.B), CONFIG.chunk);
const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: tables.NT, S: tables.S };
const sources: Record<string, BufferSource> = { chunk_table: { data: tables.chunks }, seq_table: { data: tables.seqs } };`
    : `const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: Math.ceil(size.T / CONFIG.chunk), S: size.B };
const sources: Record<string, BufferSource> = {};`}
if (!encoder || typeof (encoder as GPUCommandEncoder).beginComputePass !== 'function') throw new InputError('encoder must be a GPUCommandEncoder (device.createCommandEncoder())');
const dims: Record<Dim, number> = { B: size.B, T: size.T, H: size.H, K: CONFIG.K, V: CONFIG.V };
const inputDims = INPUTS as unknown as Readonly<Record<string, readonly Dim[]>>;
const stateBytes = env.S * env.H * CONFIG.K * CONFIG.V * 4;
const callers: CallerBinding[] = [];
for (const name of names) {
  for (const b of PLANS[name].buffers) {
    const src = given[b.name];
    if (src === undefined || sources[b.name] !== undefined) {
      if (src === undefined && (b.kind === 'input' || b.kind === 'state-inout' || b.kind === 'seed')) {
        throw new InputError(\`missing \${b.kind === 'seed' ? "seed '" + b.name : b.kind === 'input' ? "input '" + b.name.slice(3) : "state '" + b.name}': give it as a GPUBuffer or { buffer, offset?, size? }\`);
      }
      continue;
    }
    const bytes = b.kind === 'input' ? inputDims[b.name.slice(3)]!.reduce((acc, d) => acc * dims[d], 1) * 4
      : b.kind === 'state-in' || b.kind === 'state-inout' ? stateBytes : resolveSize(b.elems, env) * 4;
    const binding = checkBinding(device, src[0], src[1], bytes);
    sources[b.name] = binding;
    callers.push(binding);
  }
}
const params = packParams({ B: size.B, T: size.T, H: size.H, NT: env.NT, has_h0: given.h0 || given.state ? 1 : 0, scale, has_dht: given.dht ? 1 : 0, G: 1 });
const runner = runnerFor(device);
await runner.checkDevice(callers);
const done: PlanBuffers[] = [];
const bound = names.map((name) => {
  const plan: PlanDecl = PLANS[name];
  const pipes = pipelines[name];
  if (!pipes || pipes.length !== plan.kernels.length) throw new Error(\`pipelines for '\${name}' are missing: pass what createKernels(device) returned\`);
  const own = runner.allocate(plan, env, { params: name === 'backward' ? params : packParams({ B: size.B, T: size.T, H: size.H, NT: env.NT, has_h0: given.h0 || given.state ? 1 : 0, scale, has_dht: 0, G: 1 }),
    sources, record: { encoder, workspace: \`\${plan.key}|\${JSON.stringify(env)}|\${names.join('+')}\` } });
  const b = runner.bind(plan, pipes, own, ...done);
  done.push(own);
  return b;
});
encodePass(encoder, bound);`;

/** runPlans' body: the sizes (with packed sequences, from the tables built of size.cuSeqlens),
 * the host arrays checked and given as uploads, then allocate, bind, encode, submit and read. */
const runPlansBody = (varlen: boolean) => `
${varlen
    ? `const tables = sequenceTables(checkCuSeqlens(size.cuSeqlens, size.T, size.B), CONFIG.chunk);
const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: tables.NT, S: tables.S };
const sources: Record<string, BufferSource> = { chunk_table: { data: tables.chunks }, seq_table: { data: tables.seqs } };`
    : `const env: SizeEnv = { B: size.B, T: size.T, H: size.H, NT: Math.ceil(size.T / CONFIG.chunk), S: size.B };
const sources: Record<string, BufferSource> = {};`}
const dims: Record<Dim, number> = { B: size.B, T: size.T, H: size.H, K: CONFIG.K, V: CONFIG.V };
const inputDims = INPUTS as unknown as Readonly<Record<string, readonly Dim[]>>;
for (const name of names) {
  for (const b of PLANS[name].buffers) {
    if (b.kind !== 'input' && b.kind !== 'state-in' && b.kind !== 'state-inout' && b.kind !== 'seed') continue;
    const key = b.kind === 'input' ? b.name.slice(3) : b.name;
    const n = b.kind === 'input' ? inputDims[key]!.reduce((acc, d) => acc * dims[d], 1)
      : b.kind === 'state-inout' ? env.S * env.H * CONFIG.K * CONFIG.V : resolveSize(b.elems, env);
    const a = host[key];
    if (a === undefined || a === null) {
      if (b.kind === 'state-in') continue;
      throw new InputError(\`missing \${b.kind === 'seed' ? 'seed' : 'input'} '\${key}'\`);
    }
    if (!(a instanceof Float32Array)) throw new InputError(\`input '\${key}' must be a Float32Array\`);
    if (a.length !== n) throw new InputError(\`input '\${key}' has \${a.length} elements; expected \${n}\`);
    sources[b.name] = { data: a };
  }
}
const params = packParams({ B: size.B, T: size.T, H: size.H, NT: env.NT, has_h0: host.h0 || host.state ? 1 : 0, scale, has_dht: host.dht ? 1 : 0, G: 1 });
const runner = new PlanRunner(device);
const done: PlanBuffers[] = [];
try {
  const bound = names.map((name) => {
    const plan: PlanDecl = PLANS[name];
    const pipes = pipelines[name];
    if (!pipes || pipes.length !== plan.kernels.length) throw new Error(\`pipelines for '\${name}' are missing: pass what createKernels(device) returned\`);
    const own = runner.allocate(plan, env, { params, sources });
    const bound = runner.bind(plan, pipes, own, ...done.map((d) => d.buffers));
    done.push(own);
    return bound;
  });
  const at = (name: string) => done.find((d) => d.buffers.has(name))!;
  const bytes = await submit(device, \`\${VARIANT} \${names.join(' + ')}\`, (enc) => encodePass(enc, bound),
    read.map((name) => ({ buffer: at(name).buffers.get(name)!, bytes: at(name).bytes.get(name)! })));
  return Object.fromEntries(read.map((name, i) => [name, new Float32Array(bytes[i]!)]));
} finally {
  for (const d of done) d.release();
  runner.destroy();
}`;
