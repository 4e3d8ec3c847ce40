// What every generated kernel shares: the Params uniform, constants, bindings collected on use,
// the role loads (the spec's expressions fused into index arithmetic) and gate-cumsum reads.
import type { Unroll } from './staged.js';
import type { Dim, ExprNode, Role, VariantDef } from '../../dsl/index.js';
import { stableStringify } from '../../dsl/index.js';
import { BINARY_WGSL, EXPR_HELPERS_WGSL, UNARY_WGSL, renderExpr, wgslFloat } from '../wgsl-expr.js';
import type { BindingDecl, CodegenConfig, KernelStage, Tiles } from '../plan.js';
import { Fragments } from './fragments.js';
import { rawWgsl, scope, wgsl, wgslFn, type Stage, type Wgsl, type WgslArg, type WgslBuffer, type WgslFn } from '../wgsl.js';

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

/** Stages that walk one sequence's chunks in order (sequenceSpan). */
/** The names chunkMain (chunkMainXY) declares; sequenceMain's. */
export const CHUNK_NAMES = ['wid', 'lid', 'n', 'bh', 'b', 'h', 't0', 'rows'] as const;
export const SEQUENCE_NAMES = ['wid', 'lid', 'bh', 'b', 'h', 'sq', 'nBegin', 'nEnd', 'tBegin', 'tEnd'] as const;
export type ChunkName = (typeof CHUNK_NAMES)[number];
export type SequenceName = (typeof SEQUENCE_NAMES)[number];

const SEQUENCE_STAGES: ReadonlySet<KernelStage> = new Set<KernelStage>(['stateScan', 'chunkStates', 'deltaScan', 'bwdScan', 'bwdStateScan']);

/** A buffer of f32 read element by element (`at`) and, where one binding allows it, four wide
 * (`at4`, the vec4 word of a 4-aligned index; null otherwise): KernelSource.f32Reader. */
export interface F32Reader { readonly at: (i: WgslArg) => Wgsl; readonly at4: ((i: WgslArg) => Wgsl) | null }

export class KernelSource {
  readonly bindings: BindingDecl[] = [];
  private readonly roleFns = new Map<Role, string>();
  /** Other helper functions (gate reads), by name. */
  private readonly extra = new Map<string, string>();
  /** The fragment layer, once a kernel of the tensor-core tier asks for it. */
  private fragmentLayer?: Fragments;
  /** Inputs this kernel binds as vec4 words (see fragments()). */
  private readonly vec4Inputs = new Set<string>();

  constructor(
    readonly def: VariantDef,
    readonly cfg: CodegenConfig,
    readonly tiles: Tiles,
    readonly stage: KernelStage,
    readonly workgroupSize: number,
  ) {}

  /** The matrix-fragment layer of the config's tensor-core lowering (codegen/kernels/fragments.ts);
   * the module then enables what the lowering needs, and the kernel reads its f32 inputs whose
   * last axis is K or V (a multiple of 4) as vec4 words, so its operands stage four at a time.
   * Called before any load is generated. */
  fragments(): Fragments {
    if (!this.cfg.fragments) throw new Error(`internal: kernel ${this.stage} asked for fragments in the f32 tier`);
    if (!this.fragmentLayer) {
      if (this.bindings.length || this.roleFns.size || this.extra.size) throw new Error('internal: fragments() after the first load');
      this.fragmentLayer = new Fragments(this.cfg.fragments);
      if (!this.cfg.scalarLoads) {
        for (const i of this.def.inputs) {
          const last = i.dims[i.dims.length - 1];
          const n = last === 'K' ? this.cfg.K : last === 'V' ? this.cfg.V : 0;
          if (n % 4 === 0 && n > 0 && !this.cfg.inputDtypes?.[i.name]) this.vec4Inputs.add(i.name);
        }
      }
    }
    return this.fragmentLayer;
  }

  /** The staging loops' unrolling (tuning knob unrollStaging), for emitF16Block's `unroll`. */
  get stagingUnroll(): Unroll | undefined {
    return this.cfg.unrollStaging && this.cfg.fragments ? { wg: this.workgroupSize, chunk: this.cfg.chunk } : undefined;
  }

  /** Whether buffer reads of a 4-aligned run of the last axis can be one vec4 load here. */
  get vectorLoads(): boolean { return this.fragmentLayer !== undefined && !this.cfg.scalarLoads; }

