// A spec's identity is its content (issue 10): engine.variant(obj) validates the object as
// defineVariant validates a spec and hashes what it validated, never trusting the name or hash
// the object carries, so a hand-edited copy of a built-in gets its own pipelines and results and
// the built-in stays right; an object that is no valid variant is refused at once.
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import { SpecError, type ExprNode, type VariantDef } from '../dsl/index.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { EngineError } from '../runtime/engine.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const TOL = 1e-4;
// K = 16, V = 8 at chunks of 16: the built-in's plans of FLA's first fixture case
// (test/backward.test.ts), compiled once per run.
const size = { B: 1, T: 24, H: 1, K: 16, V: 8 };
const opts = { ...size, chunkSize: 16 as const };

/** simple_gla with its log-decay doubled, made by hand from the built-in def (name and hash kept). */
function doubledSimpleGla(): VariantDef {
  const base = VARIANTS.simple_gla;
  const logDecay: ExprNode = { kind: 'binary', op: 'mul', a: { kind: 'const', value: 2 }, b: base.roles.logDecay! };
  return { ...base, roles: { ...base.roles, logDecay } };
}

describe('a spec is identified by its content', () => {
  it('a hand-edited copy of simple_gla gets its own pipelines and results; the built-in stays right', async () => {
    const engine = await getEngine();
    const x = sampleInputs(VARIANTS.simple_gla, size, 8, true);
    const { h0, ...rest } = x;
    // Both orders: the copy first, then the built-in, then the copy again.
    const copy = engine.variant(doubledSimpleGla());
    const builtin = engine.variant('simple_gla');
    expect(copy.def.hash).not.toBe(VARIANTS.simple_gla.hash);
    expect(copy.plan({ K: 16, V: 8, chunkSize: 16 }).key).not.toBe(builtin.plan({ K: 16, V: 8, chunkSize: 16 }).key);
    const wantCopy = referenceForward(copy.def, rest, size, { h0 }).o;
    const wantBuiltin = referenceForward(VARIANTS.simple_gla, rest, size, { h0 }).o;
    expect(relL2(wantCopy, wantBuiltin)).toBeGreaterThan(1e-2);
    expect(relL2((await copy.forward(x, opts)).o, wantCopy)).toBeLessThan(TOL);
    expect(relL2((await builtin.forward(x, opts)).o, wantBuiltin)).toBeLessThan(TOL);
    expect(relL2((await copy.forward(x, opts)).o, wantCopy)).toBeLessThan(TOL);
    // The built-in passed as an object is validated to the same content and hash.
    expect(engine.variant(VARIANTS.simple_gla).def.hash).toBe(VARIANTS.simple_gla.hash);
    // Defs are frozen: the built-in cannot be edited in place under its hash.
    expect(Object.isFrozen(VARIANTS.simple_gla.roles)).toBe(true);
  });
  it('an object that is not a valid variant is refused at once, naming the field', async () => {
    const engine = await getEngine();
    expect(() => engine.variant({ hash: 'x', roles: {} } as never)).toThrow(SpecError);
    expect(() => engine.variant({ hash: 'x', roles: {} } as never)).toThrow(/invalid variant spec '\?': field 'name'/);
    const base = VARIANTS.gla;
    expect(() => engine.variant({ ...base, roles: { ...base.roles, logDecay: { kind: 'unary', op: 'tanh', arg: base.roles.logDecay } } } as never))
      .toThrow(/field 'roles.logDecay': not an expression tree: unary op "tanh"/);
    expect(() => engine.variant({ ...base, inputs: base.inputs.slice(1) })).toThrow(/field 'q': reads unknown input 'q'/);
    expect(() => engine.variant({ ...base, decay: 'scalar' })).toThrow(/field 'logDecay': reads input 'g' \[B,T,H,K\], whose axis K/);
    expect(() => engine.variant({ ...base, extra: 1 } as never)).toThrow(/field 'extra': unknown field/);
    expect(() => engine.variant(42 as never)).toThrow(EngineError);
  });
});
