// The matrix-fragment layer of the tensor-core tier. Every matmul-shaped product of a
// tensor-core kernel is written against this layer: 16 x 16 result fragments (f32) accumulated
// from 16 x 16 operand fragments (f16), four subgroups of 32 invocations per workgroup, each
// owning a block of result fragments. Operands come from workgroup memory (staged, as the
// parallel stages do: loading them straight from storage measured 5x slower there), or straight
// from per-chunk f16 blocks in storage in the latency-bound state walks. Two lowerings of the
// same tile walk and staging:
//   'subgroup-matrix': WebGPU's subgroup matrices (chromium_experimental_subgroup_matrix), which
//     Dawn lowers to cooperative matrices: the tensor cores on NVIDIA;
//   'portable': the same fragments as per-invocation arrays in plain WGSL (each lane holds 8 of a
//     result fragment's 256 values: row lane / 2, columns (lane % 2) * 8 + 0..7), so the tiling,
//     staging, masking and epilogues run, and are tested, on any adapter with shader-f16.
// Epilogues (per-element work on results) go through a per-subgroup scratch on the hardware,
// whose fragments are opaque; the portable lanes own their elements and work in place.

import { joinWgsl, wgsl, type Wgsl } from '../wgsl.js';
import { add, mul, renderIndex } from '../index-expr.js';

export type FragmentLowering = 'subgroup-matrix' | 'portable';
export const FRAGMENT_LOWERINGS: readonly FragmentLowering[] = ['subgroup-matrix', 'portable'];

/** Fragment edge: every fragment is 16 x 16, every product step contracts 16. */
export const FRAG = 16;
/** Subgroups per workgroup and invocations per subgroup (the NVIDIA subgroup size). */
export const SUBGROUPS = 4;
export const LANES = 32;
export const FRAG_WG = SUBGROUPS * LANES;

/** Workgroup memory per workgroup at which two workgroups of a stage share a multiprocessor of
 * the H200 through Dawn: NVIDIA's Vulkan driver gives compute pipelines 48 KiB of shared memory
 * per multiprocessor, its maxComputeSharedMemorySize (bench/probes/residency.mjs, 2026-12-03: two
 * workgroups of 24 KiB fit, two of 25 KiB do not; three of 16 KiB fit, four of 12 KiB). The
 * stages are latency-bound (barriers, staging loads), so a second resident workgroup hides much
 * of the first's waiting: the output stage at 24 KiB against 37 KiB took 0.275 ms instead of
 * 0.420 (linear_attn) and 0.499 instead of 0.738 (gla) at (1,32,4096,128,128), the gated delta
 * rule's prep 0.227 instead of 0.397 (bench/RESULTS.md, sixth session). Other adapters were not
 * measured; tuning.fragmentMemory replaces this policy with one cap. Layout searches try this
 * budget first, then the device's whole tier (see fragmentBudgets, firstFit). */
export const OCCUPANCY_BUDGET = 24576;

type BudgetConfig = { readonly wgMemory?: number; readonly fragmentMemory?: number };

/** The budgets, bytes, a fragment kernel's layout search tries in order: the tuning knob
 * fragmentMemory alone where it is given (within the device's tier); else OCCUPANCY_BUDGET, then
 * the whole tier (a layout that does not fit the first still runs, one workgroup per
 * multiprocessor). Read through firstFit and fragmentBudget. */
function fragmentBudgets(cfg: BudgetConfig): readonly number[] {
  const tier = cfg.wgMemory ?? 32768;
  if (cfg.fragmentMemory !== undefined) return [Math.min(cfg.fragmentMemory, tier)];
  return OCCUPANCY_BUDGET < tier ? [OCCUPANCY_BUDGET, tier] : [tier];
}

/** The largest budget a fragment kernel's layout may use (the last of fragmentBudgets), for a
 * kernel of one fixed layout to check against. */
export function fragmentBudget(cfg: BudgetConfig): number {
  return fragmentBudgets(cfg).at(-1)!;
}

/** What a layout takes of the two arrays of Fragments.workspace: f16 and f32 words. */
export interface Footprint {
  readonly f16: number;
  readonly f32: number;
}

