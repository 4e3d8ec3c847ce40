// What the host API promises about its arguments (issue 10): every call reads its inputs when it
// is called (editing them while it runs changes nothing, and the log-decay check sees the values
// that run); unknown option names are errors naming the close match; a saved forward serves one
// backward, on the inputs it ran on; steps on one state run one after another; messages say
// what was given.
import { describe, expect, it } from 'vitest';
import { VARIANTS } from '../variants/index.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceBackward } from '../runtime/reference-backward.js';
import { sampleInputs } from '../runtime/sample.js';
import { createEngine, EngineError } from '../runtime/engine.js';
import { InputError } from '../runtime/validate.js';
import { runDemo } from '../cli/demo.js';
import { prepareBackward } from '../runtime/backward.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

const TOL = 1e-4;
// One size and chunk for every GPU call here: few pipelines to compile. K = 16, V = 8 at chunks
// of 16: the plans of FLA's first fixture case (test/backward.test.ts), compiled once per run.
const size = { B: 1, T: 24, H: 1, K: 16, V: 8 };
const stepOpts = { B: 1, H: 1, K: size.K, V: size.V };
const stateLen = size.B * size.H * size.K * size.V;
const opts = { ...size, chunkSize: 16 as const };
const dOf = (seed: number) => Float32Array.from({ length: size.B * size.T * size.H * size.V }, (_, i) => Math.cos(0.37 * i + seed));

/** The inputs of a one-token sample without h0 (fresh arrays). */
const tokens2 = (x: Record<string, Float32Array>) => Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'h0').map(([k, a]) => [k, a.slice()]));

describe('inputs are read when the call is made', () => {
  it('forward: editing q after the call, or g to positive values, changes nothing in that run', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, size, 1, true);
    const { h0, ...rest } = x;
    const want = referenceForward(op.def, structuredClone(rest), size, { h0: h0!.slice() }).o;
    const p = op.forward(x, { ...opts, poisonOutputs: true });
    x.q!.fill(0);
    x.g!.fill(5); // would overflow the chunked kernels, and the check already passed
    x.h0!.fill(0);
    expect(relL2((await p).o, want)).toBeLessThan(TOL);
  });
  it('backward: editing the inputs and the seeds after the call changes nothing in that run', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, size, 2, true);
    const dO = dOf(1);
    const { h0, ...rest } = x;
    const want = referenceBackward(op.def, structuredClone(rest), size, { do: dO.slice() }, { h0: h0!.slice() });
    const p = op.backward(x, { do: dO }, { ...opts, poisonOutputs: true });
    x.v!.fill(0);
    x.g!.fill(5);
    dO.fill(0);
    const grads = await p;
    for (const [k, v] of Object.entries(want)) expect(relL2(grads[k]!, v), k).toBeLessThan(TOL);
  });
  it('step, prepareStep, prepareForward and prepareBackward: the inputs are copied or uploaded before the first await', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, { ...size, T: 1 }, 3, true);
    const { h0, ...tokens } = x;
    const want = referenceForward(op.def, structuredClone(tokens), { ...size, T: 1 }, { h0: h0!.slice() });
    const fresh = tokens2(x);
    const state = h0!.slice();
    const p = op.step(tokens, state, stepOpts);
    tokens.k!.fill(0);
    expect(relL2((await p).o, want.o)).toBeLessThan(TOL);
    expect(relL2(state, want.ht)).toBeLessThan(TOL);
    const again = h0!.slice();
    const pending = op.prepareStep(fresh, again, stepOpts);
    // The prepared step's device state is an upload made by the call, its inputs too.
    again.fill(0);
    fresh.q!.fill(0);
    const stepRun = await pending;
    try {
      await stepRun.execute();
      expect(relL2((await stepRun.readO()).o, want.o)).toBeLessThan(TOL);
    } finally {
      stepRun.destroy();
    }

    const y = sampleInputs(op.def, size, 4, false);
    const y0 = structuredClone(y);
    const wantY = referenceForward(op.def, y0, size).o;
    const run = op.prepareForward(y, opts);
    y.v!.fill(0);
    const prepared = await run;
    try {
      await prepared.execute();
      expect(relL2(await prepared.tensors.get('o')!.read(), wantY)).toBeLessThan(TOL);
      const dO = dOf(4);
      const wantGrads = referenceBackward(op.def, y0, size, { do: dO.slice() });
      const bwdPending = prepareBackward(op.engine, op.def, prepared, { do: dO });
      dO.fill(0);
      const bwd = await bwdPending;
      try {
        await bwd.execute();
        const grads = await bwd.read();
        for (const [k, v] of Object.entries(wantGrads)) if (k !== 'dh0') expect(relL2(grads[k]!, v), k).toBeLessThan(TOL);
      } finally {
        bwd.destroy();
      }
    } finally {
      prepared.destroy();
    }
  });
});

