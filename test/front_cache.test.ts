// The kept front of a fine-tune (front_cache.ts): the frozen layers run once per image (the
// first epoch and the first validation), never after; the weights are those of running every
// layer every step; a budget stops keeping, says so, and changes nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { MemoryDataset, sharedBytes } from '../src/data/dataset.js';
import { computeStats } from '../src/data/stats.js';
import { Net } from '../src/nn/net.js';
import type { Network } from '../src/nn/network.js';
import { trainingData } from '../src/train/data.js';
import { FrontCache } from '../src/train/front_cache.js';
import { newRunState, trainEpochs, type TrainConfig } from '../src/train/loop.js';
import { Rng } from '../src/rng/hash.js';
import { micro } from './helpers.js';

const FC8 = 22; // micro's layers: ... fc7 19, relu 20, dropout 21, fc8 22

function data() {
  const rng = new Rng(4);
  const count = 24;
  const images = sharedBytes(count * 3 * 15 * 15);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.uniform() * 256);
  const set = new MemoryDataset('random', 'train', [3, 15, 15], ['a', 'b', 'c'], ['a', 'b', 'c'], images, Int32Array.from({ length: count }, (_, i) => i % 3));
  return trainingData({ name: 'random', origin: 'memory', train: set, test: set, stats: computeStats(set) }, {
    spec: 'random', crop: 15, batch: 4, seed: 2, validation: 4, scale: 1 / 64, workers: 0, augment: 'none',
  });
}

const config: TrainConfig = {
  arch: 'micro', data: 'random', epochs: 3, batch: 4, lr: 0.05, schedule: 'constant', momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: 2, checkpointEvery: 0, out: 'memory',
};

async function train(make: (net: Net, d: ReturnType<typeof data>) => Network) {
  const d = data();
  const net = new Net(new CpuBackend(), micro, 4, { trainableFrom: FC8 });
  net.initialize({ scheme: 'he', seed: 3 });
  const passes: { from: number; to: number }[] = [];
  const forward = net.forward.bind(net);
  net.forward = (batch, mode, seed, step, firstImage, from = 0, to = Infinity) => {
    passes.push({ from, to });
    forward(batch, mode, seed, step, firstImage, from, to);
  };
  const network = make(net, d);
  await trainEpochs(network, d, newRunState(config), { report: () => {}, save: async () => {}, savedIn: 'memory' });
  return { network, passes, weights: await net.exportTensors('value') };
}

test('the frozen front runs once per image: 20 training and 4 validation images in the first epoch, none after', async () => {
  const notices: string[] = [];
  const kept = await train((net, d) => new FrontCache(net, [d.train.plan, d.val.plan], (l) => notices.push(l)));
  const plain = await train((net) => net);
  const frontRuns = kept.passes.filter((p) => p.from === 0).length;
  assert.equal(frontRuns, 5 + 1, 'five training batches and one validation batch ran the front, once');
  assert.equal(kept.passes.filter((p) => p.from === 21).length, 3 * 5 + 3 * 1, 'every step and validation batch ran from the kept outputs');
  assert.equal((kept.network as FrontCache).keptImages, 24);
  assert.deepEqual(notices, []);
  assert.equal(plain.passes.filter((p) => p.from === 0).length, 3 * 6, 'without keeping, every pass runs every layer');
  kept.weights.forEach((t, i) => assert.deepEqual(t.data, plain.weights[i].data, `${t.name}: the same weights as running every layer`));
});

test('past its budget the cache keeps no more, says so once, and trains the same', async () => {
  const notices: string[] = [];
  const floats = 5; // micro's fc7 width: one kept image is 20 bytes
  const small = await train((net, d) => new FrontCache(net, [d.train.plan, d.val.plan], (l) => notices.push(l), 6 * 4 * floats));
  const plain = await train((net) => net);
  assert.equal((small.network as FrontCache).keptImages, 6);
  assert.equal(notices.length, 1);
  assert.match(notices[0], /kept the frozen layers' outputs of 6 images \(0.0 MiB, the limit\); the others run through every layer/);
  small.weights.forEach((t, i) => assert.deepEqual(t.data, plain.weights[i].data, t.name));
});
