// WebGPU in Node: Dawn (npm package `webgpu`), the Node side of the backend's GPU adapter. The
// backend itself (index.ts) runs on any GPU object; a browser gives it navigator.gpu.
import { execFile } from 'node:child_process';
import { describeInfo, probeGpu, type AdapterProbe, type DeviceOptions, type InfoFields } from './device.js';
import { GpuError } from './errors.js';
import { createWebGpuBackend as createOn, type WebGpuBackend, type WebGpuOptions } from './index.js';

export interface DawnOptions {
  /** Dawn switches for `create()`, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
  dawnFlags?: string[];
}

/**
 * Dawn's switches unless told otherwise. On NVIDIA's Vulkan driver Dawn offers shader-f16 only
 * with this toggle (docs/webgpu.md); --precision mixed needs it, and fp32 kernels never use f16.
 * Other drivers ignore it.
 */
export const DEFAULT_DAWN_FLAGS: readonly string[] = ['enable-dawn-features=vulkan_enable_f16_on_nvidia'];

let dawn: { key: string; gpu: GPU } | null = null;

/** Dawn's GPU object (one per set of flags), or a GpuError naming the package when it cannot load. */
export async function dawnGpu(dawnFlags: readonly string[] = DEFAULT_DAWN_FLAGS): Promise<GPU> {
  const key = dawnFlags.join('\n');
  if (dawn?.key === key) return dawn.gpu;
  let mod: { create: (flags: string[]) => GPU };
  try {
    mod = (await import('webgpu')) as typeof mod;
  } catch (e) {
    throw new GpuError(`the npm package "webgpu" (Dawn for Node) could not be loaded: ${(e as Error).message}`);
  }
  // Software Vulkan (llvmpipe) warns without a runtime directory.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  dawn = { key, gpu: mod.create([...dawnFlags]) };
  return dawn.gpu;
}

/** A WebGPU backend on Dawn's best adapter, or null when there is no adapter. */
export async function createWebGpuBackend(options: WebGpuOptions & DawnOptions = {}): Promise<WebGpuBackend | null> {
  return createOn({ ...options, gpu: options.gpu ?? (await dawnGpu(options.dawnFlags)) });
}

/**
 * The adapter alone (for `alexnet info` and `--backend auto`), or null when there is none. The
 * probe runs in a child process: Dawn prints warnings about some drivers (llvmpipe's limits)
 * straight to the process's stderr, which would otherwise reach every command's output.
 */
export async function probeAdapter(options: DeviceOptions & DawnOptions = {}): Promise<AdapterProbe | null> {
  const quiet = await probeInChild(options).catch(() => undefined);
  if (quiet !== undefined) return quiet;
  return probeGpu(await dawnGpu(options.dawnFlags), options);
}

async function probeInChild(options: DeviceOptions & DawnOptions): Promise<AdapterProbe | null> {
  const url = import.meta.resolve('webgpu');
  const script = `
    const { create } = await import(${JSON.stringify(url)});
    const a = await create(${JSON.stringify(options.dawnFlags ?? DEFAULT_DAWN_FLAGS)}).requestAdapter({ powerPreference: ${JSON.stringify(options.powerPreference ?? 'high-performance')} });
    if (!a) { console.log('null'); process.exit(0); }
    const i = a.info;
    const limits = {};
    for (const k in a.limits) if (typeof a.limits[k] === 'number') limits[k] = a.limits[k];
    console.log(JSON.stringify({ info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter }, features: [...a.features].sort(), limits }));
    process.exit(0);`;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, env: { XDG_RUNTIME_DIR: '/tmp', ...process.env } }, (err, out) =>
      err ? reject(err) : resolve(out),
    );
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(last) as { info: InfoFields; features: string[]; limits: Record<string, number> } | null;
  return parsed && { info: describeInfo(parsed.info), features: parsed.features, limits: parsed.limits };
}
