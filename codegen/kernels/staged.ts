// Staging global data into workgroup memory with fixed-count, branch-free loads: each thread
// first loads its ceil(count / WG) elements into registers at clamped (always valid) indices,
// then stores them, masked, into workgroup memory. With a constant trip count and no branch
// around the loads, all of a thread's loads are in flight together: one memory latency per
// stage instead of one per element (measured 2-3x on the H100's delta-rule scan). The loop
// counter is `stg`, so index variables may be named anything else (r, i, t, ...).
import { joinWgsl, rawWgsl, wgsl, type Wgsl } from '../wgsl.js';

export interface StagedLoad {
  /** WGSL const-expression: how many elements the workgroup stages. */
  readonly count: string;
  /** Statements deriving clamped index variables from `e` (in [0, count)). */
  readonly index: string;
  /** Values to load, as WGSL expressions over the index variables. */
  readonly loads: readonly { readonly name: string; readonly expr: string }[];
  /** Statements deriving store-side variables from `e`, then storing `<name>` values (already
   * masked by `valid`, a WGSL bool over those variables). */
  readonly storeIndex: string;
  readonly valid: string;
  readonly store: (value: (name: string) => string) => string;
  /** Emit the staging slots unrolled (named registers, no private array) for a workgroup of
   * `wg` threads; `count` must then be a constant over C (the chunk). See Unroll. */
  readonly unroll?: Unroll;
}

/** The tuning knob unrollStaging: a private array indexed in a loop stays in registers only if
 * the driver unrolls the loop; written out per slot it needs no unrolling. `chunk` resolves C in
 * the count. */
export interface Unroll { readonly wg: number; readonly chunk: number }

/** The count's value, where it is a product of integers and C (e.g. 'C * 128u'), else null. */
function constantCount(count: string, chunk: number): number | null {
  let v = 1;
  for (const f of count.replace(/[()]/g, '').split('*').map((x) => x.trim())) {
    if (f === 'C') v *= chunk;
    else if (/^\d+u?$/.test(f)) v *= Number(f.replace('u', ''));
    else return null;
  }
  return v;
}

/** The unrolled form of emitStagedLoad(4): slot k's value in its own variable. */
function stagedUnrolled(s: StagedLoad, n: number, groups: number, four: boolean): Wgsl {
  const t = four ? 'vec4<f32>' : 'f32';
  const zero = four ? 'vec4<f32>(0.0)' : '0.0';
  const decl: Wgsl[] = [];
  const loads: Wgsl[] = [];
  const stores: Wgsl[] = [];
  for (let k = 0; k < n; k++) {
    decl.push(...s.loads.map((l) => wgsl`var ${l.name}_v${k}: ${t};`));
    const slot = wgsl`min(lid + ${k}u * WG, ${groups - 1}u)`;
    loads.push(wgsl`{
        let e = ${four ? wgsl`${slot} * 4u` : slot};
        ${s.index}
        ${joinWgsl(s.loads.map((l) => wgsl`${l.name}_v${k} = ${l.expr};`), '\n        ')}
      }`);
    const at = wgsl`lid + ${k}u * WG`;
    // Whether slot k lies inside the block for every thread; else its stores are guarded.
    const inside = k * s.unroll!.wg + s.unroll!.wg <= groups;
    stores.push(wgsl`${inside ? '' : wgsl`if (${at} < ${groups}u) `}{
        let e = ${four ? wgsl`(${at}) * 4u` : at};
        ${s.storeIndex}
        let valid = ${s.valid};
        ${s.store((name) => wgsl`select(${zero}, ${name}_v${k}, valid)`)}
      }`);
  }
  return wgsl`{
      ${joinWgsl(decl, ' ')}
      ${joinWgsl(loads, '\n      ')}
      ${joinWgsl(stores, '\n      ')}
    }`;
}

/** The looped form's three parts: the register arrays (`<name>_v`), the loop of loads into them
 * and the loop of masked stores from them; `four`: vec4 words, `e` the first element's index. */