/** Bytes of workgroup memory a layout's workspace takes. */
export const workspaceBytes = (l: Footprint) => 2 * l.f16 + 4 * l.f32;

/** The layout search of the fragment kernels: the first of `candidates` (the kernel's layouts,
 * most preferred first) that fits the first of fragmentBudgets that any fits, so a layout within
 * OCCUPANCY_BUDGET wins over a preferred one that needs the whole tier. Where none fits even the
 * last budget, throws `nothing(budget)` with that budget (the error names the stage and says
 * what to raise). `bytes` measures a layout: its workspace, or more where the kernel declares
 * workgroup memory of its own beside it. */
export function firstFit<L extends Footprint>(cfg: BudgetConfig, candidates: readonly L[], nothing: (budget: number) => Error,
  bytes: (l: L) => number = workspaceBytes): L {
  for (const budget of fragmentBudgets(cfg)) {
    const fit = candidates.find((l) => bytes(l) <= budget);
    if (fit) return fit;
  }
  throw nothing(fragmentBudget(cfg));
}

/** Rounds a dimension up to whole fragments. */
export const fragCeil = (n: number) => Math.ceil(n / FRAG) * FRAG;

/** An operand fragment in a workgroup f16 array: element (r, c) at `arr[offset + r*stride + c]`,
 * or `arr[offset + c*stride + r]` when colMajor. offset and stride are WGSL u32 expressions. */
export interface FragSource {
  readonly arr: string;
  readonly offset: string;
  readonly stride: string | number;
  readonly colMajor?: boolean;
}

/** A result fragment's place in an f32 array (storage or workgroup), row-major. */
export interface FragTarget {
  readonly arr: string;
  readonly offset: string;
  readonly stride: string | number;
}

/** How the result fragments of an R x C fragment grid are split over the subgroups: a gr x gc
 * grid of subgroups (the rest idle), each owning fm x fn fragments, rows first. */
export interface Partition {
  readonly gr: number;
  readonly gc: number;
  readonly fm: number;
  readonly fn: number;
}

/** The split of an rowsF x colsF fragment grid over at most SUBGROUPS subgroups that keeps every
 * subgroup busy where it can and loads the fewest operand fragments per product step. */
export function partition(rowsF: number, colsF: number): Partition {
  let best: Partition | null = null;
  for (let gr = 1; gr <= SUBGROUPS; gr++) {
    for (let gc = 1; gr * gc <= SUBGROUPS; gc++) {
      if (rowsF % gr || colsF % gc) continue;
      const p = { gr, gc, fm: rowsF / gr, fn: colsF / gc };
      const better = !best || gr * gc > best.gr * best.gc || (gr * gc === best.gr * best.gc && p.fm + p.fn < best.fm + best.fn);
      if (better) best = p;
    }
  }
  return best!;
}

/** A subgroup's place in partition p, as WGSL names with a one-letter prefix: `<x>sr`, `<x>sc`
 * (its row and column in the subgroup grid) and `<x>active` (whether it owns fragments), the
 * statements declaring them, and the first row and column of its fragment (i, j). */
export function subgroupGrid(p: Partition, x: string) {
  const r = `${x}sr`;
  const c = `${x}sc`;
  return {
    decl: wgsl`let ${r} = sg / ${p.gc}u;
  let ${c} = sg % ${p.gc}u;
  let ${x}active = sg < ${p.gr * p.gc}u;`,
    active: wgsl`${x}active`,
    // The block index (in fragments) of the subgroup's fragment row i / column j, and its first
    // row / column, constants folded (index-expr.ts).
    block: { row: (i: number) => add(mul(r, p.fm), i), col: (j: number) => add(mul(c, p.fn), j) },
    map: { row: (i: number) => renderIndex(mul(add(mul(r, p.fm), i), FRAG)), col: (j: number) => renderIndex(mul(add(mul(c, p.fn), j), FRAG)) },
  };
}

/** The names builtins() and opening() declare between them (for a stage's scope, wgsl.ts). */
export const FRAG_NAMES = ['sg', 'lane'] as const;

