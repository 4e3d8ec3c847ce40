// The `wgsl` tagged template for kernel bodies, with typed holes:
//
//   const gcs = ks.gcsFn();                     // WgslFn<4>: gcs(b, h, t, d)
//   const w = ks.buffer('w', 'read_write');     // WgslBuffer: binds w now, renders `b_w`
//   const { open, s } = ks.chunkStage();        // the entry point and the names it declares
//   wgsl`${open}
//     ${w}[${s.t0} + ${u32(3)}] = exp2(${gcs('b', 'h', s.t0, '0u')});
//   }`;
//
// A hole that would land in the WGSL as `undefined`, `null`, `NaN`, `Infinity`, `true`/`false`,
// `[object Object]`, an array's commas or a function's source throws an internal error naming the
// hole and the text before it; a function hole is a call with its arity checked (by the type, and
// at run time); a scope (Scope<'rows' | ...>) says which names a stage declared, so `s.rwos` is a
// type error. Every value is still a string at run time (Wgsl is a branded string), so the
// template renders byte for byte what the plain template string rendered, and the helpers that
// take or return strings keep working unchanged.
import { wgslFloat } from './wgsl-expr.js';

declare const WGSL: unique symbol;
declare const BUFFER: unique symbol;

/** WGSL text built by `wgsl` (or vouched for by `rawWgsl`); a plain string at run time. */
export type Wgsl = string & { readonly [WGSL]: true };

/** A bound storage buffer's WGSL name (KernelSource.buffer binds it when it is created). */
export type WgslBuffer = Wgsl & { readonly [BUFFER]: true };

/** What a WGSL function takes: WGSL expressions (text or integers, checked as holes are). */
export type WgslArg = string | number;

export type Arity = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
type Args<N extends Arity, A extends WgslArg[] = []> = A['length'] extends N ? A : Args<N, [...A, WgslArg]>;

const FN = Symbol('wgslFn');

/** A WGSL function of N arguments: calling it renders `name(a, b, ...)` and checks the count. It
 * cannot be a hole itself (that would bypass the check); `ref` is its bare name. */
export interface WgslFn<N extends Arity = Arity> {
  (...args: Args<N>): Wgsl;
  readonly [FN]: { readonly name: string; readonly arity: N };
  /** The bare name, for WGSL that names the function without calling it. */
  readonly ref: Wgsl;
}

export class WgslHoleError extends Error {
  override readonly name = 'WgslHoleError';
}

/** Vouches for text made without the tag (a helper that still returns a string, a fixed
 * snippet). */
export const rawWgsl = (text: string): Wgsl => text as Wgsl;

/** `onCall`, if given, runs at each call before it renders (a helper declared only where it is
 * called). */
export function wgslFn<N extends Arity>(name: string, arity: N, onCall?: () => void): WgslFn<N> {
  if (!/^[A-Za-z_]\w*$/.test(name)) throw new WgslHoleError(`internal: '${name}' is not a WGSL function name`);
  const call = (...args: WgslArg[]): Wgsl => {
    onCall?.();
    if (args.length !== arity) {
      throw new WgslHoleError(`internal: WGSL function ${name} takes ${arity} argument${arity === 1 ? '' : 's'}, called with ${args.length}: ${name}(${args.map(String).join(', ')})`);
    }
    const parts = args.map((a, i) => render(a, () => `argument ${i + 1} of ${name}(...)`));
    return `${name}(${parts.join(', ')})` as Wgsl;
  };
  return Object.assign(call, { [FN]: { name, arity }, ref: name as Wgsl }) as unknown as WgslFn<N>;
}

export const isWgslFn = (x: unknown): x is WgslFn => typeof x === 'function' && FN in x;

/** A u32 literal: `${n}u`, n an integer in [0, 2^32). */
export function u32(n: number): Wgsl {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new WgslHoleError(`internal: ${n} is not a u32`);
  return `${n}u` as Wgsl;
}

