// CPU throughput of forward (inference) and training steps, as JSON lines:
//   node dist/bench/cpu.js [--arch paper,mini] [--mode infer,train] [--batch N] [--steps N]
// Each line: {"arch","mode","batch","backend","img_per_s","gflop_per_s","ms_per_step",...}; the
// median of `steps` timed steps after one warm-up step. Random inputs and labels.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { product } from '../src/core/geometry.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { forwardMacs, planLayers } from '../src/nn/plan.js';
import { Rng } from '../src/rng/hash.js';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'mini,paper' },
    mode: { type: 'string', default: 'infer,train' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '3' },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const name of values.arch!.split(',')) {
  for (const mode of values.mode!.split(',') as ('infer' | 'train')[]) {
    const arch = architecture(name);
    const batch = Number(values.batch ?? (name === 'mini' ? 128 : mode === 'train' ? 32 : 32));
    const steps = Number(values.steps);
    const backend = new CpuBackend();
    const net = new Net(backend, arch, batch);
    net.initialize({ scheme: arch.defaultInit, seed: 1 });
    const rng = new Rng(2);
    backend.write(net.input, Float32Array.from({ length: batch * product(arch.input) }, () => rng.normal() * 60 * arch.inputScale));
    backend.write(net.labels, Float32Array.from({ length: batch }, () => rng.below(arch.classes)));
    const times: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const start = performance.now();
      if (mode === 'train') {
        net.forward(batch, 'train', 1, s);
        net.backward();
        net.update({ lr: 1e-4, momentum: 0.9, weightDecay: 5e-4, form: 'paper' });
        await net.readLoss();
      } else {
        net.forward(batch, 'eval');
        await net.readLogits(batch);
      }
      if (s > 0) times.push(performance.now() - start);
    }
    const ms = median(times);
    const flopsPerImage = 2 * forwardMacs(planLayers(arch)) * (mode === 'train' ? 3 : 1);
    console.log(
      JSON.stringify({
        arch: name, mode, batch, backend: backend.device, threads: availableParallelism(), img_per_s: +((batch / ms) * 1000).toFixed(2),
        gflop_per_s: +((flopsPerImage * batch) / ms / 1e6).toFixed(2), ms_per_step: +ms.toFixed(1), steps, node: process.version,
      }),
    );
  }
}
