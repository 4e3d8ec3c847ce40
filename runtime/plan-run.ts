// The one way lae runs a kernel plan (codegen's KernelPlan). The forward (chunked and
// recurrent), the backward, the decode step (and its state pool) and the modules `lae gen`
// writes all run through it, in three steps a caller can stop between:
//   1. allocate and bind: runner.allocate() sizes every buffer of the plan, checks the sizes and
//      the dispatch grids against the device, and takes each buffer from the caller, from an
//      upload, or from the runner's pool (zeroed; reused across calls of the same size);
//      runner.bind() makes every kernel's bind group, through one cached builder.
//   2. encode: bound.encode(pass), or encodePass(encoder, ...), records the dispatches into a
//      compute pass of any command encoder (the runner's, or the caller's).
//   3. submit and read back: submit() runs recorded work with its errors checked and copies
//      buffers back to the host.
// A caller recording into an encoder of its own (`record` in allocate) gets buffers that no
// queue operation touches before that encoder runs: the runner's own come from a workspace kept
// for the call's size (cleared in the encoder, not through the queue), and the params and small
// uploads from buffers made once for their content and never rewritten.
// Self-contained: it imports types and ./errors.js only, so `lae gen` embeds this very source in
// the modules it writes (cli/embed.ts refuses anything else).
import type { BindingDecl, BufferDecl, KernelDecl, SizeExpr } from '../codegen/plan.js';
import { EngineError, InputError } from './errors.js';

/** What the runner reads of a plan; codegen's KernelPlan is one. */
export interface RunnablePlan {
  readonly buffers: readonly BufferDecl[];
  readonly kernels: readonly KernelDecl[];
}

/** Values of the size symbols plans are written in (codegen's SizeSym): B, T, H; NT, the chunks
 * (over all sequences); S, the state rows (B, or the packed sequences). BH = B*H and SH = S*H. */
export interface SizeEnv {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly NT: number;
  readonly S: number;
}

export function resolveSize(expr: SizeExpr, env: SizeEnv): number {
  let n = 1;
  for (const s of expr) n *= typeof s === 'number' ? s : s === 'BH' ? env.B * env.H : s === 'SH' ? env.S * env.H : env[s];
  return n;
}

/** Elements of a plan's buffer: its size, or the sum of a pack's parts (codegen/fit.ts). */
export function bufferElems(b: BufferDecl, env: SizeEnv): number {
  return b.parts ? b.parts.reduce((n, p) => n + resolveSize(p, env), 0) : resolveSize(b.elems, env);
}

/** Workgroups along x, y, z. */
export type Grid = readonly [number, number, number];

/** Every kernel's workgroup counts, refusing any past maxComputeWorkgroupsPerDimension. */
export function resolveGrids(plan: RunnablePlan, env: SizeEnv, limits: GPUSupportedLimits): Grid[] {
  return plan.kernels.map((k) => k.grid.map((expr, axis) => {
    const n = resolveSize(expr, env);
    if (n > limits.maxComputeWorkgroupsPerDimension) {
      throw new EngineError(`kernel ${k.name}: ${n} workgroups along axis ${axis} exceed the device's ` +
        `maxComputeWorkgroupsPerDimension (${limits.maxComputeWorkgroupsPerDimension}); reduce B*H or T`);
    }
    return n;
  }) as unknown as Grid);
}

/** The caller's buffer, or a range of one, bound as it is: the runner never clears, reuses or
 * destroys it. A range starts at `offset` (default 0, a multiple of the device's
 * minStorageBufferOffsetAlignment) and spans `size` bytes (default: to the buffer's end). */
export interface CallerBinding {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly size?: number;
  /** The tensor's name in errors ('q', 'o', 'dq'); default: the plan's name for the buffer. */
  readonly tensor?: string;
}

/** Where a buffer of a plan comes from when the caller has it. A buffer without one is the
 * runner's own: zero-filled (outputs: `fillOutputs` when given), from its pool. */
export type BufferSource =
  | CallerBinding
  /** Bytes uploaded into a buffer of the runner's before allocate() returns (the caller may
   * change its array afterwards). */
  | { readonly data: ArrayBufferView };

/** A tensor on the GPU as a caller gives it: a whole GPUBuffer, or a range of one. */
export type GpuBinding = GPUBuffer | { readonly buffer: GPUBuffer; readonly offset?: number; readonly size?: number };