function stagedParts(s: StagedLoad, four: boolean): { decl: Wgsl; load: Wgsl; store: Wgsl } {
  const groups = four ? wgsl`((${s.count}) / 4u)` : wgsl`(${s.count})`;
  const n = four ? wgsl`(${groups} + WG - 1u) / WG` : wgsl`((${s.count}) + WG - 1u) / WG`;
  const t = four ? 'vec4<f32>' : 'f32';
  // The slot's first element `e`: clamped to the block for the loads; for the stores, the test
  // that it lies inside (the rest of that block follows).
  const first = four ? wgsl`min(lid + stg * WG, ${groups} - 1u) * 4u` : wgsl`min(lid + stg * WG, (${s.count}) - 1u)`;
  const guard = four ? wgsl`let e4 = lid + stg * WG;
        if (e4 < ${groups}) {
          let e = e4 * 4u;` : wgsl`let e = lid + stg * WG;
        if (e < (${s.count})) {`;
  return {
    decl: joinWgsl(s.loads.map((l) => wgsl`var ${l.name}_v: array<${t}, ${n}>;`), ' '),
    load: wgsl`for (var stg = 0u; stg < ${n}; stg++) {
        let e = ${first};
        ${s.index}
        ${joinWgsl(s.loads.map((l) => wgsl`${l.name}_v[stg] = ${l.expr};`), '\n        ')}
      }`,
    store: wgsl`for (var stg = 0u; stg < ${n}; stg++) {
        ${guard}
          ${s.storeIndex}
          let valid = ${s.valid};
          ${s.store((name) => wgsl`select(${four ? 'vec4<f32>(0.0)' : '0.0'}, ${name}_v[stg], valid)`)}
        }
      }`,
  };
}

/** The looped form whole, or the unrolled one where asked and the count is constant. */
function emitStaged(s: StagedLoad, four: boolean): Wgsl {
  const total = s.unroll ? constantCount(s.count, s.unroll.chunk) : null;
  if (s.unroll && total !== null) {
    const groups = four ? total / 4 : total;
    return stagedUnrolled(s, Math.ceil(groups / s.unroll.wg), groups, four);
  }
  const { decl, load, store } = stagedParts(s, four);
  return wgsl`{
      ${decl}
      ${load}
      ${store}
    }`;
}

export const emitStagedLoad = (s: StagedLoad): Wgsl => emitStaged(s, false);

/** The four-wide form: each thread loads vec4 words (4 consecutive elements along the staged
 * block's contiguous axis, `e` their first element's index, a multiple of 4), then stores their
 * lanes. `valid` holds for all four or none (the axis' extent is a multiple of 4). */
export const emitStagedLoad4 = (s: StagedLoad): Wgsl => emitStaged(s, true);

/** Statements storing the four lanes of a vec4 `v` as f16 at arr[at .. at + 3]. */
export const storeF16x4 = (arr: string, at: string, v: string) =>
  wgsl`{ let hv = vec4<f16>(${v}); ${arr}[${at}] = hv.x; ${arr}[${at} + 1u] = hv.y; ${arr}[${at} + 2u] = hv.z; ${arr}[${at} + 3u] = hv.w; }`;

export interface F16Block {
  /** Elements staged (a multiple of 4 when `wide` is given). */
  readonly count: string;
  /** Index statements from `e`; `last` is the largest start of a run along the contiguous axis
   * ('KD - 1u' one element at a time, 'KD - 4u' four), for clamping. */
  readonly index: (four: boolean) => string;
  /** The f32 value at the indices, and its vec4 form over 4 consecutive elements, if any. */
  readonly value: string;
  readonly wide: string | null;
  readonly storeIndex?: string;
  readonly valid: string;
  /** Workgroup f16 array and the word of element e = 0. */
  readonly arr: string;
  readonly at: (e: string) => string;
  /** For the right operand of a lower-triangular product (A V, T X): fragments cannot skip a
   * masked term, and 0 * NaN would carry a later row's NaN or Inf to earlier rows. A value not
   * finite in f16 is staged as 0 instead, and its row (`row`, over `e`) is kept in the thread's
   * private `firstBad` (see declareFirstBad); emitCausalFixup later writes NaN from that row on.
   * No workgroup atomics: a thread's staging slots keep their columns across row slabs, so each
   * thread owns what it records. `perRow` is the block's elements per row and `wg` the
   * workgroup size: when a row's elements (or vec4 words) divide the workgroup, every slot of a
   * thread has the same columns and one value (vec4 value) per thread is kept, not one per slot.
   * `reverse`: for the transposed products of the backward (L^T R with L lower triangular: a
   * row r of R reaches the output's rows up to r), the end of the rows it reaches is kept
   * instead, one past the last bad row (0: none), and the fixup writes NaN to the rows before. */
  readonly causal?: { readonly firstBad: string; readonly row: string; readonly perRow: number; readonly wg: number; readonly reverse?: true };
  /** Unrolled staging slots (the tuning knob unrollStaging); not with `causal`. */
  readonly unroll?: Unroll;
  /** A private bool of the thread (`flag`, declared by nonFiniteGather's init) ORed with
   * whether the thread stages a value not finite in f16, which is staged as it is ('as-is': the
   * product then takes an exact path instead, tc-bwd-wy.ts) or as 0 ('zero': a fixup afterwards
   * writes what the f32 sums give, wyM). Not with `causal`. */
  readonly nonFiniteFlag?: { readonly flag: string; readonly staged: 'as-is' | 'zero' };
}

