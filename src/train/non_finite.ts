// The error that stops training when the loss is not finite: what went non-finite (the loss;
// a weight, named), where (epoch, step), whether a checkpoint is there to go back to, and the
// option that likely caused it, told from what the weights say. Non-finite weights before any
// update come from the initialisation (--bias-init beyond float32), after one from the update
// (--lr); finite weights and a non-finite first loss point at the input or the biases
// (--input-scale, --bias-init). Only the rate's case says "lower the learning rate".
import { TrainingError } from '../core/errors.js';
import type { Network } from '../nn/network.js';
import type { TrainConfig } from './loop.js';

export interface NonFiniteStep {
  loss: number;
  epoch: number;
  /** The step within the epoch (1-based) and the steps applied before it over the whole run. */
  step: number;
  applied: number;
  /** The rate this step would have used, and the schedule's current rate. */
  lr: number;
  scheduleLr: number;
  /** Where checkpoints are written, and whether one is there (resumed from, or written by this run). */
  savedIn: string;
  checkpointed: boolean;
  /** The steps applied when this process started (> 0: resumed from a checkpoint). */
  resumedAt: number;
  mixed: boolean;
}

/** The first parameter holding a non-finite value: its name, how many, and one of them. */
async function firstNonFinite(net: Network): Promise<{ name: string; count: number; size: number; value: number } | null> {
  for (const t of await net.exportTensors('value')) {
    let count = 0;
    let value = 0;
    for (const v of t.data) {
      if (!Number.isFinite(v)) {
        if (count++ === 0) value = v;
      }
    }
    if (count > 0) return { name: t.name, count, size: t.data.length, value };
  }
  return null;
}

/** The options among --bias-init and --input-scale that this run set, as they were given. */
function inputOptions(config: TrainConfig): string[] {
  return [
    ...(config.biasInit !== undefined ? [`--bias-init ${config.biasInit}`] : []),
    ...(config.inputScale !== undefined ? [`--input-scale ${config.inputScale}`] : []),
  ];
}

/** The TrainingError for a non-finite loss at step `s`, after looking at the weights of `net`. */
export async function nonFiniteLossError(net: Network, config: TrainConfig, s: NonFiniteStep): Promise<TrainingError> {
  const where = `loss became ${s.loss} at epoch ${s.epoch}, step ${s.step}; stopped without applying that step`;
  const kept = s.checkpointed ? `the last checkpoint under ${s.savedIn} is intact` : `no checkpoint was written yet under ${s.savedIn}`;
  const bad = await firstNonFinite(net);
  const badWeight = bad && `${bad.name} holds ${bad.count} non-finite value${bad.count > 1 ? 's' : ''} of ${bad.size} (${bad.value})`;
  const inputs = inputOptions(config);
  const rate = `lower the learning rate (--lr ${s.scheduleLr}; this step's rate was ${s.lr})`;
  let cause: string;
  if (s.applied === s.resumedAt && bad) {
    cause = s.resumedAt > 0
      ? `the checkpoint's weights are not finite: ${badWeight}; resume from an earlier copy, or train anew`
      : `the initial weights are not finite: ${badWeight}${config.biasInit !== undefined ? `: --bias-init ${config.biasInit} is beyond float32's range (about 3.4e38)` : ''}`;
  } else if (bad) {
    cause = `the last update made a weight non-finite: ${badWeight}: ${rate}`;
  } else if (s.applied === 0) {
    cause = `the weights are finite, so the first forward pass overflowed: ${inputs.length > 0 ? `check ${inputs.join(' and ')}` : "check the data's pixel values"}`;
  } else {
    cause = `the weights are finite, but the forward pass overflowed: ${rate}${inputs.length > 0 ? `, or check ${inputs.join(' and ')}` : ''}`;
  }
  const mixed = s.mixed ? "; or train with --precision fp32 (an activation over float16's 65,504 also makes the loss NaN)" : '';
  return new TrainingError(`${where}, and ${kept}: ${cause}${mixed}`);
}
