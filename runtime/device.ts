// Acquiring a WebGPU device: the browser's navigator.gpu, or Dawn for Node (the `webgpu` package).
// We ask for the adapter's own limits: the defaults (16 KiB workgroup memory, 128 MiB bindings)
// are far below what the kernels can use.
import { chooseTier, SUBGROUP_MATRIX_FEATURES, tensorCoreLimitBlocker, type TensorCoreOption, type Tier } from './tier.js';
import { EngineError } from './errors.js';
import { loadDawn, type DawnModule } from './dawn.js';
import type { AdapterIdentity } from './tuning-cache.js';

/** Dawn instance toggles that expose the tensor cores: experimental features (subgroup matrices)
 * need allow_unsafe_apis, and Dawn blocks shader-f16 on NVIDIA's Vulkan driver by default
 * (crbug.com/42251215: f16 conformance failures in some drivers) unless told otherwise. lae uses
 * f16 only for matrix operands in workgroup memory, with f32 accumulation. */
export const TENSOR_CORE_DAWN_FEATURES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];

/** The limits lae asks the adapter for in full (the defaults are far below what its kernels use:
 * the backward binds up to 10 storage buffers, the output stage up to 48 KiB of workgroup
 * memory). A caller making its own device for lae requests these at the adapter's values. */
export const DEVICE_LIMITS = ['maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize',
  'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX'] as const;

export interface DeviceOptions {
  /** Use this device as it is (its limits decide the tiles); lae does not destroy it. */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles for Node, e.g. ['enable-dawn-features=allow_unsafe_apis']. */
  dawnFlags?: string[];
  /** The tensor-core tier: 'auto' (default) uses f16 subgroup matrices where the adapter offers
   * them (in Node, Dawn's instance is then created with TENSOR_CORE_DAWN_FEATURES), else the f32
   * kernels; 'off' keeps the f32 kernels; 'portable' runs the tier's tiles in plain WGSL (for
   * testing on adapters without subgroup matrices; needs shader-f16). */
  tensorCores?: TensorCoreOption;
}

export interface AcquiredDevice {
  device: GPUDevice;
  /** Dawn's GPU instance must stay referenced while the device lives: if it is garbage-collected,
   * Dawn stops processing events and the process dies inside the next async call. */
  gpu?: GPU;
  adapterName: string;
  /** The adapter's identity (the tuning cache's key), where it is known. */
  adapterInfo?: AdapterIdentity;
  owned: boolean;
  /** The compute tier chosen for this device, and why. */
  tier: Tier;
  tierNote: string;
  /** A software adapter (lavapipe, SwiftShader), whose shader JIT is slow on unrolled loops. */
  software: boolean;
}

/** Whether an adapter renders on the CPU: Mesa's lavapipe (llvmpipe) or SwiftShader. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean } | undefined): boolean {
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ').toLowerCase();
  return /llvmpipe|lavapipe|swiftshader/.test(text);
}

/** Whether this is Node (Node 21+ also has a navigator, without gpu). */
function inNode(): boolean {
  return typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;
}

export class NoAdapterError extends Error {
  /** `where` defaults to the environment this runs in. */
  constructor(detail: string, where: 'node' | 'browser' | 'node-without-dawn' = inNode() ? 'node' : 'browser') {
    super(where === 'node-without-dawn'
      ? `no WebGPU adapter is available (${detail}). lae in Node gets WebGPU from Dawn, the optional peer dependency 'webgpu': npm i webgpu`
      : where === 'browser'
      ? `no WebGPU adapter is available (${detail}): this browser exposes no WebGPU adapter. ` +
        'Use a WebGPU-capable browser (Chrome or Edge 113+, Firefox 141+ on Windows, Safari 26+) on a secure context ' +
        '(https or localhost). Where WebGPU is behind a flag, enable it: in Chrome/Chromium on Linux, ' +
        'chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan (or start it with ' +
        '--enable-unsafe-webgpu --enable-features=Vulkan); in Firefox, dom.webgpu.enabled in about:config. ' +
        'If WebGPU is on but the GPU is blocklisted, chrome://gpu says why.'
      : `no WebGPU adapter is available (${detail}). ` +
        'On Linux without a GPU, install Mesa\'s lavapipe (software Vulkan): on Debian 12, ' +
        '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (`npm run setup` does this); ' +
        'Debian\'s own Mesa 22 is too old for Dawn. With a GPU, install its Vulkan driver.');
    this.name = 'NoAdapterError';
  }
}

