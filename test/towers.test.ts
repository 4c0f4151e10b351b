// The paper's two-tower split (src/parallel/towers.ts) against one device: the plan exchanges
// where the paper does (conv3 and fc6-fc8 read both towers), and 5 SGD steps of a small
// paper-family net with LRN, groups and dropout on two CPU backends, and on two WebGPU devices
// (llvmpipe here), give the one-device run's losses and weights within 1e-5 relative. Its
// checkpoints are a one-device run's files, both ways: the same tensors compute the same logits
// on one device and in towers, and a run resumed into towers (weights and momenta) continues as
// the one-device run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend, probeAdapter } from '../src/backend/webgpu/dawn.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { architecture, paperFamily } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import type { Network } from '../src/nn/network.js';
import { planTowers } from '../src/parallel/tower_plan.js';
import { TowerParallel } from '../src/parallel/towers.js';
import { Rng } from '../src/rng/hash.js';
import { assertSameRun, trainSteps, assertOverflowSeen } from './devices_harness.js';
import { assertClose, micro, NO_WEBGPU, skipUnless } from './helpers.js';

/** The micro net with an even fc width and class count (each tower takes half of every layer). */
const net2 = paperFamily({
  name: 'micro-towers', input: [3, 15, 15], classes: 4, conv: [4, 6, 6, 6, 4], conv1Kernel: 3, conv1Stride: 1, conv1Pad: 1, conv2Kernel: 5,
  hidden: 6, lrn: { size: 3, alpha: 0.05, beta: 0.75, k: 2, alphaDividedBySize: false }, groups: 2, rounding: 'floor', dropout: 0.5,
  convBiasInit: 0.1, fcBiasInit: 0.1,
});
const BATCH = 5;
const STEPS = 5;
const SEED = 7;

/** Random images and labels for each step, written to every device that takes input. */
function feed(net: Network, step: number): void {
  const rng = new Rng(200 + step);
  const images = Float32Array.from({ length: BATCH * 3 * 15 * 15 }, () => rng.normal());
  const labels = Float32Array.from({ length: BATCH }, () => rng.below(net2.classes));
  for (const slot of net.inputSlots(BATCH)) {
    slot.backend.write(slot.input, images);
    slot.backend.write(slot.labels, labels);
  }
}

const run = (net: Network, lossScale?: number) => trainSteps(net, { seed: SEED, steps: STEPS, batch: BATCH, feed, lossScale });

async function assertMatchesOneDevice(make: () => Promise<Backend>): Promise<void> {
  const one = await run(new Net(await make(), net2, BATCH));
  const towers = await run(new TowerParallel([await make(), await make()], net2, BATCH));
  assertSameRun('towers', towers, one);
}

test("the paper net's towers exchange where the paper's do", () => {
  const segments = planTowers(architecture('paper'));
  const names = (s: (typeof segments)[number]) => s.layers.map((l) => ('name' in l.spec ? l.spec.name : l.spec.kind)).join(' ');
  assert.deepEqual(
    segments.map((s) => `${s.input}${s.partial ? ' (both towers)' : ''}: ${names(s)} -> ${s.output}`),
    [
      'full (both towers): conv1 relu -> split',
      'full: lrn maxpool -> full',
      'split: conv2 relu -> split',
      'full: lrn maxpool -> full',
      'full (both towers): conv3 relu conv4 relu conv5 relu maxpool flatten -> split',
      'full (both towers): fc6 relu -> split',
      'full: dropout -> full',
      'full (both towers): fc7 relu -> split',
      'full: dropout -> full',
      'full (both towers): fc8 -> split',
    ],
  );
  // conv2's group 0 is tower A's: 128 kernels over tower A's 48 maps.
  assert.deepEqual(segments[2].layers[0].weightShape, [128, 48, 5, 5]);
  assert.throws(() => planTowers(architecture('torchvision')), /no towers/);
  assert.throws(() => planTowers(micro), /fc6 has 5 outputs/);
});

test('two towers on two CPU backends: 5 steps as on one backend', () => assertMatchesOneDevice(async () => new CpuBackend()));

test('two towers with loss scaling: scaled gradients, divided out by the update, give the unscaled run; an overflow is seen', async () => {
  const one = await run(new Net(new CpuBackend(), net2, BATCH));
  const towers = () => new TowerParallel([new CpuBackend(), new CpuBackend()], net2, BATCH);
  assertSameRun('towers, loss scale 1024', await run(towers(), 1024), one);
  await assertOverflowSeen(towers(), BATCH, feed);
});

const skip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

test('two towers on two WebGPU devices: 5 steps as on one device', { skip }, () => assertMatchesOneDevice(async () => (await createWebGpuBackend())!));

/** Eval-mode logits of `net` on step `step`'s images (no dropout: a function of the weights alone). */
async function evalLogits(net: Network, step: number): Promise<Float32Array> {
  feed(net, step);
  await net.forward(BATCH, 'eval');
  return net.readLogits(BATCH);
}

const byName = (tensors: NamedTensor[]) => new Map(tensors.map((t) => [t.name, t]));

test("the towers' checkpoint tensors are a one-device net's: the same weights compute the same logits, both ways", async () => {
  // One-device weights (a known layout: whole tensors) into the towers: each device must take
  // its own half, so the towers compute the one-device logits. A swap of the halves, even one
  // undone again by the export, computes other logits (the classes' halves exchanged).
  const fresh = new Net(new CpuBackend(), net2, BATCH);
  fresh.initialize({ scheme: 'paper', seed: 99 });
  const want = await fresh.exportTensors();
  const towers = new TowerParallel([new CpuBackend(), new CpuBackend()], net2, BATCH);
  towers.importTensors(byName(want), 'one device');
  assertClose('towers on one-device weights: logits', await evalLogits(towers, 0), await evalLogits(fresh, 0), 1e-5);
  assert.deepEqual(await towers.exportTensors(), want);

  // Trained towers' export into one device: the one-device net computes the towers' logits.
  const trained = await run(new TowerParallel([new CpuBackend(), new CpuBackend()], net2, BATCH));
  const single = new Net(new CpuBackend(), net2, BATCH);
  single.importTensors(byName(trained.weights), 'towers');
  assert.deepEqual(await single.exportTensors(), trained.weights);
  towers.importTensors(byName(trained.weights), 'towers');
  assertClose('one device on the towers\' weights: logits', await evalLogits(single, 1), await evalLogits(towers, 1), 1e-5);
});

test('a run resumed into two towers (weights and momenta from a checkpoint) continues as the one-device run', async () => {
  const one = await run(new Net(new CpuBackend(), net2, BATCH));
  // Three steps on one device, saved as a checkpoint holds them: weights and momenta.
  const first = new Net(new CpuBackend(), net2, BATCH);
  const head = await trainSteps(first, { seed: SEED, steps: 3, batch: BATCH, feed });
  const momenta = await first.exportTensors('velocity');
  const towers = new TowerParallel([new CpuBackend(), new CpuBackend()], net2, BATCH);
  towers.importTensors(byName(head.weights), 'weights.safetensors');
  towers.importTensors(byName(momenta), 'optimizer.safetensors', 'velocity');
  assert.deepEqual(await towers.exportTensors(), head.weights, 'the weights after importing the momenta');
  assert.deepEqual(await towers.exportTensors('velocity'), momenta, 'the momenta');
  const tail = await trainSteps(towers, { seed: SEED, steps: STEPS, batch: BATCH, feed, from: 3 });
  assertSameRun('3 steps on one device, 2 in towers', { losses: [...head.losses, ...tail.losses], weights: tail.weights }, one);
});