  /** `role4_<r>(b, t, h, j)`: the role at j..j+3 (j a multiple of 4) as a vec4, or null where
   * its expression cannot be evaluated four-wide (a 16-bit or misaligned input along j, or an
   * op without a vec4 form). */
  role4(r: Role): string | null {
    if (!this.vectorLoads) return null;
    const name = `role4_${r}`;
    if (this.extra.has(name)) return name;
    const node = this.def.roles[r];
    const along: Dim | null = r === 'q' || r === 'k' || r === 'a' || r === 'b' ? 'K' : r === 'v' || r === 'outputAdd' || r === 'outputGate' ? 'V' : null;
    if (!node || !along) return null;
    const body = this.renderVec4(node, along);
    if (!body) return null;
    let expr = body.vec ? body.text : `vec4<f32>(${body.text})`;
    if ((r === 'q' || r === 'k') && this.def.l2norm.includes(r)) {
      expr = `(${expr}) * ${this.use(`rn_${r}`, 'read')}[(b * P.T + t) * P.H + h]`;
    }
    this.extra.set(name, `fn ${name}(b: u32, t: u32, h: u32, j: u32) -> vec4<f32> { return ${expr}; }`);
    return name;
  }

  private renderVec4(node: ExprNode, along: Dim): { text: string; vec: boolean } | null {
    switch (node.kind) {
      case 'const': return { text: wgslFloat(node.value), vec: false };
      case 'index': return { text: `f32(${node.dim})`, vec: false };
      case 'input': {
        const decl = this.def.inputs.find((i) => i.name === node.name)!;
        if (!decl.dims.includes(along)) return { text: this.loadInput(node.name, this.inputIndex(node.name)), vec: false };
        if (!this.vec4Inputs.has(node.name) || decl.dims[decl.dims.length - 1] !== along) return null;
        return { text: `${this.use(node.name, 'read', true, 'vec4<f32>')}[(${this.inputIndex(node.name)}) >> 2u]`, vec: true };
      }
      case 'unary': {
        if (!['neg', 'exp', 'exp2', 'log', 'log2', 'sqrt', 'rsqrt', 'abs'].includes(node.op)) return null;
        const a = this.renderVec4(node.arg, along);
        return a && { text: UNARY_WGSL[node.op](a.text), vec: a.vec };
      }
      case 'binary': {
        if (!['add', 'sub', 'mul', 'div'].includes(node.op)) return null;
        const a = this.renderVec4(node.a, along);
        const b = this.renderVec4(node.b, along);
        return a && b && { text: BINARY_WGSL[node.op](a.text, b.text), vec: a.vec || b.vec };
      }
    }
  }

  get diag() { return this.def.decay === 'diagonal'; }
  get decayed() { return this.def.decay !== 'none'; }
  get delta() { return this.def.correction === 'delta'; }
  get bonus() { return this.def.bonus === 'u'; }
  /** The generalized delta rule (correction 'dplr'). */
  get dplr() { return this.def.correction === 'dplr'; }

