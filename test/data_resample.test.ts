// Small images scaled up for nets with large inputs (the paper net on Fashion-MNIST): bilinear
// sampling as PyTorch's interpolate(align_corners=False), grey replicated to RGB, statistics
// that match the scaled images, and worker threads that rebuild the scaled reader.
import assert from 'node:assert/strict';
import { nodeLoaderThread } from '../src/data/loader_node.js';
import { test } from 'node:test';
import { MemoryDataset, sharedBytes } from '../src/data/dataset.js';
import { Loader } from '../src/data/loader.js';
import { ResampledDataset, resampledStats, resampleImage } from '../src/data/resample.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { computeStats } from '../src/data/stats.js';
import { openTrainingData } from '../src/train/open_data.js';

test('bilinear scaling equals PyTorch interpolate(mode=bilinear, align_corners=False)', () => {
  const input = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 255]; // 3 x 5
  const out = new Float32Array(16);
  resampleImage(input, [1, 3, 5], 4, 1, out);
  // torch 1.13: F.interpolate(x.reshape(1, 1, 3, 5), size=(4, 4), mode='bilinear', align_corners=False)
  const torch = [1.25, 13.75, 26.25, 38.75, 32.5, 45.0, 57.5, 70.0, 70.0, 82.5, 95.0, 145.234375, 101.25, 113.75, 126.25, 239.375];
  out.forEach((v, i) => assert.ok(Math.abs(v - torch[i]) < 1e-4, `element ${i}: ${v}, torch ${torch[i]}`));
  const bytes = new Uint8Array(3 * 16);
  resampleImage(input, [1, 3, 5], 4, 3, bytes);
  for (let c = 0; c < 3; c++) assert.deepEqual([...bytes.subarray(c * 16, (c + 1) * 16)], torch.map(Math.round), `grey replicated to channel ${c}`);
});

function greySet(count: number): MemoryDataset {
  const images = sharedBytes(count * 28 * 28);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + (i >> 5) * 11) & 255;
  return new MemoryDataset('grey', 'train', [1, 28, 28], ['a', 'b'], ['a', 'b'], images, Int32Array.from({ length: count }, (_, n) => n % 2));
}

test("scaled images' statistics: the mean image is the scaled mean, up to rounding to bytes", () => {
  const set = greySet(30);
  const scaled = new ResampledDataset(set, 64, 3);
  assert.deepEqual(scaled.shape, [3, 64, 64]);
  const derived = resampledStats(computeStats(set), 64, 3);
  const direct = computeStats(scaled);
  let worst = 0;
  for (let k = 0; k < direct.meanImage.length; k++) worst = Math.max(worst, Math.abs(direct.meanImage[k] - derived.meanImage[k]));
  assert.ok(worst <= 0.5, `mean image differs by ${worst}`);
  derived.channelMean.forEach((m, c) => assert.ok(Math.abs(m - direct.channelMean[c]) <= 0.5, `channel ${c}`));
  // Replicated grey: one principal component, along (1, 1, 1).
  assert.ok(derived.eigenvalues[1] < 1e-9 * derived.eigenvalues[0]);
  derived.eigenvectors[0].forEach((v) => assert.ok(Math.abs(Math.abs(v) - 1 / Math.sqrt(3)) < 1e-9));
});

test('loaders over scaled images give the same batches with and without workers', async () => {
  const set = greySet(12);
  const scaled = new ResampledDataset(set, 40, 3);
  const stats = resampledStats(computeStats(set), 40, 3);
  const options = { batch: 4, seed: 2, mode: 'train' as const, crop: 35, startThread: nodeLoaderThread };
  const inline = new Loader(scaled, stats, { ...options, workers: 0 });
  const threaded = new Loader(scaled, stats, { ...options, workers: 2 });
  const other = threaded.epoch(1);
  for await (const a of inline.epoch(1)) assert.deepEqual((await other.next()).value!.input, a.input);
  await Promise.all([inline.close(), threaded.close()]);
});

test('the paper net on Fashion-MNIST: grey 28x28 scaled to 256, replicated, 227 crops', async () => {
  const data = await openTrainingData({ spec: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, crop: 227, channels: 3, batch: 2, seed: 1, validation: 10, scale: 1, workers: 0, limit: 50 });
  assert.deepEqual(data.input, [3, 227, 227]);
  assert.deepEqual(data.sets.train.shape, [3, 256, 256]);
  const b = (await data.train.epoch(1).next()).value!;
  assert.equal(b.input.length, 2 * 3 * 227 * 227);
  await data.close();
  // Smaller nets still crop what fits.
  const mini = await openTrainingData({ spec: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, crop: 28, batch: 2, seed: 1, validation: 10, scale: 1, workers: 0, limit: 50 });
  assert.deepEqual(mini.input, [1, 28, 28]);
  await mini.close();
});

test('without --val, a set smaller than 50,000 images holds out a tenth (the bundled subset trains)', async () => {
  const data = await openTrainingData({ spec: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, crop: 28, batch: 100, seed: 1, scale: 1, workers: 0 });
  const trainCount = data.sets.train.count;
  assert.ok(trainCount < 50_000, `the bundled subset has ${trainCount} training images`);
  assert.equal(data.val.batchesPerEpoch, Math.ceil(Math.floor(trainCount / 10) / 100));
  assert.equal(data.train.batchesPerEpoch, Math.ceil((trainCount - Math.floor(trainCount / 10)) / 100));
  await data.close();
});