const u = (x: string | number) => (typeof x === 'number' ? `${x}u` : x);

export class Fragments {
  constructor(readonly lowering: FragmentLowering) {}

  get hardware(): boolean { return this.lowering === 'subgroup-matrix'; }

  /** The module's enable directives. */
  enables(): string[] {
    // Every subgroup-matrix call sits in control flow and at offsets that depend only on
    // constants, uniforms and the subgroup index, which is uniform across its subgroup; the
    // analysis checks workgroup uniformity, so it is told to stand down.
    return this.hardware
      ? ['enable f16;', 'enable subgroups;', 'enable chromium_experimental_subgroup_matrix;', 'diagnostic(off, chromium.subgroup_matrix_uniformity);']
      : ['enable f16;'];
  }

  /** Entry-point parameters giving the subgroup index `sg` and the lane within it. The portable
   * lowering derives both from local_invocation_index (`lid`) in `opening()`. */
  builtins(): string {
    return this.hardware ? ', @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32' : '';
  }

  /** The workgroup arrays a tensor-core kernel lays its regions out in: f16 operands, f32
   * results and scratch. */
  workspace(f16Words: number, f32Words: number): Wgsl {
    return wgsl`var<workgroup> wh: array<f16, ${f16Words}>;
var<workgroup> wf: array<f32, ${f32Words}>;`;
  }

  opening(): Wgsl {
    return this.hardware ? wgsl`` : wgsl`let sg = lid / 32u;
  let lane = lid % 32u;
  let fr_row = lane / 2u;
  let fr_col = (lane % 2u) * 8u;`;
  }

  private name(acc: string, i: number, j: number) { return `${acc}_${i}_${j}`; }

  /** Declares fm x fn zeroed result fragments `<acc>_<i>_<j>`. */
  declare(acc: string, fm: number, fn: number): Wgsl {
    return joinWgsl(this.names(acc, fm, fn).map((n) => wgsl`var ${n} = ${this.zeroValue};`), '\n  ');
  }

  /** Resets the fragments to zero. */
  zero(acc: string, fm: number, fn: number): Wgsl {
    return joinWgsl(this.names(acc, fm, fn).map((n) => wgsl`${n} = ${this.zeroValue};`), ' ');
  }

