// The `wgsl` tagged template (codegen/wgsl.ts), without a device: it renders what a plain
// template string renders, rejects holes that would land in the WGSL as garbage, checks function
// holes' arity, and KernelSource's typed accessors render what the string ones do.
import { describe, expect, it } from 'vitest';
import { extendScope, f32, joinWgsl, rawWgsl, scope, times, u32, wgsl, wgslFn, WgslHoleError, type Hole } from '../codegen/wgsl.js';
import { KernelSource } from '../codegen/kernels/common.js';
import { bwdFns } from '../codegen/kernels/bwd-common.js';
import { emitContraction } from '../codegen/kernels/bwd-contraction.js';
import { emitChunkMatmul } from '../codegen/kernels/chunk-matmul.js';
import { chooseTiles, type CodegenConfig } from '../codegen/plan.js';
import { VARIANTS } from '../variants/index.js';

/** Calls the tag with values the types would reject, as an untyped caller could. */
const tagged = (strings: string[], ...values: unknown[]) =>
  wgsl(Object.assign([...strings], { raw: strings }) as unknown as TemplateStringsArray, ...(values as Hole[]));

describe('wgsl template', () => {
  it('renders exactly what the template string renders', () => {
    const n = 256;
    const name = 'wf';
    expect(wgsl`${name}[${n}u + e] = ${-3};\n  x`).toBe(`${name}[${n}u + e] = ${-3};\n  x`);
    expect(wgsl`${''}${0}`).toBe('0');
    expect(wgsl`a${u32(7)}`).toBe('a7u');
    expect(wgsl`${f32(1)} ${f32(-0.5)} ${f32(1e-7)}`).toBe('1.0 (-0.5) 1e-7');
    expect(joinWgsl(['a', 1, 'b'], '\n  ')).toBe('a\n  1\n  b');
  });

  it('times() leaves out the null factors (exactly 1)', () => {
    expect(times('bi', null, 'x2')).toBe('bi * x2');
    expect(times(wgsl`exp2(${'gi'})`, 'x2')).toBe('exp2(gi) * x2');
    expect(times(null)).toBe('1.0');
  });

  it.each([
    ['undefined', undefined, /hole 2 of 2 \(after `let t = t0 \+ 3u; let x = `\) is undefined/],
    ['null', null, /is null/],
    ['NaN', NaN, /is NaN/],
    ['Infinity', Infinity, /non-finite number Infinity/],
    ['a boolean', false, /the boolean false/],
    ['a non-integer', 0.5, /non-integer 0.5 \(write it with f32\(\)\)/],
    ['a plain object', { a: 1 }, /an object \(\[object Object\]\)/],
    ['an array', ['a', 'b'], /an array of 2 \(join it\)/],
    ['a plain function', (x: string) => x, /a function/],
    ['a function hole left uncalled', wgslFn('gcs', 4), /the function gcs uncalled \(call it with its 4 arguments/],
  ])('throws on %s, naming the hole and the text before it', (_what, bad, message) => {
    expect(() => tagged(['let t = t0 + ', 'u; let x = ', ';'], 3, bad)).toThrow(WgslHoleError);
    expect(() => tagged(['let t = t0 + ', 'u; let x = ', ';'], 3, bad)).toThrow(message);
  });

  it('long text before a hole is cut to its end', () => {
    const long = 'x'.repeat(100);
    expect(() => tagged([`${long}\n   tail = `, ''], undefined)).toThrow(/after `\.\.\.x+ tail = `\) is undefined/);
  });

  it('function holes render calls and check their arity', () => {
    const gcs = wgslFn('gcs', 4);
    expect(gcs('b', 'h', 't0 + r', 0)).toBe('gcs(b, h, t0 + r, 0)');
    expect(wgsl`exp2(${gcs('b', 'h', 't', 'd')})`).toBe('exp2(gcs(b, h, t, d))');
    expect(gcs.ref).toBe('gcs');
    // @ts-expect-error: gcs takes four arguments
    expect(() => gcs('b', 'h', 't')).toThrow(/gcs takes 4 arguments, called with 3/);
    // @ts-expect-error: an argument that is no WGSL expression
    expect(() => gcs('b', 'h', 't', undefined)).toThrow(/argument 4 of gcs\(\.\.\.\) is undefined/);
    expect(wgslFn('lae_nan', 0)()).toBe('lae_nan()');
    expect(() => wgslFn('not a name', 1)).toThrow(WgslHoleError);
  });

  it('holes of the wrong type do not type-check', () => {
    const f = wgslFn('f', 1);
    // @ts-expect-error: a function hole must be called
    expect(() => wgsl`${f}`).toThrow();
    // @ts-expect-error: undefined is no hole
    expect(() => wgsl`${undefined}`).toThrow();
    // @ts-expect-error: nor is a boolean
    expect(() => wgsl`${1 > 2}`).toThrow();
  });

  it('scopes name what a stage declares', () => {
    const s = extendScope(scope(['rows', 't0']), ['vt']);
    expect(wgsl`${s.t0} + min(r, ${s.rows} - 1u) ${s.vt}`).toBe('t0 + min(r, rows - 1u) vt');
    // @ts-expect-error: a name the stage does not declare
    expect(s.rwos).toBeUndefined();
    expect(rawWgsl('x')).toBe('x');
    expect(() => u32(-1)).toThrow(/not a u32/);
    expect(() => u32(1.5)).toThrow(/not a u32/);
  });
});

