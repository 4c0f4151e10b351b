// SGD with momentum and weight decay, in two forms that differ only when lr changes:
//   paper:   v <- m v - wd lr w - lr g;   w <- w + v
//   pytorch: v <- m v + (g + wd w);      w <- w - lr v
import type { Arr } from './types.js';

export type SgdForm = 'paper' | 'pytorch';

export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  form: SgdForm;
}

/** The paper's settings (section 5): momentum 0.9, weight decay 0.0005, its form of the update. */
export const PAPER_SGD = { momentum: 0.9, weightDecay: 5e-4, form: 'paper' } as const satisfies Omit<SgdParams, 'lr'>;

/** Updates w and v in place from g, over `count` elements. */
export function sgdUpdate(count: number, h: SgdParams, w: Arr, g: Arr, v: Arr): void {
  const { lr, momentum: m, weightDecay: wd } = h;
  if (h.form === 'paper') {
    for (let i = 0; i < count; i++) {
      v[i] = m * v[i] - wd * lr * w[i] - lr * g[i];
      w[i] += v[i];
    }
  } else {
    for (let i = 0; i < count; i++) {
      v[i] = m * v[i] + g[i] + wd * w[i];
      w[i] -= lr * v[i];
    }
  }
}
