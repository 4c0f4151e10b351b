// The training loop: the paper's SGD over shuffled mini-batches, a validation pass and a
// crash-safe checkpoint each epoch (and every --checkpoint-every steps), the learning-rate
// schedule, the test set at the end. Everything random is a function of (seed, epoch, step), so
// a run resumed from a checkpoint continues exactly as if it had never stopped.
import type { Backend } from '../backend/backend.js';
import type { SgdForm } from '../backend/cpu/sgd.js';
import { TrainingError, UsageError } from '../core/errors.js';
import { channelMeans, fillBatch, sliceSet, type Preprocessing } from '../data/batches.js';
import { loadData } from '../data/source.js';
import { architecture } from '../nn/architectures.js';
import type { InitScheme } from '../nn/layers.js';
import { Net } from '../nn/net.js';
import { afterEpoch, initialSchedule, parseSchedule, type ScheduleState } from '../optim/schedule.js';
import { mix32, Rng } from '../rng/hash.js';
import { buildReport } from '../report/report.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainState } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';

export interface TrainConfig {
  arch: string;
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  /** constant, step[:EPOCHS] or plateau[:PATIENCE] (the paper's: /10 on a plateau, three times). */
  schedule: string;
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
  /** Also checkpoint every this many steps (0: at epoch ends only). */
  checkpointEvery: number;
  /** Write the HTML report (curves, filters, confusion, retrieval) at the end. */
  report?: boolean;
  out: string;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  train_loss: number;
  val_top1: number;
  val_top5: number;
  val_loss: number;
  img_per_s: number;
  seconds: number;
}

export type TrainEvent =
  | { event: 'start'; arch: string; data: string; origin: string; train: number; val: number; test: number; parameters: number; backend: string; memory_bytes: number; resumed_from_step: number }
  | { event: 'step'; epoch: number; step: number; steps: number; loss: number; lr: number; img_per_s: number }
  | ({ event: 'epoch' } & EpochRecord)
  | { event: 'done'; test_top1: number; test_top5: number; test_n: number; seconds: number; checkpoint: string; report?: string };

/** Saved with every checkpoint besides the tensors. */
interface Progress {
  schedule: ScheduleState;
  /** Steps already taken in the epoch under way, and their summed loss. */
  stepInEpoch: number;
  epochLossSum: number;
  epochs: EpochRecord[];
}

/** What eval and forward need to reuse the weights (state.json of a checkpoint holds it too). */
export interface SavedModel {
  arch: string;
  input: [number, number, number];
  classes: string[];
  preprocessing: Preprocessing;
}

