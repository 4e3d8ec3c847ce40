// The decode step: stepping through a sequence reproduces the forward pass, N tokens at once
// too, and the pool form touches only the named slots.
import { describe, expect, it } from 'vitest';
import { VARIANT_NAMES, VARIANTS } from '../variants/index.js';
import { shapeOf, stateShape, type ProblemSize, type VariantDef } from '../dsl/index.js';
import { sampleInputs } from '../runtime/sample.js';
import { GpuTensor } from '../runtime/tensor.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

/** Tokens [t0, t1) of every time-major input, as inputs shaped [B, t1 - t0, H, ...]. */
function sliceT(def: VariantDef, inputs: Record<string, Float32Array>, size: ProblemSize, t0: number, t1: number) {
  const out: Record<string, Float32Array> = {};
  for (const d of def.inputs) {
    const full = inputs[d.name]!;
    if (!d.dims.includes('T')) { out[d.name] = full; continue; }
    const shape = shapeOf(d.dims, size);
    const ti = d.dims.indexOf('T');
    const outer = shape.slice(0, ti).reduce((a, b) => a * b, 1);
    const inner = shape.slice(ti + 1).reduce((a, b) => a * b, 1);
    const part = new Float32Array(outer * (t1 - t0) * inner);
    for (let o = 0; o < outer; o++) {
      part.set(full.subarray((o * size.T + t0) * inner, (o * size.T + t1) * inner), o * (t1 - t0) * inner);
    }
    out[d.name] = part;
  }
  return out;
}

/** Writes the tokens of a [B,n,H,V] step output into a [B,T,H,V] buffer at t0. */
function placeO(dst: Float32Array, src: Float32Array, size: ProblemSize, t0: number, n: number) {
  const row = size.H * size.V;
  for (let b = 0; b < size.B; b++) dst.set(src.subarray(b * n * row, (b + 1) * n * row), (b * size.T + t0) * row);
}

const size = { B: 2, T: 9, H: 2, K: 8, V: 6 };

describe.each(VARIANT_NAMES)('%s step', (name) => {
  const def = VARIANTS[name];
  it('token by token, and 4 + 5 tokens at once, reproduce forward o and ht', async () => {
    const engine = await getEngine();
    const op = engine.variant(name);
    const inputs = sampleInputs(def, size, 21, true);
    const ref = await op.forward(inputs, size);
    for (const chunks of [[1, 1, 1, 1, 1, 1, 1, 1, 1], [4, 5]]) {
      const state = Float32Array.from(inputs.h0!);
      const o = new Float32Array(ref.o.length).fill(Number.NaN);
      let t0 = 0;
      for (const n of chunks) {
        const res = await op.step(sliceT(def, inputs, size, t0, t0 + n), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: n });
        placeO(o, res.o, size, t0, n);
        t0 += n;
      }
      expect(relL2(o, ref.o)).toBeLessThan(1e-5);
      expect(relL2(state, ref.ht!)).toBeLessThan(1e-5);
    }
  });
});

describe('step with a state pool and GPU-resident state', () => {
  it('updates only the named slots, in place', async () => {
    const engine = await getEngine();
    const op = engine.variant('gated_delta_rule');
    const def = op.def;
    const inputs = sampleInputs(def, size, 5, true);
    const ref = await op.forward(inputs, size);
    const per = size.H * size.K * size.V;
    const pool = Float32Array.from({ length: 5 * per }, (_, i) => Math.sin(i));
    const before = Float32Array.from(pool);
    pool.set(inputs.h0!.subarray(0, per), 3 * per);
    pool.set(inputs.h0!.subarray(per, 2 * per), 1 * per);
    const { h0: _h0, ...tokens } = inputs;
    const res = await op.step(tokens, pool, { B: size.B, H: size.H, K: size.K, V: size.V, N: size.T, stateIndices: [3, 1] });
    expect(relL2(res.o, ref.o)).toBeLessThan(1e-5);
    expect(relL2(pool.subarray(3 * per, 4 * per), ref.ht!.subarray(0, per))).toBeLessThan(1e-5);
    expect(relL2(pool.subarray(per, 2 * per), ref.ht!.subarray(per, 2 * per))).toBeLessThan(1e-5);
    for (const slot of [0, 2, 4]) expect(pool.subarray(slot * per, (slot + 1) * per)).toEqual(before.subarray(slot * per, (slot + 1) * per));
  });
  it('keeps a GpuTensor state on the device between steps', async () => {
    const engine = await getEngine();
    const op = engine.variant('kda');
    const inputs = sampleInputs(op.def, size, 8, true);
    const ref = await op.forward(inputs, size);
    const state = GpuTensor.upload(engine.device, 'state', inputs.h0!, stateShape(op.def, size));
    try {
      await op.step(sliceT(op.def, inputs, size, 0, 4), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: 4 });
      await op.step(sliceT(op.def, inputs, size, 4, 9), state, { B: size.B, H: size.H, K: size.K, V: size.V, N: 5 });
      expect(relL2(await state.read(), ref.ht!)).toBeLessThan(1e-5);
    } finally {
      state.destroy();
    }
  });
  it('refuses bad state, indices and inputs with the reason', async () => {
    const engine = await getEngine();
    const op = engine.variant('simple_gla');
    const one = { ...size, T: 1 };
    const inputs = sampleInputs(op.def, one, 2, false);
    const per = size.H * size.K * size.V;
    const o = { B: size.B, H: size.H, K: size.K, V: size.V };
    await expect(op.step(inputs, new Float32Array(per), o)).rejects.toThrow(/state has 96 elements; expected shape \[B,H,K,V\] = \[2,2,8,6\] = 192/);
    await expect(op.step(inputs, new Float32Array(3 * per), { ...o, stateIndices: [1, 1] })).rejects.toThrow(/stateIndices\[1\] = 1 repeats a slot/);
    await expect(op.step(inputs, new Float32Array(3 * per), { ...o, stateIndices: [0, 3] })).rejects.toThrow(/stateIndices\[1\] = 3 is outside the pool's 3 slots/);
    await expect(op.step(inputs, new Float32Array(3 * per + 1), { ...o, stateIndices: [0, 1] })).rejects.toThrow(/multiple of H\*K\*V = 96/);
    await expect(op.step({ ...inputs, h0: new Float32Array(2 * per) }, new Float32Array(2 * per), o)).rejects.toThrow(/state as its second argument/);
    const { g: _g, ...noGate } = inputs;
    await expect(op.step(noGate, new Float32Array(2 * per), o)).rejects.toThrow(/missing input 'g' \[2,1,2\]/);
  });
});

describe('examples/decode.ts', () => {
  it('prefills, then decodes on a GPU-resident state (runs the built example)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('..', import.meta.url));
    const out = execFileSync(process.execPath, ['dist/examples/decode.js'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(out).toMatch(/first generated output row: (-?\d+\.\d{4} ){4}\.\.\./);
    expect(out).toMatch(/16 decode steps on .*: \d+\.\d+ ms per step/);
  });
});
