// The index IR (codegen/index-expr.ts): constants fold, identities exact in u32 apply, and the
// rendering keeps WGSL's precedence; no identity that wrap-around would break is used.
import { describe, expect, it } from 'vitest';
import { add, div, mod, mul, renderIndex, renderIndexOperand, sub } from '../codegen/index-expr.js';

describe('index expressions', () => {
  it('fold the subgroup grid\'s leftovers: (fsr * 1u + 0u) * 16u is fsr * 16u', () => {
    expect(renderIndex(mul(add(mul('fsr', 1), 0), 16))).toBe('fsr * 16u');
    expect(renderIndex(mul(add(mul('fsr', 2), 0), 16))).toBe('fsr * 32u');
    expect(renderIndex(mul(add(mul('fsr', 2), 1), 16))).toBe('(fsr * 2u + 1u) * 16u');
    expect(renderIndex(add('lane', 0))).toBe('lane');
    expect(renderIndex(add('k0', '0u'))).toBe('k0');
    expect(renderIndex(add('k0', 'd0 + 16u'))).toBe('k0 + (d0 + 16u)');
    expect(renderIndex(add(3, '4u'))).toBe('7u');
  });
  it('keep what is not an identity in u32, and precedence', () => {
    expect(renderIndex(sub(2, 3))).toBe('2u - 3u');
    expect(renderIndex(sub('a', sub('b', 'c')))).toBe('a - (b - c)');
    expect(renderIndex(div(mul('a', 4), 2))).toBe('a * 4u / 2u');
    expect(renderIndex(mul(div('a', 2), 2))).toBe('a / 2u * 2u');
    expect(renderIndex(mod('a', 1))).toBe('0u');
    expect(renderIndex(mul(add('a', 'b'), 0))).toBe('0u');
    expect(renderIndex(mul('x + 1u', 2))).toBe('(x + 1u) * 2u');
    expect(renderIndex(mul(0xffff, 0x10001))).toBe('4294967295u');
    expect(renderIndex(mul(0x10000, 0x10000))).toBe('65536u * 65536u');
    expect(renderIndexOperand(add(mul('fsr', 2), 1))).toBe('(fsr * 2u + 1u)');
    expect(renderIndexOperand(add(mul('fsr', 1), 0))).toBe('fsr');
    expect(() => add('a', -1)).toThrow(/not a u32/);
    expect(() => div('a', 0)).toThrow(/division by zero/);
  });
});