  /** The names of fragments (i, j) of an fm x fn block, rows first. */
  private names(acc: string, fm: number, fn: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) out.push(this.name(acc, i, j));
    return out;
  }

  /** A zeroed result fragment. */
  private get zeroValue(): Wgsl {
    return this.hardware ? wgsl`subgroup_matrix_result<f32, 16, 16>()` : wgsl`array<f32, 8>()`;
  }

  /** One 16-deep product step: acc[i][j] += left(i) right(j) for the fragments where `keep(i, j)`
   * (a WGSL bool, subgroup-uniform) holds or is absent. `names` gives the result fragment of
   * (i, j) where it is not `<acc>_<i>_<j>` (products of separately declared accumulators that
   * share their operand fragments). */
  mma(acc: string, fm: number, fn: number, left: (i: number) => FragSource, right: (j: number) => FragSource,
    keep?: (i: number, j: number) => string | undefined, names?: (i: number, j: number) => string): Wgsl {
    const name = (i: number, j: number) => (names ? names(i, j) : this.name(acc, i, j));
    const pairs: [number, number][] = [];
    for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) pairs.push([i, j]);
    const guard = (i: number, j: number, stmt: Wgsl) => {
      const k = keep?.(i, j);
      return k ? wgsl`if (${k}) { ${stmt} }` : stmt;
    };
    if (this.hardware) {
      const ld = (kind: 'left' | 'right', s: FragSource) =>
        wgsl`subgroupMatrixLoad<subgroup_matrix_${kind}<f16, 16, 16>>(&${s.arr}, ${s.offset}, ${s.colMajor ? 'true' : 'false'}, ${u(s.stride)})`;
      const lines: Wgsl[] = [];
      for (let i = 0; i < fm; i++) lines.push(wgsl`let fl${i} = ${ld('left', left(i))};`);
      for (let j = 0; j < fn; j++) lines.push(wgsl`let fr${j} = ${ld('right', right(j))};`);
      for (const [i, j] of pairs) {
        const n = name(i, j);
        lines.push(guard(i, j, wgsl`${n} = subgroupMatrixMultiplyAccumulate(fl${i}, fr${j}, ${n});`));
      }
      return wgsl`{
      ${joinWgsl(lines, '\n      ')}
    }`;
    }
    // Portable: lane (fr_row, fr_col..fr_col+7) of each result fragment, reading the operands
    // from workgroup memory at the step (they are not written between the load and the use).
    const at = (s: FragSource, r: string, c: string) => (s.colMajor ? wgsl`${s.arr}[${s.offset} + (${c}) * ${u(s.stride)} + ${r}]` : wgsl`${s.arr}[${s.offset} + (${r}) * ${u(s.stride)} + ${c}]`);
    const lines: Wgsl[] = [];
    for (let i = 0; i < fm; i++) lines.push(wgsl`let fl${i} = f32(${at(left(i), 'fr_row', 'kq')});`);
    for (const [i, j] of pairs) {
      const n = name(i, j);
      lines.push(guard(i, j, wgsl`for (var e = 0u; e < 8u; e++) { ${n}[e] += fl${i} * f32(${at(right(j), 'kq', 'fr_col + e')}); }`));
    }
    return wgsl`for (var kq = 0u; kq < 16u; kq++) {
      ${joinWgsl(lines, '\n      ')}
    }`;
  }

  /** Stores fragment (i, j) of `acc` to an f32 array. */
  store(acc: string, i: number, j: number, t: FragTarget): Wgsl {
    const n = this.name(acc, i, j);
    if (this.hardware) return wgsl`subgroupMatrixStore(&${t.arr}, ${t.offset}, ${n}, false, ${u(t.stride)});`;
    return wgsl`for (var e = 0u; e < 8u; e++) { ${t.arr}[${t.offset} + fr_row * ${u(t.stride)} + fr_col + e] = ${n}[e]; }`;
  }

  /** Loads fragment (i, j) of `acc` from an f32 workgroup array. Not from storage: on the H200
   * (Dawn, driver 580.159, 2026-12-02) result fragments loaded from a storage buffer gave wrong
   * values where the same data through workgroup memory was right. */
  load(acc: string, i: number, j: number, t: FragTarget): Wgsl {
    const n = this.name(acc, i, j);
    if (this.hardware) return wgsl`${n} = subgroupMatrixLoad<subgroup_matrix_result<f32, 16, 16>>(&${t.arr}, ${t.offset}, false, ${u(t.stride)});`;
    return wgsl`for (var e = 0u; e < 8u; e++) { ${n}[e] = ${t.arr}[${t.offset} + fr_row * ${u(t.stride)} + fr_col + e]; }`;
  }

  /** Multiplies every element of fragment (i, j) by a subgroup-uniform f32. */
  scale(acc: string, i: number, j: number, factor: string): Wgsl {
    const n = this.name(acc, i, j);
    if (this.hardware) return wgsl`${n} = subgroupMatrixScalarMultiply(${n}, ${factor});`;
    return wgsl`for (var e = 0u; e < 8u; e++) { ${n}[e] *= ${factor}; }`;
  }
}

/** Per-subgroup f32 scratch the epilogues stage fragments through: 256 words per fragment a
 * pass holds, per subgroup. */
export const SCRATCH_WORDS = SUBGROUPS * FRAG * FRAG;
export const scratchWords = (perPass: number) => perPass * SCRATCH_WORDS;

interface ScratchPass {
  /** The f32 workgroup array holding the scratch, and the scratch's first word in it. */
  readonly scratch: string;
  readonly scratchBase: number;
  /** Fragments per pass (the scratch holds perPass * SCRATCH_WORDS words); default 1. Every
   * pass costs two barriers. */
  readonly perPass?: number;
  /** Whether this subgroup owns fragments (WGSL bool, subgroup-uniform). */
  readonly active: string;
  /** First row and column of the subgroup's fragment (i, j) (WGSL u32 expressions). */
  readonly row: (i: number) => string;
  readonly col: (j: number) => string;
}

