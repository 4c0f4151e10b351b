// Dynamic loss scaling for --precision mixed: the loss's gradient is multiplied by a power of
// two before the backward pass, so that gradients too small for float16 operands (below 2^-24)
// survive, and the update divides it out again. A step whose gradients overflowed (an operand
// over float16's 65,504 makes its outputs NaN: operand_f16.wgsl) is skipped and the scale
// halved; after GROWTH_INTERVAL finite steps in a row it doubles. PyTorch's GradScaler has the
// same constants. The state is saved with each checkpoint, so a resumed run continues exactly.
import { TrainingError } from '../core/errors.js';

export interface LossScale {
  /** The factor on the loss's gradient (a power of two). */
  scale: number;
  /** Finite steps in a row at this scale. */
  goodSteps: number;
  /** Steps skipped for overflow, in the epoch under way and in the whole run. */
  skippedInEpoch: number;
  skippedTotal: number;
}

export const INITIAL_SCALE = 2 ** 16;
export const GROWTH_INTERVAL = 2000;
/** Below this the gradients are not small, they are broken: stop rather than shrink for ever. */
export const LOWEST_SCALE = 1;

export function initialLossScale(scale = INITIAL_SCALE): LossScale {
  return { scale, goodSteps: 0, skippedInEpoch: 0, skippedTotal: 0 };
}

/** Whether `s` can be a loss scale: a power of two (scaling by it is exact) from LOWEST_SCALE up. */
export function isLossScale(s: number): boolean {
  return Number.isFinite(s) && s >= LOWEST_SCALE && Number.isInteger(Math.log2(s));
}

/**
 * The state after a step whose gradients were `finite` (that step applied) or not (skipped).
 * Throws when the scale would fall below LOWEST_SCALE; `where` names the step for that message.
 */
export function afterStep(s: LossScale, finite: boolean, where: string): LossScale {
  if (finite) {
    const grow = s.goodSteps + 1 >= GROWTH_INTERVAL;
    return { ...s, scale: grow ? s.scale * 2 : s.scale, goodSteps: grow ? 0 : s.goodSteps + 1 };
  }
  if (s.scale / 2 < LOWEST_SCALE) {
    throw new TrainingError(
      `${where}: the gradients are not finite even at loss scale ${s.scale}; the step was not applied. ` +
        'Something overflows float16 beyond what loss scaling can fix: lower the learning rate, or train with --precision fp32',
    );
  }
  return { scale: s.scale / 2, goodSteps: 0, skippedInEpoch: s.skippedInEpoch + 1, skippedTotal: s.skippedTotal + 1 };
}
