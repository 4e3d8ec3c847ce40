// Exit 0 if Dawn (the `webgpu` package) finds a WebGPU adapter here, 1 if not.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (adapter) {
  console.log(`probe-adapter: found ${adapter.info.vendor} ${adapter.info.description}`);
  process.exit(0);
}
console.log('probe-adapter: no WebGPU adapter');
process.exit(1);
