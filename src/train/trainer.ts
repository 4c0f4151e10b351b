// The training loop: the paper's SGD over shuffled mini-batches, a validation pass and a
// crash-safe checkpoint each epoch (and every --checkpoint-every steps), the learning-rate
// schedule, the test set at the end. Everything random is a function of (seed, epoch, step), so
// a run resumed from a checkpoint continues exactly as if it had never stopped.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { SgdForm } from '../backend/cpu/sgd.js';
import { TrainingError } from '../core/errors.js';
import type { Batch } from '../data/loader.js';
import { architecture } from '../nn/architectures.js';
import type { InitScheme } from '../nn/layers.js';
import { Net } from '../nn/net.js';
import { afterEpoch, initialSchedule, learningRate, parseSchedule, type ScheduleState } from '../optim/schedule.js';
import { buildReport } from '../report/report.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainState } from './checkpoint.js';
import { openTrainingData } from './data.js';
import { claimRunDirectory } from './run_dir.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { batchOutputFor, feedBatch } from './feed.js';

export interface TrainConfig {
  arch: string;
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  /** constant, step[:EPOCHS], plateau[:PATIENCE] (the paper's: /10 on a plateau, three times) or cosine. */
  schedule: string;
  momentum: number;
  weightDecay: number;
  sgdForm: SgdForm;
  seed: number;
  init?: InitScheme; // the architecture's default when absent
  biasInit?: number;
  /** Multiplies mean-subtracted pixels; the architecture's default when absent. */
  inputScale?: number;
  /** Training images held out for validation (default: 5000, or a tenth of a smaller set). */
  validation?: number;
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
  | { event: 'done'; test_top1: number; test_top5: number; test_n: number; seconds: number; checkpoint: string; report?: string }
  /** Something the user should know that is not an error (a stale lock taken over...): stderr. */
  | { event: 'notice'; message: string };

/** Saved with every checkpoint besides the tensors. */
interface Progress {
  schedule: ScheduleState;
  /** Steps already taken in the epoch under way, and their summed loss. */
  stepInEpoch: number;
  epochLossSum: number;
  epochs: EpochRecord[];
}

/** What eval, report and predict need to reuse the weights (in every checkpoint's state.json). */
export interface SavedModel {
  arch: string;
  /** [C, H, W] of the network input (H = W = the crop side). */
  input: [number, number, number];
  classes: string[];
  /** The data spec it was trained on, and the preprocessing applied to it. */
  data: string;
  scale: number;
  channelMean: number[];
}

/**
 * Trains from scratch, or from the newest checkpoint under `resume` with that run's settings;
 * `epochs` may be raised and `lr` replaces the current learning rate. Checkpoints go to
 * `requested.out`, which is locked for the run: the resumed directory itself, or another one
 * that then continues it. `force` starts a new run where one exists (its checkpoints moved aside).
 */
export async function train(
  requested: TrainConfig,
  backend: Backend,
  report: (e: TrainEvent) => void,
  resume?: { dir: string; epochs?: number; lr?: number },
  { force = false }: { force?: boolean } = {},
): Promise<EvalResult> {
  const fresh = !resume || resolve(resume.dir) !== resolve(requested.out);
  const run = await claimRunDirectory(requested.out, { fresh, force, notice: (message) => report({ event: 'notice', message }) });
  try {
    return await trainIn(requested, backend, report, resume);
  } finally {
    await run.release();
  }
}

async function trainIn(requested: TrainConfig, backend: Backend, report: (e: TrainEvent) => void, resume?: { dir: string; epochs?: number; lr?: number }): Promise<EvalResult> {
  const started = performance.now();
  const restored = resume ? await loadCheckpoint<TrainConfig, Progress>(await latestCheckpoint(checkpointDir(resume.dir))) : null;
  // A resumed run writes where it is told (a copied or moved run never writes to its origin).
  const config: TrainConfig = restored
    ? { ...restored.state.config, out: requested.out, epochs: resume?.epochs ?? restored.state.config.epochs }
    : requested;
  const scheduleConfig = parseSchedule(config.schedule);
  const base = architecture(config.arch);
  const scale = config.inputScale ?? base.inputScale;
  const data = await openTrainingData({
    spec: config.data, crop: base.input[1], batch: config.batch, seed: config.seed, validation: config.validation,
    limit: config.limit, scale, workers: loaderWorkers(), output: batchOutputFor(backend), channels: base.input[0],
  });
  for (const message of data.notes) report({ event: 'notice', message });
  try {
    const arch = architecture(config.arch, data.input, data.classes.length);
    const model: SavedModel = { arch: arch.name, input: arch.input, classes: data.classes, data: config.data, scale, channelMean: data.stats.channelMean };
    const net = new Net(backend, arch, config.batch);
    let state: TrainState<TrainConfig, Progress>;
    if (restored) {
      net.importTensors(restored.weights, restored.weightsPath);
      net.importTensors(restored.momenta, restored.optimizerPath, 'velocity');
      // A new --epochs is kept in later checkpoints, so a second resume keeps the extended run.
      state = { ...restored.state, config };
      if (resume?.lr !== undefined) state.history.schedule.lr = resume.lr;
    } else {
      net.initialize({ scheme: config.init ?? arch.defaultInit, seed: config.seed, biasOverride: config.biasInit });
      state = { config, epoch: 0, step: 0, history: { schedule: initialSchedule(config.lr), stepInEpoch: 0, epochLossSum: 0, epochs: [] } };
    }
    report({
      event: 'start', arch: arch.name, data: data.name, origin: data.origin, train: data.counts.train, val: data.counts.val,
      test: data.counts.test, parameters: net.parameterCount, backend: backend.device, memory_bytes: net.memoryBytes,
      resumed_from_step: state.step,
    });

    const ckptDir = checkpointDir(config.out);
    const save = () => saveCheckpoint(ckptDir, net, state, { model });
    const feed = (b: Batch) => {
      feedBatch(net, data.train.plan, b);
      backend.write(net.labels, b.labels);
    };
    const stepsPerEpoch = data.train.batchesPerEpoch;
    const totalSteps = config.epochs * stepsPerEpoch;
    while (state.epoch < config.epochs) {
      const epoch = state.epoch + 1;
      const progress = state.history;
      const epochStart = performance.now();
      const firstStep = progress.stepInEpoch;
      // The rate at the epoch's first step, for its record (also after resuming mid-epoch).
      const firstLr = learningRate(scheduleConfig, progress.schedule, state.step - firstStep, totalSteps);
      // The batches depend only on (seed, epoch, batch number): a resumed run skips those it took.
      const batches = data.train.epoch(epoch)[Symbol.asyncIterator]();
      let s = 0;
      let next = await batches.next();
      for (; !next.done && s < firstStep; s++) next = await batches.next();
      if (!next.done) feed(next.value);
      try {
        while (!next.done) {
          const b = next.value;
          s++;
          const lr = learningRate(scheduleConfig, progress.schedule, state.step, totalSteps);
          net.forward(b.count, 'train', config.seed, state.step);
          net.backward();
          const pendingLoss = net.readLoss();
          // While the device runs this step, the next batch is fetched and uploaded (queued
          // behind this step's work); the update waits for the loss, so a bad one is never applied.
          next = await batches.next();
          if (!next.done) feed(next.value);
          const loss = await pendingLoss;
          if (!Number.isFinite(loss)) {
            throw new TrainingError(
              `loss became ${loss} at epoch ${epoch}, step ${s}; stopped without applying that step, and the last ` +
                `checkpoint under ${ckptDir} is intact: lower the learning rate (--lr ${progress.schedule.lr}; this step's rate was ${lr})`,
            );
          }
          net.update({ lr, momentum: config.momentum, weightDecay: config.weightDecay, form: config.sgdForm });
          progress.epochLossSum += loss;
          progress.stepInEpoch = s;
          state.step++;
          const seconds = (performance.now() - epochStart) / 1000;
          report({ event: 'step', epoch, step: s, steps: stepsPerEpoch, loss, lr, img_per_s: ((s - firstStep) * config.batch) / seconds });
          if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0 && s < stepsPerEpoch) await save();
        }
      } finally {
        await batches.return(undefined); // a failed step leaves the loader free for the next user
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const val = await evaluate(net, data.val);
      const record: EpochRecord = {
        epoch, lr: firstLr, train_loss: progress.epochLossSum / stepsPerEpoch, val_top1: val.top1, val_top5: val.top5, val_loss: val.loss,
        img_per_s: Math.min(data.counts.train, (stepsPerEpoch - firstStep) * config.batch) / seconds, seconds,
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
    const test = await evaluate(net, data.test);
    const checkpoint = await save();
    const reportPath = config.report ? (await buildReport(config.out, backend)).path : undefined;
    report({
      event: 'done', test_top1: test.top1, test_top5: test.top5, test_n: test.n, seconds: (performance.now() - started) / 1000, checkpoint,
      report: reportPath,
    });
    return test;
  } finally {
    await data.close();
  }
}

/**
 * Loader threads for training: one on a 2-core machine (the other runs the net), up to 6 where
 * there are more cores (a GPU machine: the paper net on small images resamples each one to
 * 256 x 256, about 1,600 images/s per thread). The batches are the same for any count.
 */
function loaderWorkers(): number {
  return Math.max(1, Math.min(6, availableParallelism() - 1));
}
