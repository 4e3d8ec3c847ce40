// Fitting a plan into WebGPU's default 8 storage buffers per stage, for the kernels the stages
// alone leave past it (a spec with many inputs, packed sequences, the token-sequential kernel of
// mamba2). Two rewrites of a kernel's WGSL, each keeping its arithmetic as it is:
//   - the state in place: a kernel that reads h0 and writes ht (each element by the invocation,
//     or the workgroup, that read it) reads ht instead, where a stateInit kernel copied h0 first;
//   - packing: read-only buffers (the smallest first: per-head parameters, gates, tables) are
//     copied by packIn kernels into one buffer of u32 words, which the kernel binds once and reads
//     through pk_<name>(i) (a bitcast for f32 words). Offsets follow from the Params uniform.
// Kernels that fit are left as they are, so the common plans carry neither copy.
import { stateColumns, type VariantDef } from '../dsl/index.js';
import { KernelSource, wgslVar } from './kernels/common.js';
import { DEFAULT_LIMITS } from './check.js';
import type { BindingDecl, BufferDecl, CodegenConfig, KernelDecl, SizeExpr, SizeSym, Tiles } from './plan.js';

/** Storage buffers a kernel may bind: what every WebGPU device grants. */
export const STORAGE_BUFFER_LIMIT = DEFAULT_LIMITS.maxStorageBuffersPerShaderStage;

export interface FitOptions {
  /** The plan's name for its pack buffer (`pack_<mode>`: plans run together never share it). */
  readonly mode: string;
  /** Buffers the kernels may read that this plan does not declare (the backward's forward). */
  readonly external: readonly BufferDecl[];
  /** Where packIn kernels go: after the kernels that write what they copy (the L2 norms). */
  readonly packAt: number;
  /** Kernels never rewritten (the tensor-core tier's, which read vec4 words). */
  readonly fixed: (k: KernelDecl) => boolean;
}

const SYM_WGSL: Record<Exclude<SizeSym, 'S' | 'SH'>, string> = { B: 'P.B', T: 'P.T', H: 'P.H', NT: 'P.NT', BH: '(P.B * P.H)' };
const DIM_WGSL = { B: 'P.B', T: 'P.T', H: 'P.H', K: 'KD', V: 'VD' } as const;

interface Part {
  readonly buffer: string;
  /** Its words, in WGSL over the Params uniform and the module's constants. */
  readonly words: string;
  /** Elements to allocate for it (at least its words). */
  readonly alloc: SizeExpr;
  /** A rough size, for packing the smallest first. */
  readonly estimate: number;
}

/** A buffer as a pack part, or null where its size is not known to the kernels (the states' rows
 * S under packed sequences are not in the uniform). */
function partOf(b: BufferDecl, def: VariantDef, cfg: CodegenConfig): Part | null {
  const est: Record<string, number> = { B: 1, T: 4096, H: 1, NT: Math.ceil(4096 / cfg.chunk), BH: 1, K: cfg.K, V: cfg.V };
  if (b.kind === 'input') {
    const name = b.name.slice(3);
    const decl = def.inputs.find((i) => i.name === name)!;
    const grouped = cfg.qkInputs?.includes(name) ?? false;
    const n = decl.dims.map((d) => (d === 'H' && grouped ? '(P.H / P.G)' : DIM_WGSL[d])).join(' * ') || '1u';
    const half = cfg.inputDtypes?.[name] !== undefined;
    return {
      buffer: b.name, words: half ? `((${n}) + 1u) / 2u` : `(${n})`,
      alloc: decl.dims.map((d) => (d === 'K' ? cfg.K : d === 'V' ? cfg.V : d)),
      estimate: decl.dims.reduce((p, d) => p * est[d]!, 1),
    };
  }
  if (b.aliasOf || b.parts || b.elems.some((s) => s === 'S' || s === 'SH')) return null;
  // A factor 1 (a per-head scalar's trailing dimension) is left out: `* 1u` folded.
  const words = b.elems.filter((s) => s !== 1).map((s) => (typeof s === 'number' ? `${s}u` : SYM_WGSL[s as keyof typeof SYM_WGSL])).join(' * ') || '1u';
  return { buffer: b.name, words: `(${words})`, alloc: b.elems, estimate: b.elems.reduce<number>((p, s) => p * (typeof s === 'number' ? s : est[s]!), 1) };
}

/** The bindings a kernel would have with `packed` read from the pack buffer `pack`. */
function countWith(k: KernelDecl, packed: ReadonlySet<string>): number {
  const kept = k.bindings.filter((b) => !packed.has(b.buffer)).length;
  return kept + (kept < k.bindings.length ? 1 : 0);
}