describe('KernelSource typed accessors', () => {
  const make = (cfg: Partial<CodegenConfig> = {}) => {
    const full = { K: 64, V: 32, chunk: 32, ...cfg } as CodegenConfig;
    return new KernelSource(VARIANTS.gla, full, chooseTiles(full, VARIANTS.gla), 'output', 128);
  };

  it('render what the string accessors render, binding as they do', () => {
    const a = make();
    const b = make();
    expect(a.roleFn('k')('b', 't', 'h', 'd')).toBe(`${b.role('k')}(b, t, h, d)`);
    expect(a.gcsFn()('b', 'h', 't', '0u')).toBe(`${b.gcs()}(b, h, t, 0u)`);
    expect(a.gqFn()('b', 'h', 't', 't0', 'd')).toBe(`${b.gq()}(b, h, t, t0, d)`);
    expect(a.use('o', 'read_write')).toBe(b.use('o', 'read_write'));
    expect(a.bindings).toEqual(b.bindings);
    expect(a.finish('x', {}, 'fn main() {}')).toBe(b.finish('x', {}, 'fn main() {}'));
  });

  it('stage openings carry the names they declare', () => {
    for (const varlen of [{}, { varlen: true as const }]) {
      const ks = make(varlen);
      const { open, s } = ks.chunkStage(', @builtin(subgroup_id) sg: u32');
      expect(open).toBe(make(varlen).chunkMain(', @builtin(subgroup_id) sg: u32'));
      for (const name of Object.values(s)) expect(open).toMatch(new RegExp(`\\b${name}\\b`));
      const seq = ks.sequenceStage();
      expect(seq.open).toBe(make(varlen).sequenceMain());
      for (const name of Object.values(seq.s)) expect(seq.open).toMatch(new RegExp(`\\b${name}\\b`));
      expect(s.rows).toBe('rows');
    }
  });

  it('chunkTileStage opens as chunkTileMain, with the tile and thread names', () => {
    for (const varlen of [{}, { varlen: true as const }]) {
      const ks = make(varlen);
      const { open, s } = ks.chunkTileStage('xt');
      expect(open).toBe(make(varlen).chunkTileMain('xt'));
      for (const name of Object.values(s)) expect(open).toMatch(new RegExp(`\\b${name}\\b`));
      expect(s.xt).toBe('xt');
      // @ts-expect-error: the tile is named xt here
      expect(s.vt).toBeUndefined();
    }
  });
});

