// The training loop: the paper's SGD over shuffled mini-batches, a validation pass each epoch,
// the test set at the end, and the weights saved with the settings needed to reuse them.
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { SgdForm } from '../backend/cpu/sgd.js';
import { TrainingError, UsageError } from '../core/errors.js';
import { channelMeans, fillBatch, sliceSet, type Preprocessing } from '../data/batches.js';
import { loadData } from '../data/source.js';
import { writeSafetensors } from '../io/safetensors.js';
import { architecture } from '../nn/architectures.js';
import type { InitScheme } from '../nn/layers.js';
import { Net } from '../nn/net.js';
import { Rng } from '../rng/hash.js';
import { evaluate, type EvalResult } from './evaluate.js';

export interface TrainConfig {
  arch: string;
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  sgdForm: SgdForm;
  seed: number;
  init?: InitScheme; // the architecture's default when absent
  biasInit?: number;
  /** Multiplies mean-subtracted pixels; the architecture's default when absent. */
  inputScale?: number;
  /** Training images held out for validation. */
  validation: number;
  /** Use only the first `limit` training images (quick runs). */
  limit?: number;
  out: string;
}

export type TrainEvent =
  | { event: 'start'; arch: string; data: string; origin: string; train: number; val: number; test: number; parameters: number; backend: string; memory_bytes: number }
  | { event: 'step'; epoch: number; step: number; steps: number; loss: number; img_per_s: number }
  | { event: 'epoch'; epoch: number; train_loss: number; val_top1: number; val_top5: number; val_loss: number; img_per_s: number; seconds: number }
  | { event: 'done'; test_top1: number; test_top5: number; test_n: number; seconds: number; checkpoint: string };

/** What eval and forward need to use saved weights: written next to them as config.json. */
export interface SavedConfig {
  arch: string;
  input: [number, number, number];
  classes: string[];
  preprocessing: Preprocessing;
  data: string;
}

export async function train(config: TrainConfig, backend: Backend, report: (e: TrainEvent) => void): Promise<EvalResult> {
  const started = performance.now();
  const data = await loadData(config.data);
  const train = config.limit ? sliceSet(data.train, 0, Math.min(config.limit, data.train.count)) : data.train;
  if (config.validation >= train.count) {
    throw new UsageError(`--val ${config.validation} leaves no training images (the set has ${train.count})`);
  }
  const classes = data.train.classes;
  const arch = architecture(config.arch, undefined, classes.length);
  const [C, H, W] = arch.input;
  // Validation: a fixed, seeded choice of held-out training images.
  const order = Array.from({ length: train.count }, (_, i) => i);
  new Rng(config.seed ^ 0x7a1).shuffle(order);
  const valIndices = order.slice(train.count - config.validation);
  const trainIndices = order.slice(0, train.count - config.validation);
  const pre: Preprocessing = { mean: channelMeans(train), scale: config.inputScale ?? arch.inputScale };

  const net = new Net(backend, arch, config.batch);
  net.initialize({ scheme: config.init ?? arch.defaultInit, seed: config.seed, biasOverride: config.biasInit });
  report({
    event: 'start', arch: arch.name, data: data.name, origin: data.origin, train: trainIndices.length,
    val: valIndices.length, test: data.test.count, parameters: net.parameterCount, backend: backend.device,
    memory_bytes: net.memoryBytes,
  });

  const input = new Float32Array(config.batch * C * H * W);
  const labels = new Float32Array(config.batch);
  const stepsPerEpoch = Math.ceil(trainIndices.length / config.batch);
  const shuffler = new Rng(config.seed);
  let step = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const epochStart = performance.now();
    const epochOrder = trainIndices.slice();
    shuffler.shuffle(epochOrder);
    let lossSum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const indices = epochOrder.slice(s * config.batch, (s + 1) * config.batch);
      const batch = indices.length;
      fillBatch(train, indices, arch.input, pre, input, labels);
      backend.write(net.input, input.subarray(0, batch * C * H * W));
      backend.write(net.labels, labels.subarray(0, batch));
      net.forward(batch, 'train', config.seed, step);
      net.backward();
      net.update({ lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay, form: config.sgdForm });
      const loss = await net.readLoss();
      if (!Number.isFinite(loss)) {
        throw new TrainingError(`loss became ${loss} at epoch ${epoch}, step ${s + 1}: lower the learning rate (--lr ${config.lr})`);
      }
      lossSum += loss;
      step++;
      const seconds = (performance.now() - epochStart) / 1000;
      report({ event: 'step', epoch, step: s + 1, steps: stepsPerEpoch, loss, img_per_s: ((s * config.batch + batch) / seconds) });
    }
    const seconds = (performance.now() - epochStart) / 1000;
    const val = await evaluate(net, train, valIndices, pre);
    report({
      event: 'epoch', epoch, train_loss: lossSum / stepsPerEpoch, val_top1: val.top1, val_top5: val.top5, val_loss: val.loss,
      img_per_s: trainIndices.length / seconds, seconds,
    });
  }
  const test = await evaluate(net, data.test, Array.from({ length: data.test.count }, (_, i) => i), pre);
  const checkpoint = await saveWeights(net, config.out, { arch: arch.name, input: arch.input, classes, preprocessing: pre, data: config.data });
  report({ event: 'done', test_top1: test.top1, test_top5: test.top5, test_n: test.n, seconds: (performance.now() - started) / 1000, checkpoint });
  return test;
}

/** Writes weights.safetensors and config.json into `dir` (each atomically); returns the weights' path. */
export async function saveWeights(net: Net, dir: string, config: SavedConfig): Promise<string> {
  await mkdir(dir, { recursive: true });
  const weights = join(dir, 'weights.safetensors');
  await writeSafetensors(weights, await net.exportTensors(), { arch: config.arch, format: 'alexnet.ts weights' });
  const configPath = join(dir, 'config.json');
  await writeFile(`${configPath}.tmp`, JSON.stringify(config, null, 2) + '\n');
  await rename(`${configPath}.tmp`, configPath);
  return weights;
}
