// SGD with momentum and weight decay, in two forms that differ only when lr changes:
//   paper:   v <- m v - wd lr w - lr g;   w <- w + v
//   pytorch: v <- m v + (g + wd w);      w <- w - lr v
// with g first multiplied by gradScale (1 unless loss scaling scaled it up; a power of two).
import type { Arr } from './types.js';

export type SgdForm = 'paper' | 'pytorch';

export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  form: SgdForm;
  /** Multiplies g before use: 1 / the loss scale (a power of two, so exact); 1 when absent. */
  gradScale?: number;
}

/** The paper's settings (section 5): momentum 0.9, weight decay 0.0005, its form of the update. */
export const PAPER_SGD = { momentum: 0.9, weightDecay: 5e-4, form: 'paper' } as const satisfies Omit<SgdParams, 'lr'>;

/** Updates w and v in place from g, over `count` elements. */
export function sgdUpdate(count: number, h: SgdParams, w: Arr, g: Arr, v: Arr): void {
  const { lr, momentum: m, weightDecay: wd } = h;
  const s = h.gradScale ?? 1;
  if (h.form === 'paper') {
    for (let i = 0; i < count; i++) {
      v[i] = m * v[i] - wd * lr * w[i] - lr * (g[i] * s);
      w[i] += v[i];
    }
  } else {
    for (let i = 0; i < count; i++) {
      v[i] = m * v[i] + g[i] * s + wd * w[i];
      w[i] -= lr * v[i];
    }
  }
}

/**
 * Sets flag[0] to 1 when any of x's first `count` values is NaN or infinite, else leaves it:
 * with loss scaling, a step whose gradients overflowed is skipped rather than applied.
 */
export function flagNonFinite(count: number, x: Arr, flag: Arr): void {
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(x[i])) {
      flag[0] = 1;
      return;
    }
  }
}