const isBuffer = (x: unknown): x is GPUBuffer => typeof x === 'object' && x !== null &&
  typeof (x as GPUBuffer).size === 'number' && typeof (x as GPUBuffer).usage === 'number' && typeof (x as GPUBuffer).mapAsync === 'function';

/** Checks a caller's binding of tensor `tensor` (needing `bytes` bytes and the `usage` flags)
 * against `device`'s rules, and returns it as a source. Every error names the tensor and says
 * what to do. The buffer's device is checked by PlanRunner.checkDevice (it takes a GPU round trip). */
export function checkBinding(device: GPUDevice, tensor: string, given: unknown, bytes: number, usage = GPUBufferUsage.STORAGE): CallerBinding {
  const what = `${tensor}`;
  const binding = isBuffer(given) ? { buffer: given } : given as { buffer?: unknown; offset?: unknown; size?: unknown } | null | undefined;
  if (!binding || typeof binding !== 'object' || !isBuffer(binding.buffer)) {
    const got = given === undefined ? 'undefined' : given === null ? 'null' : ArrayBuffer.isView(given) ? `a ${Object.prototype.toString.call(given).slice(8, -1)} (host memory)` : `a ${Object.prototype.toString.call(given).slice(8, -1)}`;
    throw new InputError(`${what} must be a GPUBuffer or a binding { buffer, offset?, size? } on the engine's device, got ${got}`);
  }
  const buffer = binding.buffer;
  const offset = binding.offset ?? 0;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new InputError(`${what}: offset must be a non-negative integer, got ${String(offset)}`);
  const align = device.limits.minStorageBufferOffsetAlignment;
  if (offset % align !== 0) {
    throw new InputError(`${what}: offset ${offset} is not a multiple of this device's minStorageBufferOffsetAlignment (${align}), so the tensor ` +
      `cannot be bound where it is; place it at a multiple of ${align} bytes, or copy it into a buffer of its own (lae does not copy silently)`);
  }
  if (offset > buffer.size) throw new InputError(`${what}: offset ${offset} is past the end of its ${buffer.size}-byte buffer`);
  const size = binding.size ?? buffer.size - offset;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw new InputError(`${what}: size must be a non-negative integer, got ${String(size)}`);
  if (offset + size > buffer.size) throw new InputError(`${what}: offset ${offset} + size ${size} = ${offset + size} bytes is past the end of its ${buffer.size}-byte buffer`);
  if (size < bytes) {
    throw new InputError(`${what}: the binding has ${size} bytes${binding.size === undefined && offset ? ` (from offset ${offset} to the buffer's end)` : ''}; ` +
      `the tensor needs ${bytes}: give a larger buffer or range`);
  }
  if (size % 4 !== 0) throw new InputError(`${what}: size ${size} is not a multiple of 4 bytes, as storage bindings must be`);
  const missing = usage & ~buffer.usage;
  if (missing) {
    const names = Object.entries({ STORAGE: GPUBufferUsage.STORAGE, COPY_SRC: GPUBufferUsage.COPY_SRC, COPY_DST: GPUBufferUsage.COPY_DST })
      .filter(([, f]) => missing & f).map(([n]) => `GPUBufferUsage.${n}`);
    throw new InputError(`${what}: its buffer lacks the usage ${names.join(' | ')}, which lae needs to bind it; create it with usage including ${names.join(' | ')}`);
  }
  return { buffer, tensor, ...(binding.offset !== undefined ? { offset } : {}), ...(binding.size !== undefined ? { size } : {}) };
}

/** Recording for a caller: the encoder the runner's clears go into, and the workspace (a name
 * for the call's plan and size) whose buffers the runner keeps for the next call with it. */
export interface RecordInto {
  readonly encoder: GPUCommandEncoder;
  readonly workspace: string;
}

export interface AllocateOptions {
  /** The Params uniform's bytes, binding 0 of every kernel. */
  readonly params: ArrayBuffer;
  /** By buffer name. Inputs, seeds, a state updated in place and index tables need one; an
   * absent 'state-in' (h0, dht) is a 16-byte placeholder (the kernels read has_h0 / has_dht). */
  readonly sources?: Readonly<Record<string, BufferSource | undefined>>;
  /** Fill the plan's outputs with this f32 value instead of zeros (NaN: an unwritten element shows). */
  readonly fillOutputs?: number;
  /** Record for a caller's encoder (see RecordInto): nothing goes through the queue. The
   * runner's own buffers are the workspace's, kept across calls (release() keeps them there)
   * and cleared in `encoder` before the plan's dispatches; the params and uploads are buffers
   * made for their bytes and never written again. */
  readonly record?: RecordInto;
}

/** A plan's buffers on the device for one size. */
export interface PlanBuffers {
  readonly env: SizeEnv;
  readonly grids: readonly Grid[];
  /** Every buffer by its name in the plan (an alias gives its target's buffer). */
  readonly buffers: ReadonlyMap<string, GPUBuffer>;
  /** What each name binds: a whole buffer, or the range of a caller's binding. */
  readonly bindings: ReadonlyMap<string, GPUBufferBinding>;
  /** The tensor names of the caller's buffers, by plan name (for errors). */
  readonly tensors: ReadonlyMap<string, string>;
  /** The bytes each buffer holds at this size: an upload's length, the plan's size otherwise. */
  readonly bytes: ReadonlyMap<string, number>;
  readonly uniform: GPUBuffer;
  /** Gives the runner's own buffers back to its pool (once); the caller's are left alone. */
  release(): void;
}

/** A plan bound to buffers: its dispatches, ready to record. */
export interface BoundPlan {
  readonly plan: RunnablePlan;
  /** What each kernel binds, binding by binding, with the bytes of the buffer bound (binding 0,
   * the Params uniform, is every kernel's and not listed). */
  readonly bindings: readonly BindingRow[];
  /** Records kernel `only`, or every kernel in plan order, into a compute pass. */
  encode(pass: GPUComputePassEncoder, only?: number): void;
}

export interface BindingRow {
  readonly kernel: string;
  readonly binding: number;
  readonly buffer: string;
  readonly access: BindingDecl['access'];
  readonly bytes: number;
}

// Usages are read when used: in Node, WebGPU's globals exist only once a device is acquired.
const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Buffers are made in whole 16-byte units, 16 at least. */
const allocationSize = (bytes: number) => Math.max(16, Math.ceil(bytes / 16) * 16);
/** Kinds the caller must give a source for. */
const SOURCED: readonly BufferDecl['kind'][] = ['input', 'seed', 'state-inout', 'indices', 'forward'];

export interface RunnerOptions {
  /** Bytes of released buffers the pool keeps for later calls (the oldest beyond it are
   * destroyed). Default 256 MiB. */
  readonly keepBytes?: number;
  /** Workspaces (recording for a caller's encoder: one per plan and size) kept at once; the
   * least recently used beyond it goes back to the pool. Default 16. */
  readonly keepWorkspaces?: number;
}

/** Runs plans on one device: a pool of buffers reused across calls of the same size, and one
 * cached bind-group builder. */
export class PlanRunner {
  private readonly pool: BufferPool;
  private readonly groups: BindGroupCache;
  /** Workspaces by name, least recently used first: the runner's own buffers of a plan recorded
   * for a caller, by plan name. */
  private readonly workspaces = new Map<string, Map<string, GPUBuffer>>();
  private readonly keepWorkspaces: number;
  /** Buffers made for their bytes (params, small uploads) when recording for a caller. */
  private readonly constants = new Map<string, GPUBuffer>();
  /** The caller's buffers known to belong to this device. */
  private readonly verified = new WeakSet<GPUBuffer>();
  private probeLayout?: GPUBindGroupLayout;

  constructor(readonly device: GPUDevice, opts: RunnerOptions = {}) {
    this.pool = new BufferPool(device, opts.keepBytes ?? 256 * 2 ** 20);
    this.groups = new BindGroupCache(device);
    this.keepWorkspaces = opts.keepWorkspaces ?? 16;
  }

  /** Sizes every buffer of `plan` at `env`, refuses any past maxStorageBufferBindingSize (and any
   * grid past maxComputeWorkgroupsPerDimension) before allocating, then gets each buffer: the
   * caller's, an upload, or the runner's own. A source given for an alias (a gradient that is a
   * role's buffer) is its target's. */
  allocate(plan: RunnablePlan, env: SizeEnv, opts: AllocateOptions): PlanBuffers {
    const { device } = this;
    const sources: Record<string, BufferSource | undefined> = { ...opts.sources };
    for (const b of plan.buffers) {
      const src = sources[b.name];
      if (!b.aliasOf || !src) continue;
      if (sources[b.aliasOf] && sources[b.aliasOf] !== src) throw new EngineError(`buffers '${b.name}' and '${b.aliasOf}' are one buffer in this plan; give a source for one of them`);
      sources[b.aliasOf] = src;
    }
    const record = opts.record;
    if (record && opts.fillOutputs !== undefined) throw new EngineError('fillOutputs writes through the queue; it cannot be used when recording for a caller\'s encoder');
    const limit = device.limits.maxStorageBufferBindingSize;
    const bytes = new Map<string, number>();
    const tensors = new Map<string, string>();
    for (const b of plan.buffers) {
      const src = b.aliasOf ? undefined : sources[b.name];
      const caller = src && 'buffer' in src ? checkBinding(device, src.tensor ?? b.name, src, 0) : undefined;
      if (caller) tensors.set(b.name, caller.tensor ?? b.name);
      const n = b.aliasOf ? bytes.get(b.aliasOf) : caller ? (caller.size ?? caller.buffer.size - (caller.offset ?? 0)) : src ? (src as { data: ArrayBufferView }).data.byteLength
        : SOURCED.includes(b.kind) ? undefined : b.kind === 'state-in' ? 16 : bufferElems(b, env) * 4;
      if (n === undefined) throw new EngineError(`buffer '${b.name}' (${b.kind}${b.aliasOf ? ` aliasing '${b.aliasOf}'` : ''}) has no source: give it in sources`);
      if (n > limit) {
        throw new EngineError(`tensor '${caller?.tensor ?? b.name.replace(/^in_/, '')}' needs ${n} bytes, past this device's ` +
          `maxStorageBufferBindingSize of ${limit}; split the batch (B) or the heads (H)${caller && caller.size === undefined ? ', or give the binding a size' : ''}`);
      }
      if (caller && b.elems.length > 0 && n < bufferElems(b, env) * 4) {
        const name = caller.tensor && caller.tensor !== b.name ? `${caller.tensor} (buffer '${b.name}')` : `buffer '${b.name}'`;
        throw new EngineError(`${name} has ${n} bytes; the plan needs ${bufferElems(b, env) * 4} at this size`);
      }
      bytes.set(b.name, n);
    }
    const grids = resolveGrids(plan, env, device.limits);

    const own: GPUBuffer[] = [];
    const reused: GPUBuffer[] = [];
    const writes: [GPUBuffer, ArrayBufferView][] = [];
    const buffers = new Map<string, GPUBuffer>();
    const bindings = new Map<string, GPUBufferBinding>();
    const workspace = record ? this.workspace(record.workspace) : undefined;
    const take = (label: string, size: number, usage: number) => {
      if (workspace) {
        const kept = workspace.get(label);
        if (kept && kept.size === size && kept.usage === usage) {
          reused.push(kept);
          return kept;
        }
        if (kept) this.pool.give(kept);
      }
      const got = this.pool.take(label, size, usage);
      if (workspace) workspace.set(label, got.buffer);
      else own.push(got.buffer);
      if (got.reused) reused.push(got.buffer);
      return got.buffer;
    };
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const b of own) this.pool.give(b);
    };
    try {
      for (const b of plan.buffers) {
        const src = sources[b.name];
        if (b.aliasOf) {
          buffers.set(b.name, buffers.get(b.aliasOf)!);
          bindings.set(b.name, bindings.get(b.aliasOf)!);
          const t = tensors.get(b.aliasOf);
          if (t) tensors.set(b.name, t);
        } else if (src && 'buffer' in src) {
          buffers.set(b.name, src.buffer);
          bindings.set(b.name, src.offset === undefined && src.size === undefined ? { buffer: src.buffer }
            : { buffer: src.buffer, offset: src.offset ?? 0, size: bytes.get(b.name)! });
        } else {
          const size = allocationSize(bytes.get(b.name)!);
          const buffer = src && record ? this.constant(src.data, storageUsage()) : take(b.name, size, storageUsage());
          if (src && !record) writes.push([buffer, src.data]);
          else if (b.kind === 'output' && opts.fillOutputs !== undefined) writes.push([buffer, new Float32Array(buffer.size / 4).fill(opts.fillOutputs)]);
          buffers.set(b.name, buffer);
          bindings.set(b.name, { buffer });
        }
      }
      const uniform = record ? this.constant(new Uint8Array(opts.params), GPUBufferUsage.UNIFORM)
        : take('params', allocationSize(opts.params.byteLength), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      // A reused buffer is cleared first, so it starts as a fresh one would: zeros. One that is
      // written here needs none (the kernels read no further than an upload's length).
      const clears = reused.filter((b) => b.usage & GPUBufferUsage.STORAGE && !writes.some(([w]) => w === b));
      if (record) {
        for (const b of clears) record.encoder.clearBuffer(b);
      } else if (clears.length) {
        const enc = device.createCommandEncoder({ label: 'clear reused buffers' });
        for (const b of clears) enc.clearBuffer(b);
        device.queue.submit([enc.finish()]);
      }
      for (const [buffer, data] of writes) writeBytes(device, buffer, data);
      if (!record) device.queue.writeBuffer(uniform, 0, opts.params);
      return { env, grids, buffers, bindings, tensors, bytes, uniform, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Binds each kernel of `plan` (compiled as `pipelines`, in plan order): binding 0 the Params
   * uniform, binding j + 1 the buffer its j-th declared binding names, looked up in `own`, then
   * in `more` (a backward reads its forward's buffers). A kernel that would write a buffer it
   * also reads through another binding (two of the caller's tensors in one GPUBuffer) is
   * refused, naming both: WebGPU does not allow it within a dispatch. */
  bind(plan: RunnablePlan, pipelines: readonly GPUComputePipeline[], own: PlanBuffers, ...more: (PlanBuffers | ReadonlyMap<string, GPUBuffer>)[]): BoundPlan {
    if (pipelines.length !== plan.kernels.length) {
      throw new EngineError(`the plan has ${plan.kernels.length} kernels but ${pipelines.length} pipelines were given`);
    }
    const lookup = (name: string): { binding: GPUBufferBinding; tensor: string } | undefined => {
      for (const m of [own, ...more]) {
        if ('bindings' in m) {
          const binding = m.bindings.get(name);
          if (binding) return { binding, tensor: m.tensors.get(name) ?? name };
        } else {
          const buffer = m.get(name);
          if (buffer) return { binding: { buffer }, tensor: name };
        }
      }
      return undefined;
    };
    const rows: BindingRow[] = [];
    const groups = plan.kernels.map((k, i) => {
      const entries: GPUBufferBinding[] = [{ buffer: own.uniform }];
      const seen: { buffer: GPUBuffer; access: BindingDecl['access']; tensor: string; name: string }[] = [];
      k.bindings.forEach((b, j) => {
        const found = lookup(b.buffer);
        if (!found) throw new EngineError(`kernel ${k.name} binds '${b.buffer}', which none of the given buffers has`);
        for (const s of seen) {
          if (s.buffer === found.binding.buffer && s.name !== b.buffer && (s.access === 'read_write') !== (b.access === 'read_write')) {
            const [w, r] = s.access === 'read_write' ? [s.tensor, found.tensor] : [found.tensor, s.tensor];
            throw new InputError(`${w} and ${r} are in one GPUBuffer, and kernel ${k.name} writes ${w} while it reads ${r}: WebGPU does not ` +
              `allow a buffer to be written and read through two bindings of one dispatch; give ${w} a buffer of its own`);
          }
        }
        seen.push({ buffer: found.binding.buffer, access: b.access, tensor: found.tensor, name: b.buffer });
        entries.push(found.binding);
        rows.push({ kernel: k.name, binding: j + 1, buffer: b.buffer, access: b.access, bytes: own.bytes.get(b.buffer) ?? found.binding.size ?? found.binding.buffer.size });
      });
      return this.groups.get(pipelines[i]!, k.name, entries);
    });
    const encode = (pass: GPUComputePassEncoder, only?: number) => {
      for (let i = only ?? 0; i < (only === undefined ? plan.kernels.length : only + 1); i++) {
        pass.setPipeline(pipelines[i]!);
        pass.setBindGroup(0, groups[i]!);
        pass.dispatchWorkgroups(...own.grids[i]!);
      }
    };
    return { plan, bindings: rows, encode };
  }

  /** Refuses a caller's buffer that belongs to another device (or is otherwise invalid here),
   * naming its tensor. Each buffer is probed once (a bind group made in an error scope); later
   * calls with it cost nothing. */
  async checkDevice(given: readonly CallerBinding[]): Promise<void> {
    const { device } = this;
    const fresh = given.filter((b) => !this.verified.has(b.buffer));
    if (!fresh.length) return;
    const layout = this.probeLayout ??= device.createBindGroupLayout({
      label: 'lae buffer probe', entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } }],
    });
    const probe = (b: CallerBinding) => device.createBindGroup({ label: `probe ${b.tensor ?? ''}`, layout, entries: [{ binding: 0, resource: { buffer: b.buffer } }] });
    device.pushErrorScope('validation');
    for (const b of fresh) probe(b);
    if (!await device.popErrorScope()) {
      for (const b of fresh) this.verified.add(b.buffer);
      return;
    }
    for (const b of fresh) {
      device.pushErrorScope('validation');
      probe(b);
      const error = await device.popErrorScope();
      if (error) {
        const other = /associated with|cannot be used with/.test(error.message);
        throw new InputError(other
          ? `${b.tensor ?? 'a buffer'}: its GPUBuffer was created on another GPUDevice; lae binds buffers of the engine's device only ` +
            '(createEngine({ device }) takes yours), so create the tensor on that device'
          : `${b.tensor ?? 'a buffer'}: its GPUBuffer cannot be bound on this device (${error.message.split('\n')[0]}); is it destroyed?`);
      }
      this.verified.add(b.buffer);
    }
  }

  /** Gives every workspace's buffers back to the pool. Call it only once the encoders that
   * recorded with them have been submitted (a pooled buffer may be destroyed). */
  releaseWorkspaces(): void {
    for (const ws of this.workspaces.values()) for (const b of ws.values()) this.pool.give(b);
    this.workspaces.clear();
  }

  /** Destroys the buffers the pool, the workspaces and the constants keep (buffers still
   * allocated are their holders'). */
  destroy(): void {
    for (const ws of this.workspaces.values()) for (const b of ws.values()) b.destroy();
    this.workspaces.clear();
    for (const b of this.constants.values()) b.destroy();
    this.constants.clear();
    this.pool.destroy();
  }

  /** The workspace named `name`, made most recently used; the least recently used beyond
   * keepWorkspaces goes back to the pool. */
  private workspace(name: string): Map<string, GPUBuffer> {
    let ws = this.workspaces.get(name);
    if (ws) this.workspaces.delete(name);
    else ws = new Map();
    this.workspaces.set(name, ws);
    while (this.workspaces.size > this.keepWorkspaces) {
      const [oldest, bufs] = this.workspaces.entries().next().value!;
      this.workspaces.delete(oldest);
      for (const b of bufs.values()) this.pool.give(b);
    }
    return ws;
  }

  /** A buffer holding `data` (padded to 16 bytes), made once per content and usage and never
   * written again, so work recorded earlier and submitted later still reads what it was
   * recorded with. The 256 most recent are kept; older ones are dropped, not destroyed (an
   * encoder not yet submitted may hold them). */
  private constant(data: ArrayBufferView, usage: number): GPUBuffer {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let hex = `${usage}:`;
    for (const x of bytes) hex += x.toString(16).padStart(2, '0');
    let buffer = this.constants.get(hex);
    if (buffer) {
      this.constants.delete(hex);
    } else {
      buffer = this.device.createBuffer({ label: 'lae constant', size: allocationSize(bytes.byteLength), usage, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(bytes);
      buffer.unmap();
      if (this.constants.size >= 256) this.constants.delete(this.constants.keys().next().value!);
    }
    this.constants.set(hex, buffer);
    return buffer;
  }
}

/** Records bound plans one after another in one compute pass of `encoder`, `repeat` times. */
export function encodePass(encoder: GPUCommandEncoder, plans: readonly BoundPlan[], repeat = 1, only?: number): void {
  for (let r = 0; r < repeat; r++) {
    const pass = encoder.beginComputePass();
    for (const p of plans) p.encode(pass, only);
    pass.end();
  }
}

/** A buffer to copy back: its first `bytes` bytes. */
export interface Readback {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

/** Records work with `record` into one command buffer, copies each of `reads` to a staging buffer
 * after it, submits, and turns WebGPU's validation and out-of-memory errors into EngineErrors
 * naming `label`. Resolves, once the GPU is done, with the bytes read. */
export async function submit(device: GPUDevice, label: string, record: (encoder: GPUCommandEncoder) => void, reads: readonly Readback[] = []): Promise<ArrayBuffer[]> {
  const stagings: GPUBuffer[] = [];
  try {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    // Recording may throw; the scopes are popped either way, so none is left open on the device.
    const recorded = (() => {
      try {
        const enc = device.createCommandEncoder({ label });
        record(enc);
        for (const r of reads) {
          const size = Math.max(16, Math.ceil(r.bytes / 4) * 4);
          const staging = device.createBuffer({ label: `${label} readback`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
          stagings.push(staging);
          enc.copyBufferToBuffer(r.buffer, 0, staging, 0, Math.min(size, r.buffer.size));
        }
        device.queue.submit([enc.finish()]);
        return { ok: true as const };
      } catch (error) {
        return { ok: false as const, error };
      }
    })();
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (!recorded.ok) throw recorded.error;
    if (validation) throw new EngineError(`WebGPU validation error in ${label}: ${validation.message}`);
    if (oom) throw new EngineError(`out of GPU memory in ${label}: ${oom.message}; reduce B, H or T`);
    if (!reads.length) await device.queue.onSubmittedWorkDone();
    const out: ArrayBuffer[] = [];
    for (const [i, staging] of stagings.entries()) {
      await staging.mapAsync(GPUMapMode.READ);
      out.push(staging.getMappedRange(0, reads[i]!.bytes).slice(0));
      staging.unmap();
    }
    return out;
  } finally {
    for (const s of stagings) s.destroy();
  }
}

/** Writes `data` at the start of `buffer`, padded to whole 4-byte words as writeBuffer needs. */
function writeBytes(device: GPUDevice, buffer: GPUBuffer, data: ArrayBufferView): void {
  if (data.byteLength % 4 === 0) {
    device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    return;
  }
  const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  device.queue.writeBuffer(buffer, 0, padded);
}

/** Released buffers by size and usage, handed out again first come first served (a plan run
 * again at one size gets back the buffers it had, so its bind groups are found cached). */
class BufferPool {
  private readonly idle = new Map<string, GPUBuffer[]>();
  /** Every idle buffer, oldest first. */
  private readonly order: GPUBuffer[] = [];
  private idleBytes = 0;

  constructor(private readonly device: GPUDevice, private readonly keepBytes: number) {}

  take(label: string, size: number, usage: number): { buffer: GPUBuffer; reused: boolean } {
    const buffer = this.idle.get(`${usage}:${size}`)?.shift();
    if (!buffer) return { buffer: this.device.createBuffer({ label, size, usage }), reused: false };
    this.order.splice(this.order.indexOf(buffer), 1);
    this.idleBytes -= buffer.size;
    buffer.label = label;
    return { buffer, reused: true };
  }

  give(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    this.idle.set(key, [...(this.idle.get(key) ?? []), buffer]);
    this.order.push(buffer);
    this.idleBytes += buffer.size;
    while (this.idleBytes > this.keepBytes) {
      const old = this.order.shift()!;
      const list = this.idle.get(`${old.usage}:${old.size}`)!;
      list.splice(list.indexOf(old), 1);
      this.idleBytes -= old.size;
      old.destroy();
    }
  }

  destroy(): void {
    for (const b of this.order) b.destroy();
    this.order.length = 0;
    this.idle.clear();
    this.idleBytes = 0;
  }
}

/** The one place that makes bind groups: entry i is binding i, a whole buffer or a range. Groups are kept
 * (the most recent `capacity`) by pipeline and buffers, so binding a plan again to the same
 * buffers (the pool's at the same size, or the caller's) makes none. */
class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private readonly groups = new Map<string, GPUBindGroup>();

  constructor(private readonly device: GPUDevice, private readonly capacity = 512) {}

  get(pipeline: GPUComputePipeline, label: string, entries: readonly GPUBufferBinding[]): GPUBindGroup {
    const key = [this.id(pipeline), ...entries.map((e) => `${this.id(e.buffer)}@${e.offset ?? 0}+${e.size ?? 'all'}`)].join(',');
    let group = this.groups.get(key);
    if (group) {
      this.groups.delete(key);
    } else {
      group = this.device.createBindGroup({
        label, layout: pipeline.getBindGroupLayout(0), entries: entries.map((resource, binding) => ({ binding, resource })),
      });
      if (this.groups.size >= this.capacity) this.groups.delete(this.groups.keys().next().value!);
    }
    this.groups.set(key, group);
    return group;
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }
}
