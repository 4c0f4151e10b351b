// The worker's backends, one per menu choice, made on first use: WebGPU on the browser's adapter,
// or the CPU backend (WebAssembly on every core, its threads in Web Workers).
import { browserPoolHost, CpuBackend, createWebGpuBackend, platformGpu, probeGpu, type AdapterDescription, type Backend } from '../../src/browser.js';
import type { RunSettings } from '../protocol.js';
import { post } from './post.js';

let backends: Partial<Record<RunSettings['backend'], Backend>> = {};

export const adapterName = (a: AdapterDescription) => a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'adapter';

export async function backendFor(choice: RunSettings['backend']): Promise<Backend> {
  const cached = backends[choice];
  if (cached) return cached;
  const notes: string[] = [];
  const gpu = choice === 'cpu' ? null : platformGpu();
  // As the command line's auto: a software adapter (SwiftShader, llvmpipe) runs the shaders on
  // the CPU, over 100 times slower than the CPU backend here (BENCHMARKS.md); "WebGPU" in the
  // menu takes it anyway.
  const probe = gpu ? await probeGpu(gpu).catch(() => null) : null;
  const software = choice === 'auto' && probe?.info.fallback;
  if (software) notes.push(`passed over WebGPU: the only adapter, ${adapterName(probe.info)}, is a software one`);
  const webgpu = gpu && probe && !software ? await createWebGpuBackend({ gpu }).catch(() => null) : null;
  if (choice === 'webgpu' && !webgpu) notes.push('no WebGPU adapter');
  // The CPU on every core (Web Workers sharing the backend's memory; one thread where the page
  // is not cross-origin isolated), started before the first op.
  const cpu = webgpu ? null : new CpuBackend({ host: browserPoolHost, notice: (line) => notes.push(line) });
  await cpu?.start();
  const backend = webgpu ?? cpu!;
  backends[choice] = backend;
  post({ type: 'backend', name: webgpu ? `WebGPU: ${adapterName(webgpu.adapter)}` : [cpu!.device, ...notes].join(': ') });
  return backend;
}

/** After a lost device: every backend is made anew on next use. */
export function forgetBackends(): void {
  backends = {};
}

/** Test hook: destroys the WebGPU device, as a driver reset would. */
export function loseDevice(): void {
  const gpu = Object.values(backends).find((b) => b?.name === 'webgpu') as { ctx?: { device: GPUDevice } } | undefined;
  gpu?.ctx?.device.destroy();
}
