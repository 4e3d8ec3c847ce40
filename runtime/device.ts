// Acquiring a WebGPU device: the browser's navigator.gpu, or Dawn for Node (the `webgpu` package).
// We ask for the adapter's own limits: the defaults (16 KiB workgroup memory, 128 MiB bindings)
// are far below what the kernels can use.

export interface DeviceOptions {
  /** Use this device as it is (its limits decide the tiles); lae does not destroy it. */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles for Node, e.g. ['enable-dawn-features=allow_unsafe_apis']. */
  dawnFlags?: string[];
}

export interface AcquiredDevice {
  device: GPUDevice;
  /** Dawn's GPU instance must stay referenced while the device lives: if it is garbage-collected,
   * Dawn stops processing events and the process dies inside the next async call. */
  gpu?: GPU;
  adapterName: string;
  owned: boolean;
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `no WebGPU adapter is available (${detail}). In a browser, use one with WebGPU enabled. ` +
      'On Linux without a GPU, install Mesa\'s lavapipe (software Vulkan): on Debian 12, ' +
      '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (`npm run setup` does this); ' +
      'Debian\'s own Mesa 22 is too old for Dawn. With a GPU, install its Vulkan driver.');
    this.name = 'NoAdapterError';
  }
}

async function getGpu(flags: string[]): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    const name = 'webgpu'; // a variable keeps browser bundlers from resolving Dawn
    mod = await import(name);
  } catch (e) {
    throw new NoAdapterError(`navigator.gpu is absent and the 'webgpu' package could not be loaded: ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return mod.create(flags);
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  if (opts.device) return { device: opts.device, adapterName: 'user device', owned: false };
  if (typeof process !== 'undefined' && process.env && !process.env.XDG_RUNTIME_DIR) {
    process.env.XDG_RUNTIME_DIR = '/tmp'; // Mesa warns on every run without it
  }
  const gpu = await getGpu(opts.dawnFlags ?? []);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
  const want = ['maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize',
    'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX'] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k];
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const info = adapter.info;
  const adapterName = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { device, gpu, adapterName, owned: true };
}
