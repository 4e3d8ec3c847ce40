// A device-free check of a kernel plan, in the spirit of tinygrad's type_verify: what the runtime
// binds and what the WGSL declares must agree before anything reaches a device. It returns the
// problems found (empty when the plan is consistent); the tests run it over every variant, tier
// and plan kind.
import type { KernelPlan } from './index.js';
import type { KernelDecl } from './plan.js';

/** Problems of `plan`; a backward plan also sees the buffers of the forward it follows. */
export function checkPlan(plan: KernelPlan, forward?: KernelPlan): string[] {
  const problems: string[] = [];
  const declared = new Map(plan.buffers.map((b) => [b.name, b]));
  const visible = new Set([...declared.keys(), ...(forward?.buffers.map((b) => b.name) ?? [])]);
  const bound = new Set<string>();
  for (const k of plan.kernels) {
    const seen = new Set<string>();
    k.bindings.forEach((b, i) => {
      const where = `kernel ${k.name}, binding ${i + 1} ('${b.buffer}')`;
      if (!visible.has(b.buffer)) problems.push(`${where}: no such buffer in the plan${forward ? ' or its forward' : ''}`);
      if (seen.has(b.buffer)) problems.push(`${where}: bound twice`);
      seen.add(b.buffer);
      bound.add(b.buffer);
      // The WGSL declares exactly this binding, with this access and element type.
      const decl = new RegExp(`@group\\(0\\) @binding\\(${i + 1}\\) var<storage, ${b.access}> \\w+: array<${(b.elem ?? 'f32').replace(/[<>]/g, '\\$&')}>;`);
      if (!decl.test(k.wgsl)) problems.push(`${where}: the WGSL does not declare it as array<${b.elem ?? 'f32'}> with ${b.access} access`);
    });
    const declaredBindings = (k.wgsl.match(/@group\(0\) @binding\(\d+\)/g) ?? []).length;
    if (declaredBindings !== k.bindings.length + 1) {
      problems.push(`kernel ${k.name}: the WGSL declares ${declaredBindings} bindings, the plan ${k.bindings.length} plus the uniform`);
    }
    if (!/@compute @workgroup_size\(WG\)/.test(k.wgsl) || !k.wgsl.includes(`const WG: u32 = ${k.workgroupSize}u;`)) {
      problems.push(`kernel ${k.name}: its workgroup size is not the plan's ${k.workgroupSize}`);
    }
    if (k.grid.length !== 3) problems.push(`kernel ${k.name}: a grid of ${k.grid.length} axes`);
  }
  for (const b of plan.buffers) {
    // Inputs a spec declares are all read (defineVariant refuses unused ones); scratch and
    // outputs must be written by some kernel or stand for another buffer.
    if (!bound.has(b.name) && !b.aliasOf && b.kind !== 'input' && b.kind !== 'state-in' && b.kind !== 'seed' && b.kind !== 'forward') {
      problems.push(`buffer '${b.name}' (${b.kind}) is declared but no kernel binds it`);
    }
    if (b.aliasOf && !visible.has(b.aliasOf)) problems.push(`buffer '${b.name}' aliases '${b.aliasOf}', which does not exist`);
  }
  return problems;
}

/** The device limits a plan must fit; WebGPU's defaults are DEFAULT_LIMITS. */
export interface DeviceLimits {
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxStorageBufferBindingSize: number;
}
export type LimitName = keyof DeviceLimits;

/** What every WebGPU device grants without requiredLimits (the spec's defaults). */
export const DEFAULT_LIMITS: DeviceLimits = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxStorageBufferBindingSize: 134217728,
};

/** What one kernel takes of the per-kernel limits. */
export interface KernelUsage {
  /** Storage buffer bindings (the Params uniform is not one). */
  readonly storageBuffers: number;
  /** Bytes of its var<workgroup> declarations, each rounded up to 16 as WebGPU counts them. */
  readonly workgroupBytes: number;
  readonly invocations: number;
  readonly workgroupSizeX: number;
}

const WGSL_SIZES: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2, 'vec2<f32>': 8, 'vec4<f32>': 16, 'vec4<u32>': 16, 'vec2<f16>': 4, 'vec4<f16>': 8 };

/** Value of a WGSL u32 constant expression over earlier constants (integers, + - * /, min, max). */
function evalConst(expr: string, consts: ReadonlyMap<string, number>): number {
  const tokens = expr.match(/\d+u?|[A-Za-z_]\w*|[-+*/(),]/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++];
  const primary = (): number => {
    const t = next();
    if (t === undefined) throw new Error(`unexpected end of '${expr}'`);
    if (t === '(') { const v = sum(); next(); return v; }
    if (/^\d/.test(t)) return parseInt(t, 10);
    if (t === 'min' || t === 'max') {
      next();
      const a = sum(); next();
      const b = sum(); next();
      return t === 'min' ? Math.min(a, b) : Math.max(a, b);
    }
    const v = consts.get(t);
    if (v === undefined) throw new Error(`unknown constant '${t}' in '${expr}'`);
    return v;
  };
  const product = (): number => {
    let v = primary();
    while (peek() === '*' || peek() === '/') v = next() === '*' ? v * primary() : Math.floor(v / primary());
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = next() === '+' ? v + product() : v - product();
    return v;
  };
  return sum();
}

