// Device-level failures: a lost device and a missing adapter each give a clear error, never a hang.
import { describe, expect, it } from 'vitest';
import { createEngine } from '../runtime/engine.js';
import { NoAdapterError } from '../runtime/device.js';
import { sampleInputs } from '../runtime/sample.js';

describe('device failures', () => {
  it('a lost device is reported on the next call, naming the cause and the fix', async () => {
    // Its own engine: destroying the shared one would break the other tests.
    const engine = await createEngine();
    const op = engine.variant('simple_gla');
    const size = { B: 1, T: 8, H: 1, K: 4, V: 4 };
    const inputs = sampleInputs(op.def, size);
    const before = await op.forward(inputs, size);
    expect(before.o.every(Number.isFinite)).toBe(true);
    engine.device.destroy();
    await engine.device.lost;
    await expect(op.forward(inputs, size)).rejects.toThrow(/the WebGPU device was lost \(destroyed.*create a new engine with createEngine\(\)/);
  });
  it('the no-adapter error says how to get one', () => {
    const e = new NoAdapterError('requestAdapter() returned null');
    expect(e.message).toMatch(/no WebGPU adapter is available \(requestAdapter\(\) returned null\)/);
    expect(e.message).toMatch(/mesa-vulkan-drivers/);
    expect(e.message).toMatch(/npm run setup/);
  });
  it('in a browser, the no-adapter error says how to enable WebGPU there, not how to install Mesa', () => {
    const e = new NoAdapterError('navigator.gpu is absent', 'browser');
    expect(e.message).toMatch(/this browser exposes no WebGPU adapter/);
    expect(e.message).toMatch(/--enable-unsafe-webgpu/);
    expect(e.message).not.toMatch(/apt-get|mesa|npm run setup/i);
  });
  it('in Node without the webgpu package, the no-adapter error says to install it', () => {
    const e = new NoAdapterError("the 'webgpu' package could not be loaded", 'node-without-dawn');
    expect(e.message).toMatch(/npm i webgpu/);
    expect(e.message).not.toMatch(/apt-get/);
  });
});