describe('option names are checked', () => {
  it('an unknown option names the close match; h0, do and dht in the options say where they go', async () => {
    const engine = await getEngine();
    const op = engine.variant('gla');
    const x = sampleInputs(op.def, size, 5, false);
    await expect(op.forward(x, { ...opts, cu_seqlens: [0, 10, 24] } as never)).rejects.toThrow(/unknown option 'cu_seqlens' of forward; did you mean 'cuSeqlens'\?/);
    await expect(op.forward(x, { ...opts, checkfinite: true } as never)).rejects.toThrow(InputError);
    await expect(op.forward(x, { ...opts, checkfinite: true } as never)).rejects.toThrow(/'checkfinite'.*did you mean 'checkFinite'/);
    await expect(op.forward(x, { ...opts, chunksize: 16 } as never)).rejects.toThrow(/did you mean 'chunkSize'/);
    await expect(op.forward(x, { ...opts, h0: new Float32Array(stateLen) } as never)).rejects.toThrow(/option 'h0'.*h0 is an input/);
    await expect(op.prepareForward(x, { ...opts, poison: true } as never)).rejects.toThrow(/did you mean 'poisonOutputs'/);
    await expect(op.backward(x, { do: dOf(0) }, { ...opts, dht: new Float32Array(stateLen) } as never)).rejects.toThrow(/'dht' is a seed/);
    await expect(op.backward(x, { do: dOf(0) }, { ...opts, savd: undefined } as never)).rejects.toThrow(/did you mean 'saved'/);
    const tok = sampleInputs(op.def, { ...size, T: 1 }, 6, false);
    const state = new Float32Array(stateLen);
    await expect(op.step(tok, state, { ...stepOpts, stateindices: [0] } as never)).rejects.toThrow(/did you mean 'stateIndices'/);
    await expect(op.step(tok, state, { ...size } as never)).rejects.toThrow(/option 'T' of step: step takes N/);
    await expect(op.prepareStep(tok, state, { ...stepOpts, chunkSize: 16 } as never)).rejects.toThrow(/'chunkSize' is an option of forward and backward, not of step/);
    expect(() => engine.variant('gla', { statelayout: 'vk' } as never)).toThrow(/did you mean 'stateLayout'/);
    await expect(createEngine({ devcie: undefined } as never)).rejects.toThrow(/unknown option 'devcie' of createEngine; did you mean 'device'/);
    await expect(createEngine({ tuning: { fragmentMemmory: 32768 } } as never)).rejects.toThrow(/unknown option 'fragmentMemmory' of createEngine tuning; did you mean 'fragmentMemory'/);
    await expect(createEngine({ tuning: { fragmentMemory: 100 } })).rejects.toThrow(/tuning.fragmentMemory must be a whole number of bytes, at least 8192; got 100 \(a number\)/);
    await expect(createEngine({ tuning: { outputTile: 48 } })).rejects.toThrow(/tuning.outputTile must be one of 32, 64, 128; got 48 \(a number\)/);
  });
  it('values are shown as given, with their type', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, size, 7, false);
    await expect(op.forward(x, { ...opts, T: Number.NaN })).rejects.toThrow(/option T must be a positive integer, got NaN \(a number\)/);
    await expect(op.forward(x, { ...opts, chunkSize: '64' as never })).rejects.toThrow(/option chunkSize must be a number, one of 16, 32, 64; got "64" \(a string\)/);
    await expect(op.step(x, new Float32Array(stateLen), { ...stepOpts, N: Number.NaN })).rejects.toThrow(/option N .* got NaN/);
  });
  it('lae demo with a bad size prints the error and nothing before it', async () => {
    const lines: string[] = [];
    await expect(runDemo({ B: 1, T: 8, H: 1, K: 257, V: 8 }, 16, (l) => lines.push(l))).rejects.toThrow(/K = 257 exceeds the largest head dim/);
    expect(lines).toEqual([]);
  });
});

