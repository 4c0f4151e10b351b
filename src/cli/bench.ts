// Throughput of a whole net on a backend: the numbers `alexnet bench` prints (DESIGN.md
// section 8). Works with any Backend; on request, WebGPU adds per-op GPU times (timestamp
// queries) and the CPU backend the wall time of each kind of kernel job. Each timed step ends with a read-back of one float (the loss, or one logit), so its
// time covers the GPU finishing the work; the result is the median over the timed steps,
// after warm-up steps that also build every pipeline.
import type { Backend } from '../backend/backend.js';
import { PAPER_SGD } from '../backend/cpu/sgd.js';
import { architecture } from '../nn/architectures.js';
import { Net } from '../nn/net.js';
import { forwardMacs, planLayers } from '../nn/plan.js';
import { Rng } from '../rng/hash.js';
import { CpuBackend } from '../backend/cpu/index.js';
import { WebGpuBackend } from '../backend/webgpu/index.js';

export interface BenchOptions {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  backend: Backend;
  /** Timed steps (default 10) after `warmup` untimed ones (default 3). */
  steps?: number;
  warmup?: number;
  /** Per-op time over one extra step (WebGPU with timestamp-query; the CPU backend's fast mode). */
  profile?: boolean;
}

export interface BenchResult {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  backend: string;
  device: string;
  img_per_s: number;
  ms_per_step: number;
  /** Useful arithmetic: 2 x multiply-adds per image (x3 for a training step) per second. */
  gflop_per_s: number;
  /** Milliseconds per op over one step, largest first (with `profile`): GPU time, or CPU wall time per kernel job. */
  profile?: { op: string; calls: number; ms: number }[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function benchmark(o: BenchOptions): Promise<BenchResult> {
  const { backend, batch } = o;
  const arch = architecture(o.arch);
  const net = new Net(backend, arch, batch);
  net.initialize({ scheme: arch.defaultInit, seed: 1 });
  const rng = new Rng(2);
  const [c, h, w] = arch.input;
  backend.write(net.input, Float32Array.from({ length: batch * c * h * w }, () => rng.normal()));
  backend.write(net.labels, Float32Array.from({ length: batch }, () => rng.below(arch.classes)));
  const sgd = { lr: 1e-4, ...PAPER_SGD };
  let step = 0;
  const run = async () => {
    if (o.mode === 'train') {
      net.forward(batch, 'train', 1, step++);
      net.backward();
      net.update(sgd);
      await net.readLoss();
    } else {
      net.forward(batch, 'eval');
      await backend.read(net.logits, 1);
    }
  };
  for (let i = 0; i < (o.warmup ?? 3); i++) await run();
  const times: number[] = [];
  for (let i = 0; i < (o.steps ?? 10); i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  const result: BenchResult = {
    arch: o.arch,
    batch,
    mode: o.mode,
    backend: backend.name,
    device: backend.device,
    img_per_s: (batch * 1000) / ms,
    ms_per_step: ms,
    gflop_per_s: (2 * forwardMacs(planLayers(arch)) * (o.mode === 'train' ? 3 : 1) * batch) / ms / 1e6,
  };
  if (o.profile && (backend instanceof WebGpuBackend || backend instanceof CpuBackend) && backend.startProfile()) {
    await run();
    const entries = await backend.profile();
    backend.stopProfile();
    result.profile = entries.map((e) => ({ op: e.op, calls: e.calls, ms: Number(e.ms.toFixed(4)) }));
  }
  return result;
}
