// The training loop itself, for any host: the paper's SGD over shuffled mini-batches, a
// validation pass and a checkpoint each epoch (and every `checkpointEvery` steps), the
// learning-rate schedule. Everything random is a function of (seed, epoch, step), so a run
// stopped anywhere (a crash, a page's pause, a reload) continues exactly from its state. Where
// checkpoints go is the host's: files in Node (trainer.ts), IndexedDB in a page.
import type { Precision } from '../backend/backend.js';
import type { SgdForm } from '../backend/cpu/sgd.js';
import type { Batch } from '../data/loader.js';
import type { Preprocessing } from '../data/preprocessing.js';
import type { Augment } from './data.js';
import type { FineTuneConfig } from './fine_tune.js';
import type { InitScheme } from '../nn/layers.js';
import type { Network } from '../nn/network.js';
import { afterStep, initialLossScale, type LossScale } from '../optim/loss_scale.js';
import { afterEpoch, initialSchedule, learningRate, parseSchedule, type ScheduleState } from '../optim/schedule.js';
import type { TrainingData } from './data.js';
import { evaluate } from './evaluate.js';
import { feedBatch } from './feed.js';
import { nonFiniteLossError } from './non_finite.js';

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
  /** mixed: float16 GEMM operands where the device can, with dynamic loss scaling; fp32 when absent. */
  precision?: Precision;
  /** With mixed: the loss scale to start from (a power of two); INITIAL_SCALE when absent. */
  lossScale?: number;
  /** Training views: the paper's augmentation (default) or none (centre crops). */
  augment?: Augment;
  /** Starting from a trained model instead of random weights (fine_tune.ts). */
  fineTune?: FineTuneConfig;
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
  /** With --precision mixed: steps skipped for overflow this epoch, and the loss scale at its end. */
  skipped_steps?: number;
  loss_scale?: number;
}

export type TrainEvent =
  | { event: 'start'; arch: string; data: string; origin: string; train: number; val: number; test: number; parameters: number; backend: string; memory_bytes: number; resumed_from_step: number; precision: Precision }
  | { event: 'step'; epoch: number; step: number; steps: number; loss: number; lr: number; img_per_s: number }
  | ({ event: 'epoch' } & EpochRecord)
  | { event: 'done'; test_top1: number; test_top5: number; test_n: number; seconds: number; checkpoint: string; report?: string }
  /** Something the user should know that is not an error (a stale lock taken over...): stderr. */
  | { event: 'notice'; message: string };

/** Saved with every checkpoint besides the tensors. */
export interface Progress {
  schedule: ScheduleState;
  /** Steps already taken in the epoch under way, and their summed loss. */
  stepInEpoch: number;
  epochLossSum: number;
  epochs: EpochRecord[];
  /** With --precision mixed: the loss scaler's state (src/optim/loss_scale.ts). */
  lossScale?: LossScale;
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
  /**
   * How pixels become its input when that is not (pixel - the data's mean image) * scale: a
   * fine-tuned model keeps its source's (data/preprocessing.ts).
   */
  preprocessing?: Preprocessing;
}

/** Everything besides the tensors that a resumed run needs to continue exactly. */
export interface TrainState<Config, History> {
  config: Config;
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken (dropout masks are a function of it). */
  step: number;
  history: History;
}

/** A run's state: saved with each checkpoint, enough to continue it exactly. */
export type RunState = TrainState<TrainConfig, Progress>;

/** The state of a run that has taken no step yet. */
export function newRunState(config: TrainConfig): RunState {
  const history: Progress = { schedule: initialSchedule(config.lr), stepInEpoch: 0, epochLossSum: 0, epochs: [] };
  if (config.precision === 'mixed') history.lossScale = initialLossScale(config.lossScale);
  return { config, epoch: 0, step: 0, history };
}

export interface LoopHooks {
  report(e: TrainEvent): void;
  /** Writes a checkpoint of the net and `state` as they are now. */
  save(): Promise<unknown>;
  /** Where the last checkpoint is, for the message when the loss diverges. */
  savedIn: string;
  /**
   * Asked after every step: true ends the loop there (a pause or a stop), after a checkpoint. A
   * page answers asynchronously, so that its worker reads its messages between steps.
   */
  shouldStop?(): boolean | Promise<boolean>;
}

/**
 * Trains `net` on `data` from `state` (updated in place) until `state.config.epochs` epochs are
 * done, or `shouldStop` says so: 'done' or 'stopped'. The test set is the caller's to evaluate.
 */
export async function trainEpochs(net: Network, data: TrainingData, state: RunState, hooks: LoopHooks): Promise<'done' | 'stopped'> {
  const { config } = state;
  const { report, save } = hooks;
  const resumedAt = state.step; // for the non-finite loss's message: a checkpoint is there when > 0
  const scheduleConfig = parseSchedule(config.schedule);
  const feed = (b: Batch) => feedBatch(net, data.train.plan, b);
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
        await net.forward(b.count, 'train', config.seed, state.step);
        const lossScale = progress.lossScale;
        await net.backward(lossScale?.scale ?? 1);
        const pendingLoss = net.readLoss();
        const pendingFinite = lossScale ? net.gradientsFinite() : null;
        // While the device runs this step, the next batch is fetched and uploaded (queued
        // behind this step's work); the update waits for the loss, so a bad one is never applied.
        next = await batches.next();
        if (!next.done) feed(next.value);
        const [loss, finite] = await Promise.all([pendingLoss, pendingFinite ?? true]);
        if (!Number.isFinite(loss)) {
          const checkpointed = resumedAt > 0 || state.epoch > 0 || (config.checkpointEvery > 0 && state.step >= config.checkpointEvery);
          throw await nonFiniteLossError(net, config, {
            loss, epoch, step: s, applied: state.step, lr, scheduleLr: progress.schedule.lr, savedIn: hooks.savedIn, checkpointed, resumedAt, mixed: Boolean(lossScale),
          });
        }
        if (lossScale) {
          progress.lossScale = afterStep(lossScale, finite, `epoch ${epoch}, step ${s}`);
          if (!finite) report({ event: 'notice', message: `epoch ${epoch}, step ${s}: gradients overflowed float16 at loss scale ${lossScale.scale}; step skipped, scale now ${progress.lossScale.scale}` });
        }
        if (finite) await net.update({ lr, momentum: config.momentum, weightDecay: config.weightDecay, form: config.sgdForm, gradScale: 1 / (lossScale?.scale ?? 1) });
        progress.epochLossSum += loss;
        progress.stepInEpoch = s;
        state.step++;
        const seconds = (performance.now() - epochStart) / 1000;
        report({ event: 'step', epoch, step: s, steps: stepsPerEpoch, loss, lr, img_per_s: ((s - firstStep) * config.batch) / seconds });
        if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0 && s < stepsPerEpoch) await save();
        if (!next.done && (await hooks.shouldStop?.())) {
          await save();
          return 'stopped';
        }
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
    const lossScale = progress.lossScale;
    if (lossScale) Object.assign(record, { skipped_steps: lossScale.skippedInEpoch, loss_scale: lossScale.scale });
    state.epoch = epoch;
    state.history = {
      schedule: afterEpoch(scheduleConfig, progress.schedule, epoch, 1 - val.top1),
      stepInEpoch: 0,
      epochLossSum: 0,
      epochs: [...progress.epochs, record],
      ...(lossScale ? { lossScale: { ...lossScale, skippedInEpoch: 0 } } : {}),
    };
    await save();
    report({ event: 'epoch', ...record });
    if (state.epoch < config.epochs && (await hooks.shouldStop?.())) return 'stopped';
  }
  return 'done';
}