export interface Epilogue extends ScratchPass {
  /** Statements for one element: `r`, `c` (its row and column), `value` and `slot` (the
   * element's number among the lane's, see laneWalk) in scope. */
  readonly body: string;
  /** An f32 expression (over r, c, value) written back into the fragment, which is then
   * reloaded: a per-element update of the accumulator (a row scaling, say). */
  readonly update?: string;
  /** Further accumulators of the same partition whose fragment (i, j) is staged beside the
   * first's, so that one body sees them all: as `value_<name>` (an element needing two products
   * is then written once, not read-modified-written twice). Each takes a scratch slot of its
   * own: the scratch holds perPass * (1 + alongside.length) fragments per subgroup. Not with
   * `update`. */
  readonly alongside?: readonly string[];
}

export interface Fill extends ScratchPass {
  /** The f32 value of element (r, c) (WGSL over r, c). */
  readonly value: string;
}

/** The subgroup's fragments in passes of at most perPass, each with the scratch offsets of its
 * `accs` slots (one per accumulator staged together, the first's is `at`). */
function passes(fm: number, fn: number, p: ScratchPass, accs = 1): { i: number; j: number; at: Wgsl; slots: Wgsl[] }[][] {
  const per = p.perPass ?? 1;
  const all: [number, number][] = [];
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) all.push([i, j]);
  const out: { i: number; j: number; at: Wgsl; slots: Wgsl[] }[][] = [];
  for (let k = 0; k < all.length; k += per) {
    out.push(all.slice(k, k + per).map(([i, j], q) => {
      const slots = Array.from({ length: accs }, (_, m) => wgsl`${p.scratchBase + (q * accs + m) * 256}u + sg * ${per * accs * 256}u`);
      return { i, j, at: slots[0]!, slots };
    }));
  }
  return out;
}

/** The loop over the 8 elements a lane holds of result fragment (i, j) of an fm x fn block, with
 * `r`, `c` (the element's row and column) and `slot` (its number among the lane's, 8 (i fn + j)
 * + 0..7, the same on both lowerings) in scope. On the hardware the lanes walk the fragment as
 * staged in the scratch (`el`, the element's index there, in scope); the portable lowering's
 * lane holds row fr_row, columns fr_col..fr_col+7 in place (`e`, the index in its array). */
export function laneElements(hardware: boolean, at: { row: (i: number) => string; col: (j: number) => string }, i: number, j: number, fn: number, body: string): Wgsl {
  const slot = (i * fn + j) * 8;
  return hardware ? wgsl`for (var x = 0u; x < 8u; x++) {
      let el = lane + 32u * x;
      let r = ${at.row(i)} + el / 16u;
      let c = ${at.col(j)} + el % 16u;
      let slot = ${slot}u + x;
      ${body}
    }` : wgsl`for (var e = 0u; e < 8u; e++) {
      let r = ${at.row(i)} + fr_row;
      let c = ${at.col(j)} + fr_col + e;
      let slot = ${slot}u + e;
      ${body}
    }`;
}

/** The lanes' walk over one fragment's 256 elements in the scratch (laneElements, hardware). */
const laneWalk = (p: ScratchPass, i: number, j: number, body: string, fn = 1) => laneElements(true, p, i, j, fn, body);

/** Statements for the subgroup's own fragments, one a line, run only where it owns some. */
const ifActive = (active: string, stmts: readonly Wgsl[]) => wgsl`if (${active}) {
    ${joinWgsl(stmts, '\n    ')}
  }`;

/** Loads a pass's fragments of `acc` back from the scratch. */
const reloadPass = (fr: Fragments, acc: string, scratch: string, pass: readonly { i: number; j: number; at: Wgsl }[]) =>
  pass.map(({ i, j, at }) => fr.load(acc, i, j, { arr: scratch, offset: at, stride: 16 }));

