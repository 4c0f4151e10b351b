// `alexnet info`: what this machine offers and what each architecture costs.
import { availableParallelism } from 'node:os';
import { nodePoolHost } from '../backend/cpu/host_node.js';
import { relaxedSimdSupported, simdSupported } from '../backend/cpu/kernels.js';
import { probeAdapter } from '../backend/webgpu/dawn.js';
import type { AdapterProbe } from '../backend/webgpu/device.js';
import { defaultTargetWorkgroups, planGemm, tileName } from '../backend/webgpu/gemm.js';
import { tilesFromEnv } from '../backend/webgpu/index.js';
import { ARCHITECTURE_NAMES, architecture } from '../nn/architectures.js';
import { forwardMacs, planLayers } from '../nn/plan.js';

export type WebGpuInfo =
  | {
      available: true;
      device: string;
      adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean };
      features: string[];
      limits: Record<string, number>;
      gemm: GemmPaths;
    }
  | { available: false; reason: string };

/** How the paper net's conv and linear layers run on this adapter (the forward GEMMs, batch 128). */
export interface GemmPaths {
  /** What each --precision computes in here. */
  fp32: string;
  mixed: string;
  tensor_cores: string;
  layers: { layer: string; m: number; n: number; k: number; groups: number; tiles: string }[];
}

/** GemmPaths for an adapter with `features` and `limits`. */
export function gemmPaths(probe: AdapterProbe, batch = 128): GemmPaths {
  const f16 = probe.features.includes('shader-f16');
  const layers = planLayers(architecture('paper')).flatMap((l) => {
    const spec = l.spec;
    if (spec.kind !== 'conv' && spec.kind !== 'linear') return [];
    const c = l.inShape[0];
    const problem =
      spec.kind === 'conv'
        ? { M: spec.outChannels / spec.groups, N: batch * l.outShape[1] * l.outShape[2], K: (c / spec.groups) * spec.kernel * spec.kernel, groups: spec.groups }
        : { M: batch, N: spec.outFeatures, K: l.inShape.reduce((a, b) => a * b), groups: 1 };
    const t = planGemm(problem, {
      choice: tilesFromEnv(), fallback: probe.info.fallback, maxGroups: probe.limits.maxComputeWorkgroupsPerDimension ?? 65535, maxSplits: 1,
      targetWorkgroups: defaultTargetWorkgroups(probe.info.fallback), workgroupBytes: probe.limits.maxComputeWorkgroupStorageSize ?? 16384,
    }).tiles;
    return [{ layer: spec.name, m: problem.M, n: problem.N, k: problem.K, groups: problem.groups, tiles: tileName(t) }];
  });
  return {
    fp32: 'float32 operands and sums (vec4 tiles)',
    mixed: f16 ? 'float16 operands, float32 products and sums (vec4 shader-f16 kernel)' : 'fp32: this adapter has no shader-f16',
    tensor_cores: probe.features.includes('chromium-experimental-subgroup-matrix') ? 'offered (chromium-experimental-subgroup-matrix) but not used yet' : 'not offered',
    layers,
  };
}

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
      gemm: gemmPaths(probe),
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
      lines.push(`          --precision fp32: ${b.gemm.fp32}; mixed: ${b.gemm.mixed}; tensor cores: ${b.gemm.tensor_cores}`);
      lines.push("          paper net, forward GEMMs at batch 128, each on the path above, with auto's tiles (tuned ones replace them once cached):");
      for (const l of b.gemm.layers) {
        lines.push(`            ${l.layer.padEnd(6)} M ${String(l.m).padStart(5)} N ${String(l.n).padStart(7)} K ${String(l.k).padStart(5)}${l.groups > 1 ? ` x${l.groups} groups` : '         '}  tiles ${l.tiles}`);
      }
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
