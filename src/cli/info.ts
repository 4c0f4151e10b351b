// `alexnet info`: what this machine offers and what each architecture costs.
import { availableParallelism } from 'node:os';
import { ARCHITECTURE_NAMES, architecture } from '../nn/architectures.js';
import { forwardMacs, planLayers } from '../nn/plan.js';

export function collectInfo() {
  return {
    node: process.version,
    cpu_threads: availableParallelism(),
    backends: {
      cpu: { available: true, device: 'TypeScript reference ops with an im2col + blocked GEMM fast path' },
      webgpu: { available: false, reason: 'the WebGPU backend is not part of this build yet' },
    },
    architectures: ARCHITECTURE_NAMES.map((name) => {
      const arch = architecture(name);
      const layers = planLayers(arch);
      const parameters = layers.reduce((s, l) => s + (l.weightShape ? l.weightShape.reduce((a, b) => a * b) + l.outShape[0] : 0), 0);
      return { name, input: arch.input, classes: arch.classes, parameters, forward_macs: forwardMacs(layers) };
    }),
  };
}

export function formatInfo(info: ReturnType<typeof collectInfo>): string {
  const lines = [`node ${info.node}, ${info.cpu_threads} CPU threads`, 'backends:'];
  for (const [name, b] of Object.entries(info.backends)) {
    lines.push(`  ${name.padEnd(7)} ${b.available ? 'available' : 'unavailable'}: ${'device' in b ? b.device : b.reason}`);
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
