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
// Self-contained: it imports types and ./errors.js only, so `lae gen` embeds this very source in
// the modules it writes (cli/embed.ts refuses anything else).
import type { BindingDecl, BufferDecl, KernelDecl, SizeExpr } from '../codegen/plan.js';
import { EngineError } from './errors.js';

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

/** Where a buffer of a plan comes from when the caller has it. A buffer without one is the
 * runner's own: zero-filled (outputs: `fillOutputs` when given), from its pool. */
export type BufferSource =
  /** The caller's buffer, bound as it is: the runner never writes, reuses or destroys it. */
  | { readonly buffer: GPUBuffer }
  /** Bytes uploaded into a buffer of the runner's before allocate() returns (the caller may
   * change its array afterwards). */
  | { readonly data: ArrayBufferView };

export interface AllocateOptions {
  /** The Params uniform's bytes, binding 0 of every kernel. */
  readonly params: ArrayBuffer;
  /** By buffer name. Inputs, seeds, a state updated in place and index tables need one; an
   * absent 'state-in' (h0, dht) is a 16-byte placeholder (the kernels read has_h0 / has_dht). */
  readonly sources?: Readonly<Record<string, BufferSource | undefined>>;
  /** Fill the plan's outputs with this f32 value instead of zeros (NaN: an unwritten element shows). */
  readonly fillOutputs?: number;
}

/** A plan's buffers on the device for one size. */
export interface PlanBuffers {
  readonly env: SizeEnv;
  readonly grids: readonly Grid[];
  /** Every buffer by its name in the plan (an alias gives its target's buffer). */
  readonly buffers: ReadonlyMap<string, GPUBuffer>;
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
}

/** Runs plans on one device: a pool of buffers reused across calls of the same size, and one
 * cached bind-group builder. */
export class PlanRunner {
  private readonly pool: BufferPool;
  private readonly groups: BindGroupCache;

  constructor(readonly device: GPUDevice, opts: RunnerOptions = {}) {
    this.pool = new BufferPool(device, opts.keepBytes ?? 256 * 2 ** 20);
    this.groups = new BindGroupCache(device);
  }

  /** Sizes every buffer of `plan` at `env`, refuses any past maxStorageBufferBindingSize (and any
   * grid past maxComputeWorkgroupsPerDimension) before allocating, then gets each buffer: the
   * caller's, an upload, or the runner's own. */
  allocate(plan: RunnablePlan, env: SizeEnv, opts: AllocateOptions): PlanBuffers {
    const { device } = this;
    const sources = opts.sources ?? {};
    const limit = device.limits.maxStorageBufferBindingSize;
    const bytes = new Map<string, number>();
    for (const b of plan.buffers) {
      const src = sources[b.name];
      const n = b.aliasOf ? bytes.get(b.aliasOf) : src ? ('buffer' in src ? src.buffer.size : src.data.byteLength)
        : SOURCED.includes(b.kind) ? undefined : b.kind === 'state-in' ? 16 : bufferElems(b, env) * 4;
      if (n === undefined) throw new EngineError(`buffer '${b.name}' (${b.kind}${b.aliasOf ? ` aliasing '${b.aliasOf}'` : ''}) has no source: give it in sources`);
      if (n > limit) {
        throw new EngineError(`tensor '${b.name.replace(/^in_/, '')}' needs ${n} bytes, past this device's ` +
          `maxStorageBufferBindingSize of ${limit}; split the batch (B) or the heads (H)`);
      }
      if (src && 'buffer' in src && b.elems.length > 0 && n < resolveSize(b.elems, env) * 4) {
        throw new EngineError(`buffer '${b.name}' has ${n} bytes; the plan needs ${resolveSize(b.elems, env) * 4} at this size`);
      }
      bytes.set(b.name, n);
    }
    const grids = resolveGrids(plan, env, device.limits);

    const own: GPUBuffer[] = [];
    const reused: GPUBuffer[] = [];
    const writes: [GPUBuffer, ArrayBufferView][] = [];
    const buffers = new Map<string, GPUBuffer>();
    const take = (label: string, size: number, usage: number) => {
      const got = this.pool.take(label, size, usage);
      own.push(got.buffer);
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
        } else if (src && 'buffer' in src) {
          buffers.set(b.name, src.buffer);
        } else {
          const buffer = take(b.name, allocationSize(bytes.get(b.name)!), storageUsage());
          if (src) writes.push([buffer, src.data]);
          else if (b.kind === 'output' && opts.fillOutputs !== undefined) writes.push([buffer, new Float32Array(buffer.size / 4).fill(opts.fillOutputs)]);
          buffers.set(b.name, buffer);
        }
      }
      const uniform = take('params', allocationSize(opts.params.byteLength), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      // A reused buffer is cleared first, so it starts as a fresh one would: zeros. One that is
      // written here needs none (the kernels read no further than an upload's length).
      const clears = reused.filter((b) => b.usage & GPUBufferUsage.STORAGE && !writes.some(([w]) => w === b));
      if (clears.length) {
        const enc = device.createCommandEncoder({ label: 'clear reused buffers' });
        for (const b of clears) enc.clearBuffer(b);
        device.queue.submit([enc.finish()]);
      }
      for (const [buffer, data] of writes) writeBytes(device, buffer, data);
      device.queue.writeBuffer(uniform, 0, opts.params);
      return { env, grids, buffers, bytes, uniform, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Binds each kernel of `plan` (compiled as `pipelines`, in plan order): binding 0 the Params
   * uniform, binding j + 1 the buffer its j-th declared binding names, looked up in `own`, then
   * in `more` (a backward reads its forward's buffers). */
  bind(plan: RunnablePlan, pipelines: readonly GPUComputePipeline[], own: PlanBuffers, ...more: ReadonlyMap<string, GPUBuffer>[]): BoundPlan {
    if (pipelines.length !== plan.kernels.length) {
      throw new EngineError(`the plan has ${plan.kernels.length} kernels but ${pipelines.length} pipelines were given`);
    }
    const rows: BindingRow[] = [];
    const groups = plan.kernels.map((k, i) => {
      const entries: GPUBuffer[] = [own.uniform];
      k.bindings.forEach((b, j) => {
        const buffer = own.buffers.get(b.buffer) ?? more.map((m) => m.get(b.buffer)).find((x) => x !== undefined);
        if (!buffer) throw new EngineError(`kernel ${k.name} binds '${b.buffer}', which none of the given buffers has`);
        entries.push(buffer);
        rows.push({ kernel: k.name, binding: j + 1, buffer: b.buffer, access: b.access, bytes: own.bytes.get(b.buffer) ?? buffer.size });
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

  /** Destroys the buffers the pool keeps (buffers still allocated are their holders'). */
  destroy(): void {
    this.pool.destroy();
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

/** The one place that makes bind groups: entry i is binding i, a whole buffer. Groups are kept
 * (the most recent `capacity`) by pipeline and buffers, so binding a plan again to the same
 * buffers (the pool's at the same size, or the caller's) makes none. */
class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private readonly groups = new Map<string, GPUBindGroup>();

  constructor(private readonly device: GPUDevice, private readonly capacity = 512) {}

  get(pipeline: GPUComputePipeline, label: string, entries: readonly GPUBuffer[]): GPUBindGroup {
    const key = [pipeline, ...entries].map((o) => this.id(o)).join(',');
    let group = this.groups.get(key);
    if (group) {
      this.groups.delete(key);
    } else {
      group = this.device.createBindGroup({
        label, layout: pipeline.getBindGroupLayout(0), entries: entries.map((buffer, binding) => ({ binding, resource: { buffer } })),
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
