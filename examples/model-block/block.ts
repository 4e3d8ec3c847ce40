// A Gated DeltaNet block on one WebGPU device, the way a model runtime would run lae: every
// activation lives in the runtime's own GPUBuffers, the runtime's kernels (below) and lae's are
// recorded into the same command encoders, and nothing goes through the host between them.
//
//   x [T, D] --in-proj--> proj [T, 2HK + HV | a H | b H | z HV]     (a plain WGSL matmul)
//   qkv --causal depthwise conv (4 taps) + SiLU--> q, k, v           (the runtime's kernel)
//   a, b, A_log, dt_bias --> g, beta                                  (lae: fused preambles, spec.ts)
//   lae: chunked prefill (encodeForward, ht into the state buffer), then decode (encodeStep)
//   o --RMSNorm per head * weight * SiLU(z)--> gated --out-proj--> y [T, D]
//
// The conv reads the projections' history rows (t-3..t), so decoding needs no separate conv
// state; the recurrent state stays in one GPUBuffer from the prefill through every decode step.
import type { Engine, VariantOp } from '../../index.js';
import spec from './spec.js';

export interface BlockConfig {
  /** Model width, heads, head dims, prompt length, tokens decoded after it. */
  readonly D: number;
  readonly H: number;
  readonly K: number;
  readonly V: number;
  readonly prompt: number;
  readonly decode: number;
  /** lae's chunk size for the prefill (default 64). */
  readonly chunkSize?: 16 | 32 | 64;
  readonly seed?: number;
}

export const CONV_TAPS = 4;
export const NORM_EPS = 1e-6;

/** The block's weights and its input x [prompt + decode, D], as host arrays (seeded). */
export interface BlockWeights {
  readonly x: Float32Array;
  /** [D, Cin]: columns qkv (2HK + HV), a (H), b (H), z (HV). */
  readonly wIn: Float32Array;
  /** [2HK + HV, CONV_TAPS]: tap j multiplies row t - (CONV_TAPS - 1) + j. */
  readonly conv: Float32Array;
  readonly aLog: Float32Array;
  readonly dtBias: Float32Array;
  /** [V]: the RMSNorm weight, shared by the heads. */
  readonly norm: Float32Array;
  /** [HV, D] */
  readonly wOut: Float32Array;
}

export const channels = (c: BlockConfig) => ({ C: 2 * c.H * c.K + c.H * c.V, Cin: 2 * c.H * c.K + 2 * c.H + 2 * c.H * c.V });

export function blockWeights(c: BlockConfig): BlockWeights {
  let s = (c.seed ?? 1) >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const fill = (n: number, scale: number, shift = 0) => Float32Array.from({ length: n }, () => uniform() * scale + shift);
  const { C, Cin } = channels(c);
  const T = c.prompt + c.decode;
  return {
    x: fill(T * c.D, 2),
    wIn: fill(c.D * Cin, 2 * Math.sqrt(3 / c.D)),
    conv: fill(C * CONV_TAPS, 1),
    aLog: fill(c.H, 1, Math.log(2)),
    dtBias: fill(c.H, 1),
    norm: fill(c.V, 0.5, 1),
    wOut: fill(c.H * c.V * c.D, 2 * Math.sqrt(3 / (c.H * c.V))),
  };
}

// ---- the runtime's own kernels ------------------------------------------------------------------
// Each runs over rows t in [t0, t0 + n) of the sequence (a uniform), one thread per output value.

const ROWS = 'struct Rows { t0: u32, n: u32 }\n@group(0) @binding(0) var<uniform> rows: Rows;';
const silu = 'fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }';

/** y[t, :N] = x[t, :M] * w[M, N] for absolute rows t (the in- and out-projections). */
const matmulWgsl = (M: number, N: number) => `${ROWS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let col = id.x; let t = rows.t0 + id.y;
  if (col >= ${N}u || id.y >= rows.n) { return; }
  var acc = 0.0;
  for (var m = 0u; m < ${M}u; m++) { acc += x[t * ${M}u + m] * w[m * ${N}u + col]; }
  y[t * ${N}u + col] = acc;
}`;

/** The causal depthwise conv + SiLU of the qkv channels, written as lae's q, k, v at row t - t0;
 * a and b are passed through to lae (its spec applies their preambles). */
