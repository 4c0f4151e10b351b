// Whole nets on WebGPU against the CPU backend: the mini net trained for 5 steps reproduces
// the CPU run's losses (same seed, so the same initial weights and dropout masks); the paper
// net's forward pass gives the CPU's logits (fc6 through the split path on llvmpipe); and 200
// training steps leave the backend's GPU memory (live buffers and bytes) as the first step left
// it, with one queue submission per step; uint8 batches cropped, mirrored and lit on the GPU
// train as the CPU's float batches do. Skipped, with the reason printed, only where no
// adapter exists and CI is unset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend } from '../src/backend/webgpu/dawn.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { MemoryDataset, sharedBytes } from '../src/data/dataset.js';
import { Loader } from '../src/data/loader.js';
import { computeStats } from '../src/data/stats.js';
import { feedBatch } from '../src/train/feed.js';
import { Rng } from '../src/rng/hash.js';
import { micro, NO_WEBGPU, randomArray, skipUnless } from './helpers.js';

const gpu = await createWebGpuBackend();
// In CI the suite must run (on llvmpipe at least): a missing adapter is a failure there.
const skip = skipUnless(gpu !== null, 'WebGPU', NO_WEBGPU);
if (gpu) console.log(`webgpu_net: ${gpu.device}`);

const SGD = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, form: 'paper' as const };

/** Relative difference of two numbers (absolute below 1e-6). */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);

async function trainSteps(backend: Backend, steps: number, batch: number, seed: number) {
  const arch = architecture('mini');
  const net = new Net(backend, arch, batch);
  net.initialize({ scheme: 'he', seed });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    backend.write(net.input, Float32Array.from(randomArray(batch * 28 * 28, 100 + step)));
    backend.write(net.labels, Float32Array.from({ length: batch }, (_, i) => (i * 3 + step) % 10));
    net.forward(batch, 'train', seed, step);
    net.backward();
    net.update(SGD);
    losses.push(await net.readLoss());
  }
  net.forward(batch, 'eval');
  return { losses, logits: await net.readLogits(batch), weights: await net.exportTensors() };
}

test('mini net: 5 training steps on WebGPU reproduce the CPU losses within 1e-4 (same seed, same dropout masks)', { skip }, async () => {
  const want = await trainSteps(new CpuBackend(), 5, 16, 7);
  const got = await trainSteps(gpu!, 5, 16, 7);
  console.log(`losses cpu ${want.losses.map((l) => l.toFixed(6)).join(' ')}`);
  console.log(`losses gpu ${got.losses.map((l) => l.toFixed(6)).join(' ')}`);
  want.losses.forEach((l, i) => assert.ok(rel(got.losses[i], l) <= 1e-4, `step ${i}: loss ${got.losses[i]} on WebGPU, ${l} on the CPU`));
  assert.ok(want.losses[4] < want.losses[0], 'the loss falls');
  // After 5 updates the weights and the eval-mode logits still agree (largest difference over
  // the largest value, as the PyTorch check measures).
  const scaleErr = (a: Float32Array, b: Float32Array) => {
    let d = 0;
    let m = 0;
    for (let i = 0; i < b.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    }
    return d / m;
  };
  assert.ok(scaleErr(got.logits, want.logits) <= 1e-4, `logits differ by ${scaleErr(got.logits, want.logits)}`);
  want.weights.forEach((w, i) => {
    const e = scaleErr(got.weights[i].data, w.data);
    assert.ok(e <= 1e-4, `${w.name} differs by ${e} of its largest value`);
  });
});

