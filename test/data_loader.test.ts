// The loader: every image once per epoch in a seeded order, labels with their images, ten-crop
// and uint8 outputs, early exits, and byte-identical batches for 0, 1 and 2 worker threads.
import assert from 'node:assert/strict';
import { nodeLoaderThread } from '../src/data/loader_node.js';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { cropGeometry } from '../src/data/augment.js';
import { MemoryDataset, sharedBytes } from '../src/data/dataset.js';
import { Loader, type Batch, type LoaderOptions } from '../src/data/loader.js';
import { computeStats } from '../src/data/stats.js';
import { Rng } from '../src/rng/hash.js';
import { cropImages } from '../src/backend/cpu/crops.js';

const SHAPE: [number, number, number] = [3, 24, 20];
const COUNT = 37;

function randomSet(): MemoryDataset {
  const rng = new Rng(11);
  const images = sharedBytes(COUNT * SHAPE[0] * SHAPE[1] * SHAPE[2]);
  for (let i = 0; i < images.length; i++) images[i] = rng.below(256);
  const labels = Int32Array.from({ length: COUNT }, (_, i) => (i * 7) % 3);
  return new MemoryDataset('random', 'train', SHAPE, ['a', 'b', 'c'], ['a', 'b', 'c'], images, labels);
}

const set = randomSet();
const stats = computeStats(set);

function hashOf(b: Batch): string {
  const h = createHash('sha256');
  for (const a of [b.input, b.pixels, b.params, b.labels, b.indices]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/** SHA-256 of every batch of `epochs`, plus the indices seen. */
async function run(options: LoaderOptions, epochs: number[]): Promise<{ hashes: string[]; indices: number[][] }> {
  const loader = new Loader(set, stats, options);
  const hashes: string[] = [];
  const indices: number[][] = [];
  try {
    for (const e of epochs) {
      const seen: number[] = [];
      for await (const b of loader.epoch(e)) {
        hashes.push(hashOf(b));
        b.indices.forEach((index, k) => assert.equal(b.labels[k], set.label(index)));
        seen.push(...b.indices);
      }
      indices.push(seen);
    }
  } finally {
    await loader.close();
  }
  return { hashes, indices };
}

const TRAIN: LoaderOptions = { batch: 8, seed: 3, mode: 'train', crop: 16, startThread: nodeLoaderThread };

test('an epoch visits every image once, in a seeded order that changes per epoch', async () => {
  const { hashes, indices } = await run(TRAIN, [0, 1]);
  assert.equal(hashes.length, 10); // ceil(37 / 8) = 5 per epoch
  for (const seen of indices) assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: COUNT }, (_, i) => i));
  assert.notDeepEqual(indices[0], indices[1]);
  const again = await run(TRAIN, [1]);
  assert.deepEqual(again.indices[0], indices[1], 'epoch 1 alone is epoch 1 after epoch 0');
  assert.deepEqual(again.hashes, hashes.slice(5));
});

test('the same seed gives byte-identical batches with 0, 1 and 2 workers', async () => {
  const reference = await run(TRAIN, [0, 2]);
  for (const workers of [1, 2]) {
    const r = await run({ ...TRAIN, workers }, [0, 2]);
    assert.deepEqual(r.hashes, reference.hashes, `${workers} workers`);
  }
  const otherSeed = await run({ ...TRAIN, seed: 4 }, [0]);
  assert.notDeepEqual(otherSeed.hashes, reference.hashes.slice(0, 5));
});

test('evaluation: unshuffled subset, centre crops and ten-crop batches', async () => {
  const subset = [5, 1, 30, 2, 9];
  const loader = new Loader(set, stats, { batch: 2, seed: 1, mode: 'ten-crop', crop: 16, indices: subset, workers: 1, startThread: nodeLoaderThread });
  const counts: number[] = [];
  const seen: number[] = [];
  for await (const b of loader.epoch(0)) {
    counts.push(b.count);
    seen.push(...b.indices);
    assert.equal(b.views, 10);
    assert.equal(b.input.length, b.count * 10 * 3 * 16 * 16);
    assert.deepEqual(Array.from(b.params.subarray(0, 3)), [0, 0, 0]); // first view: top-left, not mirrored
    assert.deepEqual(Array.from(b.params.subarray(5 * 6, 5 * 6 + 3)), [0, 0, 1]); // sixth: top-left, mirrored
  }
  await loader.close();
  assert.deepEqual(counts, [2, 2, 1]);
  assert.deepEqual(seen, subset);
  const centre = new Loader(set, stats, { batch: 10, seed: 1, mode: 'centre', crop: 16, dropLast: true });
  assert.equal(centre.batchesPerEpoch, 3);
  for await (const b of centre.epoch(0)) assert.deepEqual(Array.from(b.params.subarray(0, 6)), [2, 4, 0, 0, 0, 0]);
  await centre.close();
});

test('uint8 output with workers, finished on the CPU, equals float output', async () => {
  const floats = new Loader(set, stats, { ...TRAIN, workers: 2 });
  const bytes = new Loader(set, stats, { ...TRAIN, workers: 2, output: 'uint8' });
  const a = floats.epoch(7);
  for await (const b of bytes.epoch(7)) {
    const f = (await a.next()).value!;
    assert.equal(b.input.length, 0);
    assert.equal(b.pixels.length, b.count * 3 * 24 * 20);
    const finished = new Float32Array(f.input.length);
    cropImages(cropGeometry(bytes.plan, b.count), b.pixels, b.params, bytes.plan.mean, finished);
    assert.deepEqual(finished, f.input);
  }
  await Promise.all([floats.close(), bytes.close()]);
});

test('leaving an epoch early lets the next one start cleanly; bad options are refused', async () => {
  const loader = new Loader(set, stats, { ...TRAIN, workers: 2, prefetch: 3 });
  for await (const b of loader.epoch(0)) {
    assert.equal(b.count, 8);
    break;
  }
  const full = await run(TRAIN, [1]);
  const hashes: string[] = [];
  for await (const b of loader.epoch(1)) hashes.push(hashOf(b));
  await loader.close();
  assert.deepEqual(hashes, full.hashes);
  assert.throws(() => new Loader(set, stats, { ...TRAIN, crop: 21 }), /crop 21 does not fit the stored 24 x 20/);
  assert.throws(() => new Loader(set, stats, { ...TRAIN, indices: [40] }), /index 40 is outside/);
});