describe('a saved forward serves one backward, of the inputs it ran on', () => {
  it('refuses other inputs (or the same arrays edited), then serves the right ones once, even when calls overlap', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, size, 9, true);
    const y = sampleInputs(op.def, size, 10, true);
    const dO = dOf(2);
    const { saved } = await op.forward(x, { ...opts, saveForBackward: true });
    await expect(op.backward(y, { do: dO }, { ...opts, saved })).rejects.toThrow(/input 'q' is not the one the saved forward ran on/);
    const edited = { ...x, v: x.v!.slice() };
    edited.v[edited.v.length - 1]! += 1;
    await expect(op.backward(edited, { do: dO }, { ...opts, saved })).rejects.toThrow(/input 'v' is not the one/);
    const { h0: _h0, ...noH0 } = x;
    await expect(op.backward(noH0, { do: dO }, { ...opts, saved })).rejects.toThrow(/input 'h0' is missing/);
    await expect(op.backward(x, { do: dO }, { ...opts, scale: 0.5, saved })).rejects.toThrow(/option scale = 0.5 differs/);
    // Two overlapping backwards with one saved: the first runs, the second is refused.
    const first = op.backward({ ...x }, { do: dO }, { ...opts, saved });
    await expect(op.backward(x, { do: dO }, { ...opts, saved })).rejects.toThrow(/in use by a backward still running/);
    const grads = await first;
    const { h0, ...rest } = x;
    const want = referenceBackward(op.def, rest, size, { do: dO }, { h0 });
    for (const [k, v] of Object.entries(want)) expect(relL2(grads[k]!, v), k).toBeLessThan(TOL);
    await expect(op.backward(x, { do: dO }, { ...opts, saved })).rejects.toThrow(/already used/);
  });
  it('a saved of another engine is a clear EngineError', async () => {
    const op = (await getEngine()).variant('gla');
    const x = sampleInputs(op.def, size, 11, false);
    const { saved } = await op.forward(x, { ...opts, saveForBackward: true });
    const other = await createEngine();
    try {
      const call = other.variant('gla').backward(x, { do: dOf(3) }, { ...opts, saved });
      await expect(call).rejects.toThrow(EngineError);
      await expect(other.variant('gla').backward(x, { do: dOf(3) }, { ...opts, saved })).rejects.toThrow(/saved comes from a forward on another engine/);
    } finally {
      other.destroy();
      saved!.destroy();
    }
  });
});

describe('steps on one state run one after another', () => {
  it('two overlapping steps on one state array apply both tokens, in call order', async () => {
    const op = (await getEngine()).variant('gla');
    const two = sampleInputs(op.def, { ...size, T: 2 }, 12, true);
    const { h0, ...tokens } = two;
    const at = (t: number) => Object.fromEntries(Object.entries(tokens).map(([k, a]) => [k, a.subarray(t * a.length / 2, (t + 1) * a.length / 2)]));
    const want = referenceForward(op.def, tokens, { ...size, T: 2 }, { h0 });
    const state = h0!.slice();
    const [a, b] = await Promise.all([op.step(at(0), state, stepOpts), op.step(at(1), state, stepOpts)]);
    const o = new Float32Array(2 * size.V);
    o.set(a.o, 0); o.set(b.o, size.V);
    expect(relL2(o, want.o)).toBeLessThan(TOL);
    expect(relL2(state, want.ht)).toBeLessThan(TOL);
  });
});