/** An f32 literal as the spec's constants render (wgslFloat: `1.0`, `(-0.5)`). */
export const f32 = (x: number): Wgsl => wgslFloat(x) as Wgsl;

/** What a `wgsl` hole may be. Numbers must be finite integers (written as today: `${n}u` is the
 * hole followed by a literal u; u32(n) says so in the hole). */
export type Hole = string | number;

function describe(x: unknown): string | null {
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'boolean') return `the boolean ${x}`;
  if (typeof x === 'number') {
    if (Number.isNaN(x)) return 'NaN';
    if (!Number.isFinite(x)) return `the non-finite number ${x}`;
    if (!Number.isInteger(x)) return `the non-integer ${x} (write it with f32())`;
    return null;
  }
  if (typeof x === 'string') return null;
  if (isWgslFn(x)) return `the function ${x[FN].name} uncalled (call it with its ${x[FN].arity} arguments, or use .ref)`;
  if (typeof x === 'function') return `a function (${x.name || 'anonymous'})`;
  if (Array.isArray(x)) return `an array of ${x.length} (join it)`;
  return `${typeof x === 'object' ? 'an object' : `a ${typeof x}`} (${Object.prototype.toString.call(x)})`;
}

function render(x: unknown, where: () => string): string {
  const bad = describe(x);
  if (bad) throw new WgslHoleError(`internal: WGSL ${where()} is ${bad}`);
  return String(x);
}

/** The text before hole i, its last line or so, whitespace collapsed. */
function before(strings: TemplateStringsArray, values: readonly unknown[], i: number): string {
  let text = '';
  for (let j = 0; j <= i; j++) text += strings[j] + (j < i ? String(values[j]) : '');
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > 60 ? `...${flat.slice(-60)}` : flat;
}

/** The tag: renders the template as today's template string would, once every hole checks. */
export function wgsl(strings: TemplateStringsArray, ...values: Hole[]): Wgsl {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) {
    out += render(values[i], () => `hole ${i + 1} of ${values.length} (after \`${before(strings, values, i)}\`)`);
    out += strings[i + 1]!;
  }
  return out as Wgsl;
}

/** The product of the factors that are not null, `a * b * c` (a factor of exactly 1 is given as
 * null and so folded at generation time, not left to the WGSL compiler); 1.0 if none is left.
 * The factors are joined as they are: a sum among them must come parenthesized. */
export function times(...factors: readonly (Hole | null)[]): Wgsl {
  const kept = factors.filter((f): f is Hole => f !== null);
  return kept.length ? joinWgsl(kept, ' * ') : ('1.0' as Wgsl);
}

/** Joins WGSL pieces. */
export const joinWgsl = (parts: readonly Hole[], sep: string): Wgsl =>
  parts.map((p, i) => render(p, () => `piece ${i + 1} of ${parts.length}`)).join(sep) as Wgsl;

/** The names a stage's opening declares, each rendering as itself: `s.rows` is `rows`, and a
 * name the stage does not declare is a type error. */
export type Scope<N extends string> = { readonly [K in N]: Wgsl };

/** A stage's opening text and its scope. */
export interface Stage<N extends string> {
  readonly open: Wgsl;
  readonly s: Scope<N>;
}

export function scope<const N extends string>(names: readonly N[]): Scope<N> {
  const out: Record<string, Wgsl> = {};
  for (const n of names) {
    if (!/^[A-Za-z_]\w*$/.test(n)) throw new WgslHoleError(`internal: '${n}' is not a WGSL name`);
    out[n] = rawWgsl(n);
  }
  return Object.freeze(out) as Scope<N>;
}

/** A scope with more names (a kernel's own lets after the opening). */
export const extendScope = <N extends string, const M extends string>(s: Scope<N>, names: readonly M[]): Scope<N | M> =>
  Object.freeze({ ...s, ...scope(names) }) as Scope<N | M>;
