// `alexnet bench`: images per second of forward (infer) or full training steps (train) on
// random data, the median of timed steps after one warm-up step. Speed lives here and in
// bench/, never in tests.
import type { Backend } from '../backend/backend.js';
import { product } from '../core/geometry.js';
import { architecture } from '../nn/architectures.js';
import { Net } from '../nn/net.js';
import { forwardMacs, planLayers } from '../nn/plan.js';
import { Rng } from '../rng/hash.js';

export interface BenchOptions {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  steps: number;
}

export interface BenchResult {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  backend: string;
  device: string;
  img_per_s: number;
  ms_per_step: number;
  gflop_per_s: number;
  steps: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runBenchmark(o: BenchOptions, backend: Backend): Promise<BenchResult> {
  const arch = architecture(o.arch);
  const net = new Net(backend, arch, o.batch);
  net.initialize({ scheme: arch.defaultInit, seed: 1 });
  const rng = new Rng(2);
  backend.write(net.input, Float32Array.from({ length: o.batch * product(arch.input) }, () => rng.normal() * 60 * arch.inputScale));
  backend.write(net.labels, Float32Array.from({ length: o.batch }, () => rng.below(arch.classes)));
  const times: number[] = [];
  for (let s = 0; s <= o.steps; s++) {
    const start = performance.now();
    if (o.mode === 'train') {
      net.forward(o.batch, 'train', 1, s);
      net.backward();
      net.update({ lr: 1e-5, momentum: 0.9, weightDecay: 5e-4, form: 'paper' });
      await net.readLoss(); // waits for the step to finish on every backend
    } else {
      net.forward(o.batch, 'eval');
      await net.readLogits(1);
    }
    if (s > 0) times.push(performance.now() - start);
  }
  const ms = median(times);
  const flopsPerImage = 2 * forwardMacs(planLayers(arch)) * (o.mode === 'train' ? 3 : 1);
  return {
    arch: o.arch, batch: o.batch, mode: o.mode, backend: backend.name, device: backend.device,
    img_per_s: +((o.batch / ms) * 1000).toFixed(2), ms_per_step: +ms.toFixed(2),
    gflop_per_s: +((flopsPerImage * o.batch) / ms / 1e6).toFixed(2), steps: o.steps,
  };
}