/** Staging slots per thread of a block: its loop trip count. */
function slots(b: F16Block): Wgsl {
  return b.wide ? wgsl`((${b.count}) / 4u + WG - 1u) / WG` : wgsl`((${b.count}) + WG - 1u) / WG`;
}

/** Whether every staging slot of a thread covers the same columns (see F16Block.causal). */
function sameColumns(b: F16Block): boolean {
  const c = b.causal!;
  return b.wide ? (4 * c.wg) % c.perRow === 0 : c.wg % c.perRow === 0;
}

/** Bits past f16's largest finite value (65504), NaN and Inf included: the test by bits, which
 * no fast-math compiler folds away. */
const NOT_FINITE_F16 = '0x477fe000u';
/** `lae_f16_finite(x)`: whether x is finite in f16 (the same test by bits), for kernels that
 * test values themselves (tc-bwd-gram.ts's wyM). */
export const F16_FINITE_WGSL = `fn lae_f16_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) <= ${NOT_FINITE_F16}; }`;

/** Declares `causal.firstBad` for block b, at "no bad row": 0xffffffff, or 0 for `reverse`. */
export function declareFirstBad(b: F16Block): Wgsl {
  const c = b.causal!;
  const t = b.wide ? 'vec4<u32>' : 'u32';
  const none = c.reverse ? '0u' : '0xffffffffu';
  if (sameColumns(b)) return wgsl`var ${c.firstBad} = ${t}(${none});`;
  return wgsl`var ${c.firstBad}: array<${t}, ${slots(b)}>;
  for (var stg = 0u; stg < ${slots(b)}; stg++) { ${c.firstBad}[stg] = ${t}(${none}); }`;
}

/** The thread's record for the current staging slot `stg`. */
const firstBadAt = (b: F16Block) => (sameColumns(b) ? b.causal!.firstBad : wgsl`${b.causal!.firstBad}[stg]`);

/** After the product's results are stored (a storageBarrier() before it): for every slot whose
 * column saw a value that was not finite, `write(r, col)` sets rows r in [first bad, rows) of
 * that column (col from \`e\` by \`col\`) to NaN, or with `reverse` the rows in [0, last bad].
 * Rows are chunk-relative; `lae_nan()` is a NaN. */
export function emitCausalFixup(b: F16Block, rows: string, col: (e: string) => string, write: (r: string, col: string) => string): Wgsl {
  const fb = firstBadAt(b);
  const n = sameColumns(b) ? '1u' : slots(b);
  const walk = b.causal!.reverse
    ? (end: string, cexpr: string) => wgsl`for (var r = 0u; r < min(${end}, ${rows}); r++) { ${write('r', cexpr)} }`
    : (first: string, cexpr: string) => wgsl`for (var r = ${first}; r < ${rows}; r++) { ${write('r', cexpr)} }`;
  return b.wide ? wgsl`for (var stg = 0u; stg < ${n}; stg++) {
    let e = (lid + stg * WG) * 4u;
    if (e < (${b.count})) {
      for (var q = 0u; q < 4u; q++) { let colq = ${col('e')} + q; ${walk(wgsl`${fb}[q]`, 'colq')} }
    }
  }` : wgsl`for (var stg = 0u; stg < ${n}; stg++) {
    let e = lid + stg * WG;
    if (e < (${b.count})) { let col0 = ${col('e')}; ${walk(fb, 'col0')} }
  }`;
}

/** A NaN made at run time (WGSL's constant evaluation refuses NaN constants). */
export const NAN_WGSL = 'fn lae_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }';

/** Block b as a staged load into registers `<reg>_v`; a causal block's stores also record and
 * zero what is not finite in f16 (F16Block.causal). */
