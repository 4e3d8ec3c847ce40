// What every generated kernel shares: the Params uniform, constants, bindings collected on use,
// the role loads (the spec's expressions fused into index arithmetic) and gate-cumsum reads.
import type { Dim, ExprNode, Role, VariantDef } from '../../dsl/index.js';
import { stableStringify } from '../../dsl/index.js';
import { EXPR_HELPERS_WGSL, renderExpr } from '../wgsl-expr.js';
import type { BindingDecl, CodegenConfig, KernelStage, Tiles } from '../plan.js';

/** Field order of the uniform every kernel reads; the runtime writes it in this order. */
export const PARAMS_FIELDS = ['B', 'T', 'H', 'NT', 'has_h0', 'scale', 'has_dht', 'G'] as const;
export type ParamValues = Record<(typeof PARAMS_FIELDS)[number], number>;

/** The Params uniform's bytes: `scale` as f32, every other field as u32, in PARAMS_FIELDS order. */
export function packParams(values: ParamValues): ArrayBuffer {
  const buf = new ArrayBuffer(PARAMS_FIELDS.length * 4);
  const u32 = new Uint32Array(buf);
  const f32 = new Float32Array(buf);
  PARAMS_FIELDS.forEach((f, i) => { if (f === 'scale') f32[i] = values[f]; else u32[i] = values[f]; });
  return buf;
}
const PARAMS_WGSL = `struct Params { B: u32, T: u32, H: u32, NT: u32, has_h0: u32, scale: f32, has_dht: u32, G: u32 }`;

const DIM_SIZE: Record<Dim, string> = { B: 'P.B', T: 'P.T', H: 'P.H', K: 'KD', V: 'VD' };
const DIM_INDEX: Record<Dim, string> = { B: 'b', T: 't', H: 'h', K: 'j', V: 'j' };

/** Input buffers keep their `in_` id as WGSL name; the plan's own buffers get a `b_` prefix. */
export const wgslVar = (bufferId: string) => (bufferId.startsWith('in_') ? bufferId : `b_${bufferId}`);
export const INPUT_PREFIX = 'in_';

export class KernelSource {
  readonly bindings: BindingDecl[] = [];
  private readonly roleFns = new Map<Role, string>();
  /** Other helper functions (gate reads), by name. */
  private readonly extra = new Map<string, string>();

  constructor(
    readonly def: VariantDef,
    readonly cfg: CodegenConfig,
    readonly tiles: Tiles,
    readonly stage: KernelStage,
    readonly workgroupSize: number,
  ) {}

  get diag() { return this.def.decay === 'diagonal'; }
  get decayed() { return this.def.decay !== 'none'; }
  get delta() { return this.def.correction === 'delta'; }
  get bonus() { return this.def.bonus === 'u'; }

  /** Declares a binding on first use and returns its WGSL variable name. */
  use(buffer: string, access: 'read' | 'read_write', isInput = false, elem?: 'u32'): string {
    // Inputs are bound as `in_<name>`, so they never collide with the plan's own buffers.
    const id = isInput ? `in_${buffer}` : buffer;
    const at = this.bindings.findIndex((b) => b.buffer === id);
    if (at < 0) this.bindings.push(elem ? { buffer: id, access, elem } : { buffer: id, access });
    // A kernel that writes a buffer and also reads it binds it once, read_write.
    else if (access === 'read_write') this.bindings[at] = { ...this.bindings[at]!, access };
    return wgslVar(id);
  }

  /** `role_<r>(b, t, h, j)`: the role's expression, reading the raw inputs it names. */
  role(r: Role): string {
    if (!this.roleFns.has(r)) {
      const node = this.def.roles[r];
      if (!node) throw new Error(`internal: variant ${this.def.name} has no role ${r}`);
      if ((r === 'q' || r === 'k') && this.def.l2norm.includes(r)) {
        // The normalized role: its raw expression times the row's 1/norm (the l2norm stage).
        const raw = this.roleRaw(r);
        const rn = this.use(`rn_${r}`, 'read');
        this.roleFns.set(r, `fn role_${r}(b: u32, t: u32, h: u32, j: u32) -> f32 { return ${raw}(b, t, h, j) * ${rn}[(b * P.T + t) * P.H + h]; }`);
      } else {
        this.roleFns.set(r, this.exprFnSource(`role_${r}`, node));
      }
    }
    return `role_${r}`;
  }

