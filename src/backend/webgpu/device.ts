// Device setup on a GPU object: a browser's navigator.gpu by default, Dawn's in Node (dawn.ts,
// the one place that loads the npm package `webgpu`); the adapter's real limits and the optional features we use, requested at
// device creation. WebGPU's defaults (128 MiB per storage binding, 16 KiB workgroup memory) are
// below what AlexNet wants and what most adapters offer.
import { GpuError } from './errors.js';

/** Limits raised to the adapter's values when the device is created. */
export const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

/** Features used where present, never required: fast paths are gated on them. */
export const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software adapter (llvmpipe, SwiftShader): sizes work for few cores. */
  fallback: boolean;
}

export interface OpenedDevice {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  info: AdapterDescription;
  /** Features enabled on the device. */
  features: string[];
  /** Every adapter limit, by name (as granted to the device for the requested ones, capped by `limits`). */
  limits: Record<string, number>;
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * Caps below the adapter's limits, so that the paths that meet a limit (split bindings, 2-D
   * grids, the GEMM tile fallback, buffer-size refusals) run on small shapes in tests. The device
   * is requested with them (WebGPU raises a request below its default to the default, so the
   * device enforces a cap only down to there) and the backend plans with them.
   */
  limits?: Partial<Record<(typeof REQUESTED_LIMITS)[number], number>>;
}

/** navigator.gpu where the platform has it (browsers, their workers), else null. */
export function platformGpu(): GPU | null {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? null;
}

/** What an adapter says of itself (GPUAdapterInfo's fields). */
export interface InfoFields {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

function describe(adapter: GPUAdapter): AdapterDescription {
  return describeInfo(adapter.info as InfoFields);
}

/** The adapter's description; `fallback` when it says it is one or names a software rasteriser. */
export function describeInfo(i: InfoFields): AdapterDescription {
  const text = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`.toLowerCase();
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    fallback: Boolean(i.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software/.test(text),
  };
}

function limitsOf(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in limits) {
    const v = (limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

export interface AdapterProbe {
  info: AdapterDescription;
  features: string[];
  limits: Record<string, number>;
}

/** The adapter alone (for `alexnet info` and `--backend auto`), or null when there is none. */
export async function probeGpu(gpu: GPU | null, options: DeviceOptions = {}): Promise<AdapterProbe | null> {
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) return null;
  return { info: describe(adapter), features: [...adapter.features].sort(), limits: limitsOf(adapter.limits) };
}

/** A device with the adapter's limits and our optional features, or null when no adapter exists. */
export async function openDevice(gpu: GPU | null, options: DeviceOptions = {}): Promise<OpenedDevice | null> {
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) return null;
  const caps: Record<string, number | undefined> = options.limits ?? {};
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = Math.min(v, caps[name] ?? v);
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const info = describe(adapter);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'alexnet', requiredLimits, requiredFeatures });
  } catch (e) {
    throw new GpuError(`${info.description || info.device}: requestDevice failed: ${(e as Error).message}`);
  }
  const limits = limitsOf(device.limits);
  for (const [name, cap] of Object.entries(caps)) {
    if (cap !== undefined && limits[name] !== undefined) limits[name] = Math.min(limits[name], cap);
  }
  return { gpu, adapter, device, info, features: [...device.features].sort(), limits };
}
