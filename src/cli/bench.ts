// Throughput of a whole net on a backend: the numbers `alexnet bench` prints (DESIGN.md
// section 8). Works with any Backend; on request, WebGPU adds per-op GPU times (timestamp
// queries) and the CPU backend the wall time of each kind of kernel job. Each timed step ends with a read-back of one float (the loss, or one logit), so its
// time covers the GPU finishing the work; the result is the median over the timed steps,
// after warm-up steps that also build every pipeline.
import type { Backend, Precision } from '../backend/backend.js';
import { INITIAL_SCALE } from '../optim/loss_scale.js';
import { tuneOnFirstUse } from '../backend/webgpu/tile_cache.js';
import { PAPER_SGD } from '../backend/cpu/sgd.js';
import { architecture } from '../nn/architectures.js';
import { Net } from '../nn/net.js';
import type { Network } from '../nn/network.js';
import { DataParallel } from '../parallel/data.js';
import { forwardMacs, planLayers } from '../nn/plan.js';
import { Rng } from '../rng/hash.js';
import { product } from '../core/geometry.js';
import { CpuBackend } from '../backend/cpu/index.js';
import { WebGpuBackend } from '../backend/webgpu/index.js';

export interface BenchOptions {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  backend: Backend;
  /** More backends of the same kind: the step runs data-parallel over all (src/parallel/data.ts). */
  more?: Backend[];
  /** Timed steps (default 10) after `warmup` untimed ones (default 3). */
  steps?: number;
  warmup?: number;
  /** Per-op time over one extra step (WebGPU with timestamp-query; the CPU backend's fast mode). */
  profile?: boolean;
  /** Where the GEMM tile autotune says what it does (tile_cache.ts; one device, hardware adapters). */
  notice?: (line: string) => void;
}

export interface BenchResult {
  arch: string;
  batch: number;
  mode: 'train' | 'infer';
  backend: string;
  device: string;
  /** What the GEMMs computed in. */
  precision: Precision;
  /** Devices the batch is spread over. */
  devices: number;
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
  const backends = [backend, ...(o.more ?? [])];
  const arch = architecture(o.arch);
  const net: Network = backends.length === 1 ? new Net(backend, arch, batch) : new DataParallel(backends, arch, batch);
  net.initialize({ scheme: arch.defaultInit, seed: 1 });
  const rng = new Rng(2);
  const perImage = product(arch.input);
  for (const slot of net.inputSlots(batch)) {
    slot.backend.write(slot.input, Float32Array.from({ length: slot.count * perImage }, () => rng.normal()));
    slot.backend.write(slot.labels, Float32Array.from({ length: slot.count }, () => rng.below(arch.classes)));
  }
  // A mixed step pays for what training adds to it: the loss scale and the overflow check.
  const mixed = backend.precision === 'mixed';
  const lossScale = mixed ? INITIAL_SCALE : 1;
  const sgd = { lr: 1e-4, ...PAPER_SGD, gradScale: 1 / lossScale };
  let step = 0;
  const run = async () => {
    if (o.mode === 'train') {
      await net.forward(batch, 'train', 1, step++);
      await net.backward(lossScale);
      if (mixed) await net.gradientsFinite();
      await net.update(sgd);
      await net.readLoss();
    } else {
      await net.forward(batch, 'eval');
      await net.readLogits(batch);
    }
  };
  if (backends.length === 1) {
    const pass = o.mode === 'train' ? async () => (await net.forward(batch, 'train', 1, 0), await net.backward(lossScale)) : async () => net.forward(batch, 'eval');
    await tuneOnFirstUse(backend, pass, { notice: o.notice ?? (() => undefined) });
  }
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
    precision: backend.precision,
    devices: backends.length,
    img_per_s: (batch * 1000) / ms,
    ms_per_step: ms,
    gflop_per_s: (2 * forwardMacs(planLayers(arch)) * (o.mode === 'train' ? 3 : 1) * batch) / ms / 1e6,
  };
  if (o.profile && backends.length === 1 && (backend instanceof WebGpuBackend || backend instanceof CpuBackend) && backend.startProfile()) {
    await run();
    const entries = await backend.profile();
    backend.stopProfile();
    result.profile = entries.map((e) => ({ op: e.op, calls: e.calls, ms: Number(e.ms.toFixed(4)) }));
  }
  return result;
}