  /** `role_<r>_raw(b, t, h, j)`: the role's expression before any L2 normalization. */
  roleRaw(r: Role): string {
    return this.exprFn(`role_${r}_raw`, this.def.roles[r]!);
  }

  /** `<name>(b, t, h, j)`: any expression over the inputs (a role's symbolic derivative, say). */
  exprFn(name: string, node: ExprNode): string {
    if (!this.extra.has(name)) this.extra.set(name, this.exprFnSource(name, node));
    return name;
  }

  /** Element offset of input `name` at the index (b, t, h, j) of a role's space. */
  inputIndex(name: string): string {
    const decl = this.def.inputs.find((i) => i.name === name)!;
    const grouped = this.cfg.qkInputs?.includes(name) ?? false;
    let idx = '';
    for (const d of decl.dims) {
      const [size, at] = grouped && d === 'H' ? ['(P.H / P.G)', '(h / P.G)'] : [DIM_SIZE[d], DIM_INDEX[d]];
      idx = idx ? `(${idx}) * ${size} + ${at}` : at;
    }
    return idx || '0u';
  }

  /** WGSL reading input `name` at element `idx`: a plain load, or an unpack of 16-bit storage. */
  private loadInput(name: string, idx: string): string {
    const dtype = this.cfg.inputDtypes?.[name];
    if (!dtype) return `${this.use(name, 'read', true)}[${idx}]`;
    const buf = this.use(name, 'read', true, 'u32');
    const unpack = dtype === 'bf16'
      ? 'return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));'
      : 'return unpack2x16float(w)[i & 1u];';
    this.extra.set(`ld_${name}`, `fn ld_${name}(i: u32) -> f32 { let w = ${buf}[i >> 1u]; ${unpack} }`);
    return `ld_${name}(${idx})`;
  }

  private exprFnSource(fnName: string, node: ExprNode): string {
    const body = renderExpr(node, (name) => this.loadInput(name, this.inputIndex(name)));
    return `fn ${fnName}(b: u32, t: u32, h: u32, j: u32) -> f32 { return ${body}; }`;
  }

  /** The backward's incoming output gradient: do, or do * outputGate when the spec gates o. */
  seedDo(): string {
    return this.def.roles.outputGate ? this.use('dog', 'read') : this.use('do', 'read');
  }

  /** Declares a WGSL helper function once, by name. */
  helper(name: string, source: string): string {
    if (!this.extra.has(name)) this.extra.set(name, source);
    return name;
  }

  /** Inclusive chunk-local cumsum of the log-decay in log2 units, G[b,h,t,d]. */
  gcs(): string {
    const buf = this.use('gcum', 'read');
    this.extra.set('gcs', `fn gcs(b: u32, h: u32, t: u32, d: u32) -> f32 { return ${buf}[((b * P.H + h) * P.T + t) * DG${this.diag ? ' + d' : ''}]; }`);
    return 'gcs';
  }
  /** The gate on the query side: inclusive, or exclusive for the bonus form (RWKV6). */
  gq(): string {
    const g = this.gcs();
    this.extra.set('gq', this.bonus
      ? `fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { if (t == t0) { return 0.0; } return ${g}(b, h, t - 1u, d); }`
      : `fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return ${g}(b, h, t, d); }`);
    return 'gq';
  }

  /** The chunk table of packed sequences: per chunk (t0, rows, sequence, last-of-its-sequence). */
  private chunkTable(): string { return this.use('chunk_table', 'read', false, 'u32'); }

