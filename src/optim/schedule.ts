// Learning-rate schedules. The paper: start at 0.01 and divide by 10 when the validation error
// stops improving, three times in all. Also a cosine decay to zero over the whole run, step by
// step, for short runs (Loshchilov & Hutter 2017, without restarts). The state is plain data so
// it checkpoints exactly.
import { UsageError } from '../core/errors.js';

export type ScheduleKind = 'constant' | 'step' | 'plateau' | 'cosine';
// Both step and plateau divide by 10 at most three times, as the paper did.

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** step: divide every `every` epochs. */
  every: number;
  /** plateau: epochs without improvement before dividing. */
  patience: number;
  /** At most this many divisions by 10 (the paper: 3). */
  maxDrops: number;
}

export interface ScheduleState {
  lr: number;
  drops: number;
  bestValError: number;
  epochsSinceBest: number;
}

export function parseSchedule(text: string): ScheduleConfig {
  const [kind, arg] = text.split(':');
  const n = arg === undefined ? undefined : Number(arg);
  if (arg !== undefined && (!Number.isInteger(n) || n! < 1)) {
    throw new UsageError(`--lr-schedule: expected a positive integer after "${kind}:", found "${arg}"`);
  }
  switch (kind) {
    case 'constant':
    case 'cosine':
      if (arg !== undefined) throw new UsageError(`--lr-schedule: "${kind}" takes no argument, found "${text}"`);
      return { kind, every: 0, patience: 0, maxDrops: 0 };
    case 'step':
      return { kind, every: n ?? 30, patience: 0, maxDrops: 3 };
    case 'plateau':
      return { kind, every: 0, patience: n ?? 1, maxDrops: 3 };
    default:
      throw new UsageError(`--lr-schedule: expected constant, step[:EPOCHS], plateau[:PATIENCE] or cosine, found "${text}"`);
  }
}

export function initialSchedule(lr: number): ScheduleState {
  return { lr, drops: 0, bestValError: Infinity, epochsSinceBest: 0 };
}

/**
 * The rate for global step `step` (0-based) of a run of `totalSteps`: the state's rate, or for
 * cosine that rate times (1 + cos(pi * step / totalSteps)) / 2, from the full rate to near zero.
 * A function of the step count alone, so a resumed run continues the curve. Resumed with more
 * --epochs, the curve is recomputed over the new total: the rate jumps up to where the longer
 * curve stands at this step.
 */
export function learningRate(c: ScheduleConfig, s: ScheduleState, step: number, totalSteps: number): number {
  if (c.kind !== 'cosine') return s.lr;
  return (s.lr * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps))) / 2;
}

/** The state after an epoch that ended with validation error `valError`. */
export function afterEpoch(c: ScheduleConfig, s: ScheduleState, epoch: number, valError: number): ScheduleState {
  const next = { ...s };
  if (valError < s.bestValError) {
    next.bestValError = valError;
    next.epochsSinceBest = 0;
  } else {
    next.epochsSinceBest++;
  }
  const drop =
    next.drops < c.maxDrops &&
    ((c.kind === 'step' && epoch % c.every === 0) || (c.kind === 'plateau' && next.epochsSinceBest >= c.patience));
  if (drop) {
    next.lr = s.lr / 10;
    next.drops++;
    next.epochsSinceBest = 0;
  }
  return next;
}