function stagedOf(b: F16Block, reg: string): StagedLoad {
  const c = b.causal;
  // Whether the staged value xv (each lane of it) is not finite in f16, and value x stored as f16
  // at element e.
  const notFinite = b.wide
    ? wgsl`(bitcast<vec4<u32>>(xv) & vec4<u32>(0x7fffffffu)) > vec4<u32>(${NOT_FINITE_F16})`
    : wgsl`(bitcast<u32>(xv) & 0x7fffffffu) > ${NOT_FINITE_F16}`;
  const put = (x: string) => (b.wide ? storeF16x4(b.arr, b.at('e'), x) : wgsl`${b.arr}[${b.at('e')}] = f16(${x});`);
  return {
    count: b.count, index: b.index(b.wide !== null), loads: [{ name: reg, expr: b.wide ?? b.value }], storeIndex: b.storeIndex ?? '', valid: b.valid,
    ...(b.unroll && !c ? { unroll: b.unroll } : {}),
    store: (v) => {
      const nf = b.nonFiniteFlag;
      if (nf && !c) {
        if (nf.staged === 'as-is') {
          return wgsl`{
          let xv = ${v(reg)};
          ${nf.flag} = ${nf.flag} || ${b.wide ? wgsl`any(${notFinite})` : notFinite};
          ${put('xv')}
        }`;
        }
        return wgsl`{
          let xv = ${v(reg)};
          let bad = ${notFinite};
          ${nf.flag} = ${nf.flag} || ${b.wide ? 'any(bad)' : 'bad'};
          ${put(b.wide ? 'select(xv, vec4<f32>(0.0), bad)' : 'select(xv, 0.0, bad)')}
        }`;
      }
      if (!c) return put(v(reg));
      const fb = firstBadAt(b);
      const row = b.wide ? wgsl`vec4<u32>(${c.row})` : c.row;
      return wgsl`{
          let xv = ${v(reg)};
          let bad = ${notFinite};
          ${c.reverse ? wgsl`${fb} = select(${fb}, max(${fb}, ${row} + 1u), bad);` : wgsl`${fb} = select(${fb}, min(${fb}, ${row}), bad);`}
          ${put(b.wide ? 'select(xv, vec4<f32>(0.0), bad)' : 'select(xv, 0.0, bad)')}
        }`;
    },
  };
}

/** Stages a block of f16 operands into workgroup memory, vec4 loads where the value has a
 * four-wide form. */
export const emitF16Block = (b: F16Block): Wgsl => emitStaged(stagedOf(b, 'x'), b.wide !== null);

/** emitF16Block taken apart for software pipelining (prefetch.ts): the loads into the thread's
 * registers `<name>_v` (declared by `decl`, outside the walk) and, later, the stores from them
 * into workgroup memory, for a block whose index statements hold at both points. Looped (the
 * registers live across the walk's step), not `causal`. */
export function splitF16Block(b: F16Block, name: string): { decl: Wgsl; load: Wgsl; store: Wgsl } {
  if (b.causal) throw new Error('splitF16Block: a causal block is staged whole (emitF16Block)');
  return stagedParts(stagedOf(b, name), b.wide !== null);
}

/** Whether any thread of the workgroup staged a value not finite in f16 (F16Block.nonFiniteFlag
 * with `flag` = `${name}_bad`): each thread ORs its private flag while staging, stores it once,
 * unconditionally, after its staging (`publish`), and thread 0 gathers the words after the
 * products' barrier for a uniform load (`branch`: `ifAny`, else `otherwise`). The arrays are
 * whole multiples of 16 bytes (codegen/check.ts, workgroupBytes): a one-word flag shifted the
 * f16 tile after it off the alignment the fragment loads need, on the H200. `bytes` is what
 * `decl` adds to the workgroup (with `wg` threads). */
export function nonFiniteGather(name: string) {
  const [flag, of, any] = [`${name}_bad`, `${name}_bad_of`, `${name}_any`];
  return {
    flag,
    decl: rawWgsl(`var<workgroup> ${of}: array<u32, WG>;\nvar<workgroup> ${any}: array<u32, 4>;`),
    bytes: (wg: number) => 4 * wg + 16,
    init: rawWgsl(`var ${flag} = false;`),
    publish: rawWgsl(`${of}[lid] = select(0u, 1u, ${flag});`),
    branch: (ifAny: string, otherwise?: string) => wgsl`if (lid == 0u) {
    var any_bad = 0u;
    for (var i = 0u; i < WG; i++) { any_bad |= ${of}[i]; }
    ${any}[0] = any_bad;
  }
  if (workgroupUniformLoad(&${any}[0]) != 0u) {
    ${ifAny}
  }${otherwise === undefined ? '' : wgsl` else {
  ${otherwise}
  }`}`,
  };
}