  /** Declares a binding on first use and returns its WGSL variable name. */
  use(buffer: string, access: 'read' | 'read_write', isInput = false, elem?: BindingDecl['elem']): WgslBuffer {
    // Inputs are bound as `in_<name>`, so they never collide with the plan's own buffers.
    const id = isInput ? `in_${buffer}` : buffer;
    const at = this.bindings.findIndex((b) => b.buffer === id);
    // One binding per buffer, of one element type: a second view would be a second binding.
    if (at >= 0 && this.bindings[at]!.elem !== elem) {
      throw new Error(`internal: ${this.stage} binds '${id}' as ${this.bindings[at]!.elem ?? 'f32'} and as ${elem ?? 'f32'}; read it through one view (f32Reader)`);
    }
    if (at < 0) this.bindings.push(elem ? { buffer: id, access, elem } : { buffer: id, access });
    // A kernel that writes a buffer and also reads it binds it once, read_write.
    else if (access === 'read_write') this.bindings[at] = { ...this.bindings[at]!, access };
    return wgslVar(id) as WgslBuffer;
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

  /** WGSL reading input `name` at element `idx`: a plain load, one lane of a vec4 word, or an
   * unpack of 16-bit storage. */
  private loadInput(name: string, idx: string): string {
    const dtype = this.cfg.inputDtypes?.[name];
    if (this.vec4Inputs.has(name)) return `${this.use(name, 'read', true, 'vec4<f32>')}[(${idx}) >> 2u][(${idx}) & 3u]`;
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

  /** seedDo through f32Reader (V contiguous). */
  seedDoReader(): F32Reader {
    return this.f32Reader(this.def.roles.outputGate ? 'dog' : 'do', this.cfg.V % 4 === 0);
  }

  /** A plan buffer of f32 read through one binding: as vec4 words where this kernel loads four
   * wide (vectorLoads) and `by4` says the buffer's contiguous axis has a multiple of 4 elements,
   * so a 4-aligned run along it is one word; else element by element. `at` reads an element at
   * any index, `at4` (null where not wide) the word of a 4-aligned index. */
  f32Reader(buffer: string, by4: boolean, access: 'read' | 'read_write' = 'read'): F32Reader {
    if (this.vectorLoads && by4) {
      const b = this.use(buffer, access, false, 'vec4<f32>');
      return { at: (i) => wgsl`${b}[(${i}) >> 2u][(${i}) & 3u]`, at4: (i) => wgsl`${b}[(${i}) >> 2u]` };
    }
    const b = this.use(buffer, access);
    return { at: (i) => wgsl`${b}[${i}]`, at4: null };
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
    this.extra.set('gq', this.bonus ? exclusiveGate('gq', g) : `fn gq(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { return ${g}(b, h, t, d); }`);
    return 'gq';
  }

  /** The exclusive chunk-local cumsum G[t-1] (0 at the chunk's first token t0), whatever the
   * spec's bonus: the generalized delta rule's removal side a reads the state before token t's
   * decay. */
  gex(): string {
    this.extra.set('gex', exclusiveGate('gex', this.gcs()));
    return 'gex';
  }

  /** The chunk table of packed sequences: per chunk (t0, rows, sequence, last-of-its-sequence). */
  private chunkTable(): string { return this.use('chunk_table', 'read', false, 'u32'); }

  /** Whether this kernel walks a sequence's chunks (sequenceSpan): under packed sequences its
   * chunks' spans then follow from the sequence table alone, since a sequence's chunks are
   * consecutive, C tokens each from its first token (the last one shorter), so it binds no
   * chunk table. */
  private get walksSequence(): boolean { return this.cfg.varlen === true && SEQUENCE_STAGES.has(this.stage); }

  /** WGSL defining `t0` and `rows` of chunk `n`: n*C and what is left of T, or under packed
   * sequences the chunk table's entry (no chunk crosses a sequence boundary). */
  chunkSpan(n = 'n'): string {
    if (!this.cfg.varlen) return `let t0 = ${n} * C;\n  let rows = min(C, P.T - t0);`;
    if (this.walksSequence) return `let t0 = tBegin + (${n} - nBegin) * C;\n  let rows = min(C, tEnd - t0);`;
    const ct = this.chunkTable();
    return `let t0 = ${ct}[4u * (${n})];\n  let rows = ${ct}[4u * (${n}) + 1u];`;
  }
  /** The last token of chunk `n`. */
  chunkLastToken(n: string): string {
    if (this.walksSequence) return `(min(tBegin + (${n} - nBegin + 1u) * C, tEnd) - 1u)`;
    return this.cfg.varlen ? `(${this.chunkTable()}[4u * (${n})] + ${this.chunkTable()}[4u * (${n}) + 1u] - 1u)` : `(min(P.T, (${n} + 1u) * C) - 1u)`;
  }
  /** Whether chunk `n` is followed by another of the same sequence (its state then is hs[n+1], else ht). */
  chunkHasNext(n: string): string {
    if (this.walksSequence) return `(${n} + 1u < nEnd)`;
    return this.cfg.varlen ? `(${this.chunkTable()}[4u * (${n}) + 3u] == 0u)` : `(${n} + 1u < P.NT)`;
  }
  /** The state slot (row of h0/ht) of chunk `n`: its sequence, or the batch index `b`. */
  chunkSeq(n: string): string {
    if (this.walksSequence) return 'sq';
    return this.cfg.varlen ? `${this.chunkTable()}[4u * (${n}) + 2u]` : 'b';
  }
  /** WGSL opening the entry point of a per-chunk kernel on the grid (x, chunk, b*h): n, bh, b,
   * h, and the chunk's t0 and rows. */
  chunkMain(builtins = ''): string {
    return this.chunkOpening('y', builtins);
  }
  /** chunkMain on the grid (chunk, b*h, 1), the per-chunk kernels that tile nothing else. */
  chunkMainXY(builtins = ''): string {
    return this.chunkOpening('x', builtins);
  }
  private chunkOpening(chunkAxis: 'x' | 'y', builtins: string): string {
    return `@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${builtins}) {
  let n = wid.${chunkAxis};
  let bh = wid.${chunkAxis === 'x' ? 'y' : 'z'};
  let b = bh / P.H;
  let h = bh % P.H;
  ${this.chunkSpan()}`;
  }
  /** WGSL opening a per-sequence kernel (sequenceSpan) on the grid (x, sequence*head, z). */
  sequenceMain(builtins = ''): string {
    return `@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${builtins}) {
  ${this.sequenceSpan()}`;
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
    // The normalized form's rows have SV = V + 2 columns (its denominator and running maximum).
    const cols = this.def.normalize === 'exp' ? 'SV' : 'VD';
    return this.def.stateLayout === 'kv'
      ? `((${b} * P.H + ${h}) * KD + ${d}) * ${cols} + ${c}`
      : `((${b} * P.H + ${h}) * ${cols} + ${c}) * KD + ${d}`;
  }

  // Typed forms of the accessors above, for `wgsl` templates (codegen/wgsl.ts): functions whose
  // calls check their arity, and stage openings with the names they declare.
  /** role(r) as a function hole: role_<r>(b, t, h, j). */
  roleFn(r: Role): WgslFn<4> { return wgslFn(this.role(r), 4); }
  /** role4(r) as a function hole, or null where role4 gives none. */
  role4Fn(r: Role): WgslFn<4> | null { const f = this.role4(r); return f === null ? null : wgslFn(f, 4); }
  /** gcs() as a function hole: gcs(b, h, t, d). */
  gcsFn(): WgslFn<4> { return wgslFn(this.gcs(), 4); }
  /** gq() as a function hole: gq(b, h, t, t0, d). */
  gqFn(): WgslFn<5> { return wgslFn(this.gq(), 5); }
  /** gex() as a function hole: gex(b, h, t, t0, d). */
  gexFn(): WgslFn<5> { return wgslFn(this.gex(), 5); }
  /** helper() as a function hole of `arity` arguments. */
  helperFn<N extends 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8>(name: string, arity: N, source: string): WgslFn<N> { return wgslFn(this.helper(name, source), arity); }
  /** chunkMain with its names. The opening binds what it reads (the chunk table of packed
   * sequences) when `open` is first read, so a kernel reads it where the opening goes and its
   * bindings keep their order. */
  chunkStage(builtins = ''): Stage<ChunkName> { return lazyStage(() => this.chunkMain(builtins), CHUNK_NAMES); }
  /** chunkMainXY with its names. */
  chunkStageXY(builtins = ''): Stage<ChunkName> { return lazyStage(() => this.chunkMainXY(builtins), CHUNK_NAMES); }
  /** sequenceMain with its names. */
  sequenceStage(builtins = ''): Stage<SequenceName> { return lazyStage(() => this.sequenceMain(builtins), SEQUENCE_NAMES); }
  /** chunkTileMain with its names: the chunk's, the tile index `tile`, tx and ty. */
  chunkTileStage<const T extends string>(tile: T): Stage<ChunkName | T | 'tx' | 'ty'> {
    return lazyStage(() => this.chunkTileMain(tile), [...CHUNK_NAMES, tile, 'tx', 'ty']);
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
      DG: this.diag ? cfg.K : 1, WG: this.workgroupSize, ...(def.normalize === 'exp' ? { SV: cfg.V + 2 } : {}), ...constants,
    };
    const module = [
      // A kernel off the fragment layer that binds f16 storage (the delta rule's inverse writes t16).
      ...(this.fragmentLayer?.enables() ?? (this.bindings.some((b) => b.elem === 'f16') ? ['enable f16;'] : [])),
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
    return cfg.compactLoops ? rollLoops(module) : module;
  }
}

/** WGSL of a gate function `name(b, h, t, t0, d)` giving G[t-1] from the cumsum reader `g`, 0 at
 * the chunk's first token t0 (the bonus form's queries, the generalized delta rule's a side). */
function exclusiveGate(name: string, g: string): string {
  return `fn ${name}(b: u32, h: u32, t: u32, t0: u32, d: u32) -> f32 { if (t == t0) { return 0.0; } return ${g}(b, h, t - 1u, d); }`;
}

/** A stage whose opening is made (and binds what it reads) when first read. */
function lazyStage<const N extends string>(make: () => string, names: readonly N[]): Stage<N> {
  let text: Wgsl | undefined;
  return { s: scope(names), get open() { return (text ??= rawWgsl(make())); } };
}

/** Adds `(P.T >> 31u)`, zero for any T a buffer can hold but opaque to a compiler, to the bound
 * of every `for (var x = ...; x < bound; ...)` loop (CodegenConfig.compactLoops). */
export function rollLoops(wgsl: string): string {
  return wgsl.replace(/for \(var (\w+) = ([^;]+); \1 < ([^;]+);/g, (_m, v: string, init: string, bound: string) =>
    `for (var ${v} = ${init}; ${v} < (${bound}) + (P.T >> 31u);`);
}