async function getGpu(flags: string[]): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!inNode()) throw new NoAdapterError('navigator.gpu is absent', 'browser');
  let mod: DawnModule;
  try {
    mod = await loadDawn();
  } catch (e) {
    throw new NoAdapterError(`the 'webgpu' package could not be loaded: ${(e as Error).message}`, 'node-without-dawn');
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return mod.create(flags);
}

/** Dawn flags with the tensor-core features merged into any enable-dawn-features entry. */
function withTensorCoreFlags(flags: readonly string[]): string[] {
  const key = 'enable-dawn-features=';
  const at = flags.findIndex((f) => f.startsWith(key));
  if (at < 0) return [...flags, key + TENSOR_CORE_DAWN_FEATURES.join(',')];
  const have = flags[at]!.slice(key.length).split(',').filter(Boolean);
  const merged = [...have, ...TENSOR_CORE_DAWN_FEATURES.filter((f) => !have.includes(f))];
  return flags.map((f, i) => (i === at ? key + merged.join(',') : f));
}

/** The tier of a caller's device, from the features and limits it was created with. */
function tierOfDevice(device: GPUDevice, option: TensorCoreOption): { tier: Tier; tierNote: string } {
  if (option === 'off') return { tier: 'f32', tierNote: 'tensor cores off' };
  if (option === 'portable') {
    if (!device.features.has('shader-f16')) return { tier: 'f32', tierNote: 'the device lacks shader-f16' };
    const blocker = tensorCoreLimitBlocker(device.limits, 'portable');
    if (blocker) {
      throw new EngineError(`tensorCores: 'portable' cannot run on this device: ${blocker}. Create it with requiredLimits that grant it, or use tensorCores: 'off' (the f32 tier fits WebGPU's default limits)`);
    }
    return { tier: 'portable', tierNote: 'tensor-core tiles in plain WGSL' };
  }
  if (!SUBGROUP_MATRIX_FEATURES.every((f) => device.features.has(f as GPUFeatureName))) {
    return { tier: 'f32', tierNote: 'the device was created without the subgroup-matrix features' };
  }
  const blocker = tensorCoreLimitBlocker(device.limits);
  return blocker ? { tier: 'f32', tierNote: `no tensor cores: ${blocker}` } : { tier: 'subgroup-matrix', tierNote: 'f16 subgroup matrices (tensor cores)' };
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  const option = opts.tensorCores ?? 'auto';
  if (opts.device) {
    const info = (opts.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return { device: opts.device, adapterName: 'user device', ...(info ? { adapterInfo: identityOf(info) } : {}), owned: false, software: isSoftwareAdapter(info), ...tierOfDevice(opts.device, option) };
  }
  if (typeof process !== 'undefined' && process.env && !process.env.XDG_RUNTIME_DIR) {
    process.env.XDG_RUNTIME_DIR = '/tmp'; // Mesa warns on every run without it
  }
  const gpu = await getGpu(option === 'off' ? opts.dawnFlags ?? [] : withTensorCoreFlags(opts.dawnFlags ?? []));
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
  const requiredLimits: Record<string, number> = {};
  for (const k of DEVICE_LIMITS) requiredLimits[k] = adapter.limits[k];
  const tier = chooseTier(option, adapter);
  const features: GPUFeatureName[] = [...tier.features];
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const info = adapter.info;
  const adapterName = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { device, gpu, adapterName, adapterInfo: identityOf(info), owned: true, tier: tier.tier, tierNote: tier.note, software: isSoftwareAdapter(info) };
}

/** GPUAdapterInfo's identifying fields (driver where the adapter reports one: Dawn in Node does not). */
export function identityOf(info: GPUAdapterInfo | undefined): AdapterIdentity {
  const driver = (info as { driver?: unknown } | undefined)?.driver;
  return {
    vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '',
    ...(typeof driver === 'string' && driver ? { driver } : {}),
  };
}