/** Replaces every `name[index]` of the WGSL (name a whole word) by `f(index)`. */
function rewriteIndexing(wgsl: string, name: string, f: (index: string) => string): string {
  const re = new RegExp(`\\b${name}\\[`, 'g');
  let out = '';
  let from = 0;
  for (let m = re.exec(wgsl); m; m = re.exec(wgsl)) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; depth > 0; i++) {
      if (i >= wgsl.length) throw new Error(`internal: unbalanced brackets after ${name}[`);
      if (wgsl[i] === '[') depth++;
      else if (wgsl[i] === ']') depth--;
    }
    out += wgsl.slice(from, m.index) + f(rewriteIndexing(wgsl.slice(m.index + m[0].length, i - 1), name, f));
    from = i;
    re.lastIndex = i;
  }
  return out + wgsl.slice(from);
}

/** The kernel with new bindings: the WGSL's binding declarations rewritten to match. */
function withBindings(k: KernelDecl, bindings: readonly BindingDecl[], wgsl: string): KernelDecl {
  const lines = wgsl.split('\n');
  const isBinding = (l: string) => /^@group\(0\) @binding\(\d+\) var<storage/.test(l);
  const first = lines.findIndex(isBinding);
  const decls = bindings.map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${wgslVar(b.buffer)}: array<${b.elem ?? 'f32'}>;`);
  const rest = lines.filter((l) => !isBinding(l));
  rest.splice(first, 0, ...decls);
  return { ...k, bindings, wgsl: rest.join('\n') };
}

/** Reads h0 from ht (stateInit copied it there), dropping the h0 binding. */
function stateInPlace(k: KernelDecl): KernelDecl {
  const wgsl = rewriteIndexing(k.wgsl, wgslVar('h0'), (i) => `${wgslVar('ht')}[${i}]`);
  return withBindings(k, k.bindings.filter((b) => b.buffer !== 'h0'), wgsl);
}

/** Reads the buffers of `parts` that the kernel binds from the pack buffer. */
function readPacked(k: KernelDecl, pack: string, parts: readonly Part[]): KernelDecl {
  let wgsl = k.wgsl;
  const helpers: string[] = [];
  let offset = '0u';
  for (const p of parts) {
    const binding = k.bindings.find((b) => b.buffer === p.buffer);
    if (binding) {
      const v = wgslVar(p.buffer);
      const word = `${wgslVar(pack)}[${offset} + i]`;
      helpers.push(binding.elem === 'u32'
        ? `fn pk_${v}(i: u32) -> u32 { return ${word}; }`
        : `fn pk_${v}(i: u32) -> f32 { return bitcast<f32>(${word}); }`);
      wgsl = rewriteIndexing(wgsl, v, (i) => `pk_${v}(${i})`);
      if (new RegExp(`\\b${v}\\b`).test(wgsl.replace(/^@group.*$/gm, ''))) throw new Error(`internal: kernel ${k.name} uses ${v} other than by index`);
    }
    offset = `${offset} + ${p.words}`;
  }
  const packed = new Set(parts.map((p) => p.buffer));
  const kept = k.bindings.filter((b) => !packed.has(b.buffer));
  return withBindings(k, [...kept, { buffer: pack, access: 'read', elem: 'u32' }], `${wgsl}\n${helpers.join('\n')}\n`);
}

/** Rewrites the plan's kernels that bind more than STORAGE_BUFFER_LIMIT storage buffers (see
 * the file's comment); returns the kernels and the buffers to add. Kernels still past the limit
 * are left for checkLimits to report. */
export function fitStorageLimit(def: VariantDef, cfg: CodegenConfig, tiles: Tiles, kernels: readonly KernelDecl[], buffers: readonly BufferDecl[], opts: FitOptions): { kernels: KernelDecl[]; buffers: BufferDecl[] } {
  const over = (k: KernelDecl) => !opts.fixed(k) && k.bindings.length > STORAGE_BUFFER_LIMIT;
  if (!kernels.some(over)) return { kernels: [...kernels], buffers: [] };
  let out = [...kernels];
  const extra: BufferDecl[] = [];
  const emit = (stage: 'stateInit' | 'packIn', name: string, body: (ks: KernelSource) => string, grid: KernelDecl['grid']): KernelDecl => {
    const ks = new KernelSource(def, cfg, tiles, stage, 256);
    const wgsl = ks.finish(name, { WG_X: 1 }, body(ks));
    return { name, stage, workgroupSize: 256, grid, bindings: ks.bindings, wgsl };
  };

  // The state in place, where a kernel reads h0 and writes ht.
  let packAt = opts.packAt;
  const inPlace = (k: KernelDecl) => over(k) && k.bindings.some((b) => b.buffer === 'h0' && b.access === 'read') && k.bindings.some((b) => b.buffer === 'ht' && b.access === 'read_write');
  if (out.some(inPlace)) {
    out = out.map((k) => (inPlace(k) ? stateInPlace(k) : k));
    // Named by the plan too: kernel names are unique over the plans of a `lae gen` module.
    out.splice(0, 0, emit('stateInit', `${def.name}_stateInit_${opts.mode}`, (ks) => {
      const h0 = ks.use('h0', 'read');
      const ht = ks.use('ht', 'read_write');
      return `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * WG + lid;
  if (P.has_h0 == 0u || e >= KD * ${def.normalize === 'exp' ? 'SV' : 'VD'}) { return; }
  let at = wid.y * KD * ${def.normalize === 'exp' ? 'SV' : 'VD'} + e;
  ${ht}[at] = ${h0}[at];
}`;
    }, [[Math.ceil((cfg.K * stateColumns(def, cfg.V)) / 256)], ['SH'], [1]]));
    packAt++;
  }

  // Packing, the smallest candidates of each kernel still past the limit first.
  const writtenLater = new Set(out.slice(packAt).flatMap((k) => k.bindings.filter((b) => b.access === 'read_write').map((b) => b.buffer)));
  const candidates = new Map<string, Part>();
  for (const b of [...buffers, ...opts.external]) {
    if (writtenLater.has(b.name) || candidates.has(b.name) || !['input', 'indices', 'scratch', 'seed', 'forward'].includes(b.kind)) continue;
    // Bound as f32 or u32 words wherever an unfitted kernel binds it.
    if (out.some((k) => over(k) && k.bindings.some((x) => x.buffer === b.name && x.elem !== undefined && x.elem !== 'u32'))) continue;
    const p = partOf(b, def, cfg);
    if (p) candidates.set(b.name, p);
  }
  const packed = new Set<string>();
  for (const k of out.filter(over)) {
    const mine = k.bindings.map((b) => candidates.get(b.buffer)).filter((p): p is Part => p !== undefined)
      .sort((a, b) => a.estimate - b.estimate || a.buffer.localeCompare(b.buffer));
    for (const p of mine) {
      if (countWith(k, packed) <= STORAGE_BUFFER_LIMIT) break;
      packed.add(p.buffer);
    }
  }
  if (!packed.size) return { kernels: out, buffers: extra };
  const parts = [...candidates.values()].filter((p) => packed.has(p.buffer));
  const pack = `pack_${opts.mode}`;
  extra.push({ name: pack, kind: 'scratch', elems: [], parts: parts.map((p) => p.alloc) });
  out = out.map((k) => (over(k) && k.bindings.some((b) => packed.has(b.buffer)) ? readPacked(k, pack, parts) : k));
  // packIn kernels: each copies up to STORAGE_BUFFER_LIMIT - 1 parts, grid-striding over words.
  const copies: KernelDecl[] = [];
  let offset = '0u';
  for (let first = 0; first < parts.length; first += STORAGE_BUFFER_LIMIT - 1) {
    const group = parts.slice(first, first + STORAGE_BUFFER_LIMIT - 1);
    const name = `${def.name}_packIn_${opts.mode}${parts.length > STORAGE_BUFFER_LIMIT - 1 ? first / (STORAGE_BUFFER_LIMIT - 1) : ''}`;
    copies.push(emit('packIn', name, (ks) => {
      const loops = group.map((p) => {
        const src = ks.use(p.buffer.startsWith('in_') ? p.buffer.slice(3) : p.buffer, 'read', p.buffer.startsWith('in_'), 'u32');
        const dst = ks.use(pack, 'read_write', false, 'u32');
        const loop = `  for (var i = g; i < ${p.words}; i += stride) { ${dst}[${offset} + i] = ${src}[i]; }`;
        offset = `${offset} + ${p.words}`;
        return loop;
      });
      return `
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * P.NT + wid.x) * WG + lid;
  let stride = P.NT * P.B * P.H * WG;
${loops.join('\n')}
}`;
    }, [['NT'], ['BH'], [1]]));
  }
  out.splice(packAt, 0, ...copies);
  return { kernels: out, buffers: extra };
}
