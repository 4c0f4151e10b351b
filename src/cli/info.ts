// `alexnet info`: what this machine offers and what each architecture costs.
import { availableParallelism } from 'node:os';
import { nodePoolHost } from '../backend/cpu/host_node.js';
import { relaxedSimdSupported, simdSupported } from '../backend/cpu/kernels.js';
import { probeAdapter } from '../backend/webgpu/dawn.js';
import { ARCHITECTURE_NAMES, architecture } from '../nn/architectures.js';
import { forwardMacs, planLayers } from '../nn/plan.js';

export type WebGpuInfo =
  | {
      available: true;
      device: string;
      adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean };
      features: string[];
      limits: Record<string, number>;
    }
  | { available: false; reason: string };

/** The WebGPU adapter `--backend webgpu` would use: description, features, limits. */
export async function probeWebGpu(): Promise<WebGpuInfo> {
  try {
    const probe = await probeAdapter();
    if (!probe) return { available: false, reason: 'no WebGPU adapter found' };
    const a = probe.info;
    return {
      available: true,
      device: `${a.description || a.device || a.vendor}${a.fallback ? ' (software adapter: --backend auto prefers the CPU)' : ''}`,
      adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, software: a.fallback },
      features: probe.features,
      limits: probe.limits,
    };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** Everything `alexnet info` prints; pass `await probeWebGpu()` for the WebGPU entry. */
export function collectInfo(webgpu: WebGpuInfo = { available: false, reason: 'not probed (collectInfo(await probeWebGpu()) does)' }) {
  return {
    node: process.version,
    cpu_threads: availableParallelism(),
    backends: {
      cpu: {
        available: true,
        device: simdSupported()
          ? `WebAssembly SIMD kernels${relaxedSimdSupported() ? ' with relaxed-SIMD FMA' : ''} on up to ${nodePoolHost.cores} threads (--threads); TypeScript loops as the reference`
          : 'TypeScript reference loops (this runtime has no WebAssembly SIMD)',
      },
      webgpu,
    },
    architectures: ARCHITECTURE_NAMES.map((name) => {
      const arch = architecture(name);
      const layers = planLayers(arch);
      const parameters = layers.reduce((s, l) => s + (l.weightShape ? l.weightShape.reduce((a, b) => a * b) + l.outShape[0] : 0), 0);
      return { name, input: arch.input, classes: arch.classes, parameters, forward_macs: forwardMacs(layers) };
    }),
  };
}

/** collectInfo with the WebGPU adapter probed. */
export async function collectInfoWithWebGpu() {
  return collectInfo(await probeWebGpu());
}

const SHOWN_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

export function formatInfo(info: ReturnType<typeof collectInfo>): string {
  const lines = [`node ${info.node}, ${info.cpu_threads} CPU threads`, 'backends:'];
  for (const [name, b] of Object.entries(info.backends)) {
    lines.push(`  ${name.padEnd(7)} ${b.available ? 'available' : 'unavailable'}: ${'device' in b ? b.device : b.reason}`);
    if ('features' in b) {
      lines.push(`          features: ${b.features.join(', ') || 'none'}`);
      lines.push(`          limits: ${SHOWN_LIMITS.filter((k) => k in b.limits).map((k) => `${k} ${b.limits[k]}`).join(', ')}`);
    }
  }
  lines.push('architectures:');
  for (const a of info.architectures) {
    lines.push(
      `  ${a.name.padEnd(12)} input ${a.input.join('x').padEnd(10)} ${String(a.classes).padStart(4)} classes  ` +
        `${(a.parameters / 1e6).toFixed(2).padStart(6)} M params  ${(a.forward_macs / 1e6).toFixed(1).padStart(7)} M MACs/image`,
    );
  }
  return lines.join('\n');
}
