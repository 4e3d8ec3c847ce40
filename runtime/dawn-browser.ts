// The browser's stand-in for ./dawn.js (mapped by the `browser` field of package.json): a page
// has navigator.gpu or no WebGPU at all, never Dawn.
import type { DawnModule } from './dawn.js';

export async function loadDawn(): Promise<DawnModule> {
  throw new Error('Dawn (the webgpu package) is for Node; a browser uses navigator.gpu');
}