/** Trains from scratch, or from the newest checkpoint under `resume` (its config; `epochs` may be raised). */
export async function train(
  requested: TrainConfig,
  backend: Backend,
  report: (e: TrainEvent) => void,
  resume?: { dir: string; epochs?: number },
): Promise<EvalResult> {
  const started = performance.now();
  const restored = resume ? await loadCheckpoint<TrainConfig, Progress>(await latestCheckpoint(checkpointDir(resume.dir))) : null;
  const config: TrainConfig = restored ? { ...restored.state.config, epochs: resume?.epochs ?? restored.state.config.epochs } : requested;
  const scheduleConfig = parseSchedule(config.schedule);
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
  new Rng(mix32(config.seed ^ 0x7a1)).shuffle(order);
  const valIndices = order.slice(train.count - config.validation);
  const trainIndices = order.slice(0, train.count - config.validation);
  const pre: Preprocessing = { mean: channelMeans(train), scale: config.inputScale ?? arch.inputScale };
  const model: SavedModel = { arch: arch.name, input: arch.input, classes, preprocessing: pre };

  const net = new Net(backend, arch, config.batch);
  let state: TrainState<TrainConfig, Progress>;
  if (restored) {
    net.importTensors(restored.weights, restored.weightsPath);
    net.importTensors(restored.momenta, restored.optimizerPath, 'velocity');
    state = restored.state;
  } else {
    net.initialize({ scheme: config.init ?? arch.defaultInit, seed: config.seed, biasOverride: config.biasInit });
    state = { config, epoch: 0, step: 0, history: { schedule: initialSchedule(config.lr), stepInEpoch: 0, epochLossSum: 0, epochs: [] } };
  }
  report({
    event: 'start', arch: arch.name, data: data.name, origin: data.origin, train: trainIndices.length, val: valIndices.length,
    test: data.test.count, parameters: net.parameterCount, backend: backend.device, memory_bytes: net.memoryBytes, resumed_from_step: state.step,
  });

  const ckptDir = checkpointDir(config.out);
  const save = () => saveCheckpoint(ckptDir, net, state, { model });
  const input = new Float32Array(config.batch * C * H * W);
  const labels = new Float32Array(config.batch);
  const stepsPerEpoch = Math.ceil(trainIndices.length / config.batch);
  while (state.epoch < config.epochs) {
    const epoch = state.epoch + 1;
    const progress = state.history;
    const lr = progress.schedule.lr;
    // The epoch's order depends only on (seed, epoch): a resumed run sees the same batches.
    const epochOrder = trainIndices.slice();
    new Rng(mix32(config.seed + Math.imul(epoch, 0x9e3779b9))).shuffle(epochOrder);
    const epochStart = performance.now();
    const firstStep = progress.stepInEpoch;
    for (let s = firstStep; s < stepsPerEpoch; s++) {
      const indices = epochOrder.slice(s * config.batch, (s + 1) * config.batch);
      const batch = indices.length;
      fillBatch(train, indices, arch.input, pre, input, labels);
      backend.write(net.input, input.subarray(0, batch * C * H * W));
      backend.write(net.labels, labels.subarray(0, batch));
      net.forward(batch, 'train', config.seed, state.step);
      net.backward();
      const loss = await net.readLoss();
      if (!Number.isFinite(loss)) {
        throw new TrainingError(
          `loss became ${loss} at epoch ${epoch}, step ${s + 1}; stopped without applying that step, and the last ` +
            `checkpoint under ${ckptDir} is intact: lower the learning rate (--lr ${lr})`,
        );
      }
      net.update({ lr, momentum: config.momentum, weightDecay: config.weightDecay, form: config.sgdForm });
      progress.epochLossSum += loss;
      progress.stepInEpoch = s + 1;
      state.step++;
      const seconds = (performance.now() - epochStart) / 1000;
      report({ event: 'step', epoch, step: s + 1, steps: stepsPerEpoch, loss, lr, img_per_s: ((s + 1 - firstStep) * config.batch) / seconds });
      if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0 && s + 1 < stepsPerEpoch) await save();
    }
    const seconds = (performance.now() - epochStart) / 1000;
    const val = await evaluate(net, train, valIndices, pre);
    const record: EpochRecord = {
      epoch, lr, train_loss: progress.epochLossSum / stepsPerEpoch, val_top1: val.top1, val_top5: val.top5, val_loss: val.loss,
      img_per_s: ((stepsPerEpoch - firstStep) * config.batch) / seconds, seconds,
    };
    state.epoch = epoch;
    state.history = {
      schedule: afterEpoch(scheduleConfig, progress.schedule, epoch, 1 - val.top1),
      stepInEpoch: 0,
      epochLossSum: 0,
      epochs: [...progress.epochs, record],
    };
    await save();
    report({ event: 'epoch', ...record });
  }
  const test = await evaluate(net, data.test, Array.from({ length: data.test.count }, (_, i) => i), pre);
  const checkpoint = await save();
  const reportPath = config.report ? (await buildReport(config.out, backend)).path : undefined;
  report({
    event: 'done', test_top1: test.top1, test_top5: test.top5, test_n: test.n, seconds: (performance.now() - started) / 1000, checkpoint,
    report: reportPath,
  });
  return test;
}
