// The plan runner (runtime/plan-run.ts) on its own: buffers reused across runs of one size start
// zeroed, the caller's buffers are bound as given and never handed out again, and a plan records
// into the caller's command encoder (allocate/bind, encode, submit are separate steps).
import { describe, expect, it } from 'vitest';
import { packParams } from '../codegen/index.js';
import { PlanRunner, encodePass, submit, type SizeEnv } from '../runtime/plan-run.js';
import { referenceForward } from '../runtime/reference.js';
import { sampleInputs } from '../runtime/sample.js';
import { relL2 } from './helpers/numerics.js';
import { getEngine } from './helpers/engine.js';

// The size and chunk of test/api-contract.test.ts: the same pipelines.
const size = { B: 1, T: 24, H: 1, K: 16, V: 8 };
const env: SizeEnv = { B: 1, T: 24, H: 1, NT: 2, S: 1 };
const params = () => packParams({ B: 1, T: 24, H: 1, NT: 2, has_h0: 0, scale: 0.25, has_dht: 0, G: 1 });

async function setup() {
  const engine = await getEngine();
  const op = engine.variant('gla');
  const plan = op.plan({ K: size.K, V: size.V, chunkSize: 16 });
  const x = sampleInputs(op.def, size, 9, false);
  const sources = Object.fromEntries(op.def.inputs.map((d) => [`in_${d.name}`, { data: x[d.name]! }]));
  return { engine, op, plan, x, sources, pipelines: await engine.pipelines.get(plan) };
}

const f32 = (b: ArrayBuffer) => new Float32Array(b);

describe('PlanRunner', () => {
  it('a run records into the caller\'s encoder, and its buffers serve the next run of the size, zeroed', async () => {
    const { engine, op, plan, x, sources, pipelines } = await setup();
    const runner = new PlanRunner(engine.device);
    try {
      const want = referenceForward(op.def, x, size, { scale: 0.25 });
      const first = runner.allocate(plan, env, { params: params(), sources });
      const bound = runner.bind(plan, pipelines, first);
      expect(bound.bindings.find((r) => r.buffer === 'hs')?.bytes).toBe(2 * size.K * size.V * 4);
      const encoder = engine.device.createCommandEncoder();
      encodePass(encoder, [bound]);
      engine.device.queue.submit([encoder.finish()]);
      const [o, hs] = await submit(engine.device, 'read', () => {}, ['o', 'hs'].map((n) => ({ buffer: first.buffers.get(n)!, bytes: first.bytes.get(n)! })));
      expect(relL2(f32(o!), want.o)).toBeLessThan(1e-4);
      expect(f32(hs!).some((v) => v !== 0)).toBe(true);
      first.release();
      first.release(); // once only: a second release gives nothing back twice

      const second = runner.allocate(plan, env, { params: params(), sources });
      try {
        // The same buffers, in the same roles, cleared as fresh ones are.
        for (const name of ['hs', 'o', 'ht', 'gcum']) expect(second.buffers.get(name)).toBe(first.buffers.get(name));
        const [hs2, o2] = await submit(engine.device, 'read', () => {}, ['hs', 'o'].map((n) => ({ buffer: second.buffers.get(n)!, bytes: second.bytes.get(n)! })));
        expect(f32(hs2!).every((v) => v === 0)).toBe(true);
        expect(f32(o2!).every((v) => v === 0)).toBe(true);
        await submit(engine.device, 'rerun', (enc) => encodePass(enc, [runner.bind(plan, pipelines, second)]));
        const [o3] = await submit(engine.device, 'read', () => {}, [{ buffer: second.buffers.get('o')!, bytes: second.bytes.get('o')! }]);
        expect(f32(o3!)).toEqual(f32(o!));
      } finally {
        second.release();
      }
    } finally {
      runner.destroy();
    }
  });

  it('binds the caller\'s buffers as given and never hands them out; refuses what a plan cannot run with', async () => {
    const { engine, plan, sources, pipelines } = await setup();
    const runner = new PlanRunner(engine.device);
    const mine = engine.device.createBuffer({ size: size.T * size.V * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    try {
      const a = runner.allocate(plan, env, { params: params(), sources: { ...sources, o: { buffer: mine } } });
      expect(a.buffers.get('o')).toBe(mine);
      await submit(engine.device, 'run', (enc) => encodePass(enc, [runner.bind(plan, pipelines, a)]));
      a.release();
      const b = runner.allocate(plan, env, { params: params(), sources });
      expect(b.buffers.get('o')).not.toBe(mine);
      b.release();
      const small = engine.device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
      expect(() => runner.allocate(plan, env, { params: params(), sources: { ...sources, o: { buffer: small } } }))
        .toThrow(/buffer 'o' has 64 bytes; the plan needs 768 at this size/);
      small.destroy();
      const { in_q: _q, ...noQ } = sources;
      expect(() => runner.allocate(plan, env, { params: params(), sources: noQ })).toThrow(/buffer 'in_q' \(input\) has no source/);
      expect(() => runner.allocate(plan, { ...env, NT: 1e9 }, { params: params(), sources })).toThrow(/maxStorageBufferBindingSize|maxComputeWorkgroupsPerDimension/);
    } finally {
      mine.destroy();
      runner.destroy();
    }
  });
});