describe('the backward helpers as function holes', () => {
  const make = (def = VARIANTS.gla, extra: Partial<CodegenConfig> = {}) => {
    const cfg = { K: 64, V: 32, chunk: 32, ...extra } as CodegenConfig;
    return new KernelSource(def, cfg, chooseTiles(cfg, def), 'wyDk', 128);
  };

  it('render their calls and declare their functions, arity checked', () => {
    for (const def of [VARIANTS.gla, VARIANTS.delta_rule]) {
      const a = make(def);
      const f = bwdFns(a);
      expect(f.cc()('bh', 'n', 'i', 'j')).toBe('cc(bh, n, i, j)');
      expect(f.bth()('b', 't', 'h', 'x', 'KD')).toBe('bth(b, t, h, x, KD)');
      expect(f.g()('b', 'h', 't', 'd')).toBe('gate(b, h, t, d)');
      expect(f.gq()('b', 'h', 't', 't0', 'd')).toBe('gateq(b, h, t, t0, d)');
      expect(f.inter('dW', 'read', f.tok()('bh', 't', 'x', 'KD'))).toBe('b_dinter[dint(2u, tok(bh, t, x, KD))]');
      const module = a.finish('x', {}, 'fn main() {}');
      for (const fn of ['cc', 'bth', 'gate', 'gateq', 'tok', 'dint']) expect(module).toContain(`fn ${fn}(`);
      expect(a.bindings.map((x) => x.buffer)).toEqual(def.decay === 'none' ? ['dinter'] : ['gcum', 'dinter']);
      // Without decay the gate exponents are 0: pow2 folds their factor, and gate / gateq are
      // declared only where called.
      const lazy = make(def);
      const lf = bwdFns(lazy);
      const [gate, gateq] = [lf.g(), lf.gq()];
      expect(lf.pow2(() => gate('b', 'h', 't', 'd'))).toBe(def.decay === 'none' ? null : 'exp2(gate(b, h, t, d))');
      expect(lazy.finish('x', {}, '').includes('fn gate(')).toBe(def.decay !== 'none');
      gate('b', 'h', 't', 'd'); gateq('b', 'h', 't', 't0', 'd');
      expect(lazy.finish('x', {}, '')).toContain('fn gateq(');
      // @ts-expect-error: bth takes five arguments
      expect(() => f.bth()('b', 't', 'h', 'x')).toThrow(/bth takes 5 arguments, called with 4/);
    }
  });

  it('stage emitters make their pieces from the scope as from plain text', () => {
    for (const varlen of [{}, { varlen: true as const }]) {
      const [a, b, c, d] = [0, 1, 2, 3].map(() => make(VARIANTS.gla, varlen)) as [KernelSource, KernelSource, KernelSource, KernelSource];
      const plain = emitContraction(a, {
        cols: 'KD', accs: ['acc'], loops: [{ from: 'i', to: 'rows', body: `acc += ${a.use('w', 'read')}[(bh * C + r) * KD + x];` }],
        finish: `${a.use('out', 'read_write')}[t] = acc;`,
      });
      const scoped = emitContraction(b, (s) => ({
        cols: 'KD', accs: ['acc'], loops: [{ from: s.i, to: s.rows, body: wgsl`acc += ${b.use('w', 'read')}[(${s.bh} * C + ${s.r}) * KD + ${s.x}];` }],
        finish: wgsl`${b.use('out', 'read_write')}[${s.t}] = acc;`,
      }));
      expect(scoped).toBe(plain);
      // The pieces bind before the opening (the chunk table of packed sequences), as before.
      expect(b.bindings).toEqual(a.bindings);
      const m1 = emitChunkMatmul(c, { square: 'M(i, r)', right: 'R(t, x)', width: 'KD', store: `${c.use('o', 'read_write')}[t] = value;` }, 64);
      const m2 = emitChunkMatmul(d, (s) => ({ square: wgsl`M(${s.i}, ${s.r})`, right: wgsl`R(${s.t}, ${s.x})`, width: 'KD', store: wgsl`${d.use('o', 'read_write')}[${s.t}] = ${s.value};` }), 64);
      expect(m2).toBe(m1);
      expect(d.bindings).toEqual(c.bindings);
    }
  });
});