/** Bytes of workgroup memory a WGSL module declares: each `var<workgroup>` array's size, from the
 * module's `const` declarations, rounded up to 16 bytes. In a module with subgroup-matrix loads
 * every array must itself be a multiple of 16 bytes: the driver packs the variables in an order
 * of its own, and one of 4 bytes beside the f16 tile shifted the tile off the 16-byte alignment
 * the fragment loads need (the H200, 2026-12-02: wrong values, no error; flag-forms.mjs). */
export function workgroupBytes(wgsl: string): number {
  const consts = new Map<string, number>();
  for (const m of wgsl.matchAll(/^const (\w+): u32 = ([^;]+);/gm)) consts.set(m[1]!, evalConst(m[2]!, consts));
  let total = 0;
  const fragmentLoads = wgsl.includes('subgroupMatrixLoad');
  const decls = [...wgsl.matchAll(/var<workgroup> \w+: array<(\w+(?:<\w+>)?), ([^;]+)>;/g)];
  if (decls.length !== (wgsl.match(/var<workgroup>/g) ?? []).length) throw new Error('internal: a workgroup variable that is not a flat array');
  for (const m of decls) {
    const elem = WGSL_SIZES[m[1]!];
    if (elem === undefined) throw new Error(`internal: workgroup array of ${m[1]}`);
    const bytes = elem * evalConst(m[2]!, consts);
    if (fragmentLoads && bytes % 16 !== 0) throw new Error(`internal: workgroup array '${m[0]}' of ${bytes} bytes in a kernel with subgroup-matrix loads; size it to a multiple of 16 bytes`);
    total += Math.ceil(bytes / 16) * 16;
  }
  return total;
}

export function kernelUsage(k: KernelDecl): KernelUsage {
  return { storageBuffers: k.bindings.length, workgroupBytes: workgroupBytes(k.wgsl), invocations: k.workgroupSize, workgroupSizeX: k.workgroupSize };
}

/** One kernel past one limit, with the advice the error gives. */
export interface LimitViolation {
  readonly kernel: string;
  readonly limit: LimitName;
  /** What the kernel (or buffer) needs, and what the device grants. */
  readonly count: number;
  readonly max: number;
  readonly message: string;
}

/** Where a plan's kernels go past `limits`. `bufferBytes` (the resolved size of each buffer a
 * kernel binds, where the caller knows it) adds the per-binding size check. Device-free: the
 * runtime runs it before compiling and turns a violation into an error. */
export function checkLimits(plan: KernelPlan, limits: DeviceLimits, bufferBytes?: ReadonlyMap<string, number>): LimitViolation[] {
  const out: LimitViolation[] = [];
  const tc = plan.config.fragments;
  const tier = tc ? `tensor-core tier, '${tc}'` : 'f32 tier';
  const orOff = tc ? ", or create the engine with tensorCores: 'off' (the f32 tier fits WebGPU's default limits)" : '';
  const request = (limit: LimitName, n: number) => `a device with ${limit} >= ${n} (createEngine() asks the adapter for its own limits; a device you create needs requiredLimits)`;
  const add = (kernel: string, limit: LimitName, count: number, what: string, advice: string) => {
    const max = limits[limit];
    if (count > max) {
      out.push({ kernel, limit, count, max, message: `kernel '${kernel}' (${tier}) ${what}; this device's ${limit} is ${max}. Use ${advice}` });
    }
  };
  for (const k of plan.kernels) {
    const u = kernelUsage(k);
    add(k.name, 'maxStorageBuffersPerShaderStage', u.storageBuffers, `binds ${u.storageBuffers} storage buffers`,
      `${request('maxStorageBuffersPerShaderStage', u.storageBuffers)}${orOff}` +
      (tc ? '' : `; every plan of the built-in variants fits in 8, so a spec of your own may need fewer inputs`));
    add(k.name, 'maxComputeWorkgroupStorageSize', u.workgroupBytes, `needs ${u.workgroupBytes} bytes of workgroup memory`,
      `a smaller chunkSize (the kernels fit WebGPU's default 16384 bytes at chunks of 32 and 16), or ` +
      `${request('maxComputeWorkgroupStorageSize', u.workgroupBytes)}${orOff}`);
    add(k.name, 'maxComputeInvocationsPerWorkgroup', u.invocations, `runs ${u.invocations} invocations per workgroup`,
      `${request('maxComputeInvocationsPerWorkgroup', u.invocations)}${orOff}`);
    add(k.name, 'maxComputeWorkgroupSizeX', u.workgroupSizeX, `has a workgroup size x of ${u.workgroupSizeX}`,
      `${request('maxComputeWorkgroupSizeX', u.workgroupSizeX)}${orOff}`);
    for (const b of bufferBytes ? k.bindings : []) {
      const bytes = bufferBytes!.get(b.buffer);
      if (bytes !== undefined) {
        add(k.name, 'maxStorageBufferBindingSize', bytes, `binds '${b.buffer.replace(/^in_/, '')}' of ${bytes} bytes`,
          `smaller batches (B) or fewer heads (H) per call, or ${request('maxStorageBufferBindingSize', bytes)}`);
      }
    }
  }
  return out;
}