/** The portable lowering's lanes hold their own 8 elements of each fragment (row fr_row,
 * columns fr_col..fr_col+7), so an epilogue or fill touches them in place: no scratch and no
 * barrier but the one that publishes what the body wrote. */
function portableWalk(fm: number, fn: number, p: ScratchPass, acc: string, body: (n: string, i: number, j: number) => string): Wgsl {
  const parts: Wgsl[] = [];
  for (let i = 0; i < fm; i++) {
    for (let j = 0; j < fn; j++) {
      parts.push(laneElements(false, p, i, j, fn, body(`${acc}_${i}_${j}`, i, j)));
    }
  }
  return wgsl`${ifActive(p.active, parts)}
  workgroupBarrier();`;
}

/** The reverse of an epilogue: sets each of the subgroup's fm x fn result fragments from a
 * per-element expression, through the subgroup's scratch. */
export function emitFill(fr: Fragments, acc: string, fm: number, fn: number, f: Fill): Wgsl {
  if (!fr.hardware) return portableWalk(fm, fn, f, acc, (n) => wgsl`${n}[e] = ${f.value};`);
  return joinWgsl(passes(fm, fn, f).map((pass) => {
    const write = pass.map(({ i, j, at }) => laneWalk(f, i, j, wgsl`${f.scratch}[${at} + el] = ${f.value};`));
    return wgsl`${ifActive(f.active, write)}
  workgroupBarrier();
  ${ifActive(f.active, reloadPass(fr, acc, f.scratch, pass))}
  workgroupBarrier();`;
  }), '\n  ');
}

/** Runs `body` once per element of each of the subgroup's fm x fn result fragments: fragments
 * go through the subgroup's scratch, perPass at a time, where its 32 lanes take 8 elements of
 * each. Every subgroup runs the same sequence of barriers (the caller keeps fm, fn uniform). */
export function emitEpilogue(fr: Fragments, acc: string, fm: number, fn: number, e: Epilogue): Wgsl {
  const along = e.alongside ?? [];
  if (along.length && e.update) throw new Error('emitEpilogue: `alongside` and `update` do not combine');
  // One element: its value (where it lies: `value`), the alongside accumulators' (`valueOf`), the
  // body, and the update written back where the value came from.
  const element = (value: string, valueOf: (m: number) => string) => wgsl`let value = ${value};
      ${joinWgsl(along.map((a, m) => wgsl`let value_${a} = ${valueOf(m)};\n      `), '')}${e.body}${e.update ? wgsl`
      ${value} = ${e.update};` : ''}`;
  if (!fr.hardware) {
    return portableWalk(fm, fn, e, acc, (n, i, j) => element(wgsl`${n}[e]`, (m) => wgsl`${along[m]!}_${i}_${j}[e]`));
  }
  return joinWgsl(passes(fm, fn, e, 1 + along.length).map((pass) => {
    const stage = pass.flatMap(({ i, j, slots }) => [acc, ...along].map((a, m) => fr.store(a, i, j, { arr: e.scratch, offset: slots[m]!, stride: 16 })));
    const walk = pass.map(({ i, j, at, slots }) => laneWalk(e, i, j, element(wgsl`${e.scratch}[${at} + el]`, (m) => wgsl`${e.scratch}[${slots[m + 1]!} + el]`), fn));
    const reload = e.update ? wgsl`
  ${ifActive(e.active, reloadPass(fr, acc, e.scratch, pass))}
  workgroupBarrier();` : '';
    return wgsl`${ifActive(e.active, stage)}
  workgroupBarrier();
  ${ifActive(e.active, walk)}
  workgroupBarrier();${reload}`;
  }), '\n  ');
}

/** Stores the subgroup's fragments straight to an f32 array (no scratch, no barrier): for
 * tiles known to lie inside the array's rows and columns. */
export function emitDirectStores(fr: Fragments, acc: string, fm: number, fn: number, active: string,
  target: (i: number, j: number) => FragTarget): Wgsl {
  const lines: Wgsl[] = [];
  for (let i = 0; i < fm; i++) for (let j = 0; j < fn; j++) lines.push(fr.store(acc, i, j, target(i, j)));
  return ifActive(active, lines);
}