const convWgsl = (c: BlockConfig) => {
  const { C, Cin } = channels(c);
  const HK = c.H * c.K;
  return `${ROWS}
@group(0) @binding(1) var<storage, read> proj: array<f32>;
@group(0) @binding(2) var<storage, read> wconv: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> a: array<f32>;
@group(0) @binding(7) var<storage, read_write> b: array<f32>;
${silu}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let ch = id.x; let r = id.y; let t = rows.t0 + r;
  if (ch >= ${C + 2 * c.H}u || r >= rows.n) { return; }
  if (ch >= ${C}u) {
    let x = proj[t * ${Cin}u + ch];
    if (ch < ${C + c.H}u) { a[r * ${c.H}u + ch - ${C}u] = x; } else { b[r * ${c.H}u + ch - ${C + c.H}u] = x; }
    return;
  }
  var acc = 0.0;
  for (var j = 0u; j < ${CONV_TAPS}u; j++) {
    if (t + j >= ${CONV_TAPS - 1}u) { acc += wconv[ch * ${CONV_TAPS}u + j] * proj[(t + j - ${CONV_TAPS - 1}u) * ${Cin}u + ch]; }
  }
  let y = silu(acc);
  if (ch < ${HK}u) { q[r * ${HK}u + ch] = y; } else if (ch < ${2 * HK}u) { k[r * ${HK}u + ch - ${HK}u] = y; } else { v[r * ${c.H * c.V}u + ch - ${2 * HK}u] = y; }
}`;
};

/** gated[t, h, :] = o[t - t0, h, :] / rms * norm * silu(z[t, h, :]); one workgroup per (row, head). */
const normGateWgsl = (c: BlockConfig) => {
  const { Cin } = channels(c);
  const zAt = 2 * c.H * c.K + 2 * c.H + c.H * c.V;
  return `${ROWS}
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> proj: array<f32>;
@group(0) @binding(3) var<storage, read> wnorm: array<f32>;
@group(0) @binding(4) var<storage, read_write> gated: array<f32>;
${silu}
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x; let r = wg.y; let t = rows.t0 + r;
  var ss = 0.0;
  for (var j = lid; j < ${c.V}u; j += 64u) { let x = o[(r * ${c.H}u + h) * ${c.V}u + j]; ss += x * x; }
  red[lid] = ss;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) { if (lid < w) { red[lid] += red[lid + w]; } workgroupBarrier(); }
  let inv = inverseSqrt(red[0] / ${c.V}.0 + ${NORM_EPS});
  for (var j = lid; j < ${c.V}u; j += 64u) {
    let z = proj[t * ${Cin}u + ${zAt}u + h * ${c.V}u + j];
    gated[(t * ${c.H}u + h) * ${c.V}u + j] = o[(r * ${c.H}u + h) * ${c.V}u + j] * inv * wnorm[j] * silu(z);
  }
}`;
};