  /** WGSL defining `t0` and `rows` of chunk `n`: n*C and what is left of T, or under packed
   * sequences the chunk table's entry (no chunk crosses a sequence boundary). */
  chunkSpan(n = 'n'): string {
    if (!this.cfg.varlen) return `let t0 = ${n} * C;\n  let rows = min(C, P.T - t0);`;
    const ct = this.chunkTable();
    return `let t0 = ${ct}[4u * (${n})];\n  let rows = ${ct}[4u * (${n}) + 1u];`;
  }
  /** The last token of chunk `n`. */
  chunkLastToken(n: string): string {
    return this.cfg.varlen ? `(${this.chunkTable()}[4u * (${n})] + ${this.chunkTable()}[4u * (${n}) + 1u] - 1u)` : `(min(P.T, (${n} + 1u) * C) - 1u)`;
  }
  /** Whether chunk `n` is followed by another of the same sequence (its state then is hs[n+1], else ht). */
  chunkHasNext(n: string): string {
    return this.cfg.varlen ? `(${this.chunkTable()}[4u * (${n}) + 3u] == 0u)` : `(${n} + 1u < P.NT)`;
  }
  /** The state slot (row of h0/ht) of chunk `n`: its sequence, or the batch index `b`. */
  chunkSeq(n: string): string {
    return this.cfg.varlen ? `${this.chunkTable()}[4u * (${n}) + 2u]` : 'b';
  }
  /** WGSL opening the entry point of a per-chunk kernel on the grid (x, chunk, b*h): n, bh, b,
   * h, and the chunk's t0 and rows. */
  chunkMain(): string {
    return `@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y;
  let bh = wid.z;
  let b = bh / P.H;
  let h = bh % P.H;
  ${this.chunkSpan()}`;
  }
  /** chunkMain for a register-tiled kernel: also the tile index (named `tile`) and the thread's
   * tx, ty in the TILE_GRID. */
  chunkTileMain(tile: string): string {
    return `${this.chunkMain()}
  let ${tile} = wid.x;
  let tx = lid % TX;
  let ty = lid / TX;`;
  }

  /** WGSL opening a per-sequence kernel (the scans, the token-sequential kernel) from its
   * workgroup's y index: head h, batch b and head row bh of the token and chunk buffers, state
   * slot sq, and the sequence's chunks [nBegin, nEnd) and tokens [tBegin, tEnd). Without packed
   * sequences, sq = b and the ranges are the whole of T. */
  sequenceSpan(): string {
    if (!this.cfg.varlen) {
      return `let bh = wid.y;
  let b = bh / P.H;
  let h = bh % P.H;
  let sq = b;
  let nBegin = 0u;
  let nEnd = P.NT;
  let tBegin = 0u;
  let tEnd = P.T;`;
    }
    const sqt = this.use('seq_table', 'read', false, 'u32');
    return `let h = wid.y % P.H;
  let sq = wid.y / P.H;
  let b = 0u;
  let bh = h;
  let nBegin = ${sqt}[4u * sq];
  let nEnd = ${sqt}[4u * sq + 1u];
  let tBegin = ${sqt}[4u * sq + 2u];
  let tEnd = ${sqt}[4u * sq + 3u];`;
  }

  /** Index of element (d, c) of state (b, h) in h0/ht, in the variant's layout. */
  stateIndex(b: string, h: string, d: string, c: string): string {
    return this.def.stateLayout === 'kv'
      ? `((${b} * P.H + ${h}) * KD + ${d}) * VD + ${c}`
      : `((${b} * P.H + ${h}) * VD + ${c}) * KD + ${d}`;
  }

  /** Assembles the module: header comment, uniform, bindings, constants, helpers, body. */
  finish(kernelName: string, constants: Record<string, number>, body: string): string {
    const { def, cfg, tiles } = this;
    const header = [
      `// lae kernel '${kernelName}' (${this.stage}) for variant '${def.name}'`,
      `// spec hash ${def.hash}; config ${stableStringify(cfg)}; tiles ${stableStringify(tiles)}`,
      `// decay=${def.decay} correction=${def.correction} bonus=${def.bonus} state=${def.stateLayout}`,
    ].join('\n');
    const binds = this.bindings.map((b, i) =>
      `@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${wgslVar(b.buffer)}: array<${b.elem ?? 'f32'}>;`);
    const consts = {
      C: cfg.chunk, KD: cfg.K, VD: cfg.V, KP: tiles.KP, VP: tiles.VP,
      DG: this.diag ? cfg.K : 1, WG: this.workgroupSize, ...constants,
    };
    return [
      header, '',
      PARAMS_WGSL,
      '@group(0) @binding(0) var<uniform> P: Params;',
      ...binds, '',
      ...Object.entries(consts).map(([k, v]) => `const ${k}: u32 = ${v}u;`),
      'const LOG2E: f32 = 1.4426950408889634;',
      EXPR_HELPERS_WGSL,
      ...this.roleFns.values(),
      ...this.extra.values(),
      '',
      body.trim(), '',
    ].join('\n');
  }
}