test('uint8 batches cropped, mirrored and lit on WebGPU train as the CPU float batches do', { skip }, async () => {
  // 40 RGB 28x28 images; training crops of 24 at random positions, mirrors, PCA lighting.
  const shape: [number, number, number] = [3, 28, 28];
  const rng = new Rng(21);
  const images = sharedBytes(40 * 3 * 28 * 28);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.uniform() * 256);
  const set = new MemoryDataset('noise', 'train', shape, ['a', 'b'], ['a', 'b'], images, Int32Array.from({ length: 40 }, (_, n) => n % 2));
  const stats = computeStats(set);
  const options = { mode: 'train' as const, seed: 3, crop: 24, batch: 8, scale: 1 / 64 };
  const run = async (backend: Backend, output: 'float32' | 'uint8') => {
    const loader = new Loader(set, stats, { ...options, output });
    const net = new Net(backend, architecture('mini', [3, 24, 24], 2), 8);
    net.initialize({ scheme: 'he', seed: 4 });
    const inputs: Float32Array[] = [];
    const losses: number[] = [];
    let step = 0;
    for await (const b of loader.epoch(1)) {
      feedBatch(net, loader.plan, b);
      inputs.push(await backend.read(net.input, b.count * 3 * 24 * 24));
      backend.write(net.labels, b.labels);
      net.forward(b.count, 'train', 4, step++);
      net.backward();
      net.update(SGD);
      losses.push(await net.readLoss());
    }
    await loader.close();
    return { inputs, losses };
  };
  const want = await run(new CpuBackend(), 'float32');
  const got = await run(gpu!, 'uint8');
  assert.equal(got.inputs.length, 5);
  got.inputs.forEach((x, k) => {
    const worst = x.reduce((m, v, i) => Math.max(m, Math.abs(v - want.inputs[k][i])), 0);
    assert.ok(worst <= 1e-5, `batch ${k}: input differs by up to ${worst}`);
  });
  want.losses.forEach((l, i) => assert.ok(rel(got.losses[i], l) <= 1e-4, `step ${i}: loss ${got.losses[i]} on WebGPU, ${l} on the CPU`));
});

test('paper net forward (batch 1, eval): WebGPU logits equal the CPU logits', { skip }, async () => {
  const logits: Float32Array[] = [];
  for (const backend of [new CpuBackend(), gpu!]) {
    const net = new Net(backend, architecture('paper'), 1);
    net.initialize({ scheme: 'he', seed: 3 });
    backend.write(net.input, Float32Array.from(randomArray(3 * 227 * 227, 4, 60)));
    net.forward(1, 'eval');
    logits.push(await net.readLogits(1));
  }
  let d = 0;
  let m = 0;
  for (let i = 0; i < 1000; i++) {
    d = Math.max(d, Math.abs(logits[1][i] - logits[0][i]));
    m = Math.max(m, Math.abs(logits[0][i]));
  }
  console.log(`paper logits: max |webgpu - cpu| / max |cpu| = ${(d / m).toExponential(2)}`);
  assert.ok(d / m <= 1e-4, `max relative error ${d / m}`);
});


test('no leak: 200 training steps leave live GPU buffers and bytes as the first step left them, one submission per step', { skip }, async () => {
  const backend = (await createWebGpuBackend())!;
  try {
    const batch = 4;
    const net = new Net(backend, micro, batch);
    net.initialize({ scheme: 'he', seed: 1 });
    const input = Float32Array.from(randomArray(batch * 3 * 15 * 15, 2));
    const labels = Float32Array.from({ length: batch }, (_, i) => i % 3);
    const step = async (s: number) => {
      backend.write(net.input, input);
      backend.write(net.labels, labels);
      net.forward(batch, 'train', 1, s);
      net.backward();
      net.update(SGD);
      return net.readLoss();
    };
    await step(0);
    const after1 = backend.stats();
    const t0 = performance.now();
    let loss = 0;
    for (let s = 1; s <= 200; s++) loss = await step(s);
    const ms = (performance.now() - t0) / 200;
    const after201 = backend.stats();
    console.log(`after step 1: ${JSON.stringify(after1)}; after 201: ${JSON.stringify(after201)}; ${ms.toFixed(2)} ms/step`);
    assert.ok(Number.isFinite(loss));
    assert.equal(after201.buffers, after1.buffers, 'live GPU buffers');
    assert.equal(after201.bytes, after1.bytes, 'live GPU bytes');
    assert.equal(after201.pipelines, after1.pipelines, 'pipelines');
    assert.equal(after201.submissions - after1.submissions, 200, 'one queue submission per step');
  } finally {
    backend.dispose();
  }
});