// ---- the block ----------------------------------------------------------------------------------

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class GatedDeltaNetBlock {
  readonly op: VariantOp;
  readonly device: GPUDevice;
  /** y [prompt + decode, D]: the block's output rows, filled as they are computed. */
  readonly y: GPUBuffer;
  private readonly buf: Record<string, GPUBuffer> = {};
  private readonly pipes: Record<'inProj' | 'outProj' | 'conv' | 'normGate', GPUComputePipeline>;
  private readonly prefillRows: GPUBuffer;
  private readonly stepRows: GPUBuffer;

  constructor(readonly engine: Engine, readonly cfg: BlockConfig, w: BlockWeights = blockWeights(cfg)) {
    const device = (this.device = engine.device);
    this.op = engine.variant(spec);
    const { D, H, K, V, prompt } = cfg;
    const T = prompt + cfg.decode;
    const { Cin } = channels(cfg);
    const make = (name: string, floats: number, data?: Float32Array) => {
      const b = device.createBuffer({ label: name, size: Math.max(16, floats * 4), usage: USAGE() });
      if (data) device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
      return (this.buf[name] = b);
    };
    make('x', T * D, w.x);
    make('wIn', D * Cin, w.wIn);
    make('conv', channels(cfg).C * CONV_TAPS, w.conv);
    make('A_log', H, w.aLog);
    make('dt_bias', H, w.dtBias);
    make('norm', V, w.norm);
    make('wOut', H * V * D, w.wOut);
    make('proj', T * Cin);
    make('gated', T * H * V);
    this.y = make('y', T * D);
    // lae's operands: the prompt's, one token's, and the recurrent state [1, H, K, V].
    for (const [suffix, n] of [['', prompt], ['1', 1]] as const) {
      make(`q${suffix}`, n * H * K); make(`k${suffix}`, n * H * K); make(`v${suffix}`, n * H * V);
      make(`a${suffix}`, n * H); make(`b${suffix}`, n * H); make(`o${suffix}`, n * H * V);
    }
    make('state', H * K * V);
    const rows = (t0: number, n: number) => {
      const b = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(b, 0, new Uint32Array([t0, n, 0, 0]));
      return b;
    };
    this.prefillRows = rows(0, prompt);
    this.stepRows = rows(prompt, 1);
    const pipeline = (label: string, code: string) => device.createComputePipeline({ label, layout: 'auto', compute: { module: device.createShaderModule({ label, code }), entryPoint: 'main' } });
    this.pipes = {
      inProj: pipeline('in-proj', matmulWgsl(D, Cin)),
      outProj: pipeline('out-proj', matmulWgsl(H * V, D)),
      conv: pipeline('conv', convWgsl(cfg)),
      normGate: pipeline('norm-gate', normGateWgsl(cfg)),
    };
  }

  private dispatch(enc: GPUCommandEncoder, pipe: GPUComputePipeline, rows: GPUBuffer, buffers: GPUBuffer[], grid: [number, number]): void {
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, this.device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [rows, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    }));
    pass.dispatchWorkgroups(...grid);
    pass.end();
  }

  /** The runtime's kernels before lae for rows [t0, t0 + n): projections, conv into lae's operands. */
  private before(enc: GPUCommandEncoder, rows: GPUBuffer, n: number, s: '' | '1'): void {
    const { C, Cin } = channels(this.cfg);
    const b = this.buf;
    this.dispatch(enc, this.pipes.inProj, rows, [b.x!, b.wIn!, b.proj!], [Math.ceil(Cin / 64), n]);
    this.dispatch(enc, this.pipes.conv, rows, [b.proj!, b.conv!, b[`q${s}`]!, b[`k${s}`]!, b[`v${s}`]!, b[`a${s}`]!, b[`b${s}`]!], [Math.ceil((C + 2 * this.cfg.H) / 64), n]);
  }

  /** ... and after it: norm and gate of lae's o, then the out-projection into y. */
  private after(enc: GPUCommandEncoder, rows: GPUBuffer, n: number, s: '' | '1'): void {
    const b = this.buf;
    this.dispatch(enc, this.pipes.normGate, rows, [b[`o${s}`]!, b.proj!, b.norm!, b.gated!], [this.cfg.H, n]);
    this.dispatch(enc, this.pipes.outProj, rows, [b.gated!, b.wOut!, this.y], [Math.ceil(this.cfg.D / 64), n]);
  }

  private laeInputs(s: '' | '1') {
    const b = this.buf;
    return { q: b[`q${s}`]!, k: b[`k${s}`]!, v: b[`v${s}`]!, a: b[`a${s}`]!, b: b[`b${s}`]!, A_log: b.A_log!, dt_bias: b.dt_bias! };
  }

  /** Records the prefill of the prompt: lae's chunked forward, its final state into `state`. */
  async encodePrefill(enc: GPUCommandEncoder): Promise<void> {
    const { H, K, V, prompt } = this.cfg;
    this.before(enc, this.prefillRows, prompt, '');
    await this.op.encodeForward(enc, this.laeInputs(''), { o: this.buf.o!, ht: this.buf.state! },
      { B: 1, T: prompt, H, K, V, chunkSize: this.cfg.chunkSize ?? 64 });
    this.after(enc, this.prefillRows, prompt, '');
  }

  /** Records the decode of token t (t >= prompt): lae's step on the state, in place. Set the
   * row first with setStepRow(t) (a queue write, ordered before the submit that follows). */
  async encodeDecode(enc: GPUCommandEncoder): Promise<void> {
    const { H, K, V } = this.cfg;
    this.before(enc, this.stepRows, 1, '1');
    await this.op.encodeStep(enc, this.laeInputs('1'), this.buf.state!, { o: this.buf.o1! }, { B: 1, H, K, V });
    this.after(enc, this.stepRows, 1, '1');
  }

  setStepRow(t: number): void {
    this.device.queue.writeBuffer(this.stepRows, 0, new Uint32Array([t, 1]));
  }

  /** Clears the outputs and the state, for a second run. */
  reset(): void {
    const enc = this.device.createCommandEncoder();
    for (const name of ['state', 'y', 'gated', 'proj']) enc.clearBuffer(this.buf[name] ?? this.y);
    this.device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    for (const b of Object.values(this.buf)) b.destroy();
    this.prefillRows.destroy();
    this.stepRows.destroy();
  }
}

export interface BlockRun {
  /** Tokens per second of the prefill (one submit) and of the decode (one submit per token). */
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** y [prompt + decode, D], read back once at the end. */
  readonly y: Float32Array;
}

/** Runs the prompt, then `decode` tokens one by one; each decode submit follows the previous
 * one without waiting (a model that samples would wait for its token; this block has none). */
export async function runBlock(block: GatedDeltaNetBlock): Promise<BlockRun> {
  const { device } = block;
  const { prompt, decode, D } = block.cfg;
  block.reset();
  await device.queue.onSubmittedWorkDone();
  let t0 = performance.now();
  const enc = device.createCommandEncoder({ label: 'prefill' });
  await block.encodePrefill(enc);
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const prefillMs = performance.now() - t0;
  t0 = performance.now();
  for (let t = prompt; t < prompt + decode; t++) {
    block.setStepRow(t);
    const step = device.createCommandEncoder({ label: `decode ${t}` });
    await block.encodeDecode(step);
    device.queue.submit([step.finish()]);
  }
  await device.queue.onSubmittedWorkDone();
  const decodeMs = performance.now() - t0;
  const n = (prompt + decode) * D;
  const staging = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const rd = device.createCommandEncoder();
  rd.copyBufferToBuffer(block.y, 0, staging, 0, n * 4);
  device.queue.submit([rd.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const y = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return { prefillTokensPerSecond: prompt / (prefillMs / 1000), decodeTokensPerSecond: decode / (decodeMs / 1000), y };
}
