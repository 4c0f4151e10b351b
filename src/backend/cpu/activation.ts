// ReLU and dropout. Dropout is inverted (kept values scaled by 1/(1-p) while training, identity
// at test time), and its mask is a pure function of (seed, stream, index): regenerated in the
// backward pass, never stored.
import { dropThreshold, randomU32 } from '../../rng/hash.js';
import type { Arr } from './types.js';

/** y = max(x, 0) over `count` elements, NaN kept (as PyTorch: a diverged net must not look finite); y may be x. */
export function reluForward(count: number, x: Arr, y: Arr): void {
  for (let i = 0; i < count; i++) y[i] = x[i] <= 0 ? 0 : x[i];
}

/** dx = dy where the forward output y > 0 or is NaN (as PyTorch), else 0; dx may be dy. */
export function reluBackward(count: number, y: Arr, dy: Arr, dx: Arr): void {
  for (let i = 0; i < count; i++) dx[i] = y[i] <= 0 ? 0 : dy[i];
}

export interface DropoutParams {
  p: number; // probability of dropping
  seed: number;
  stream: number; // distinct per layer and step
  /**
   * Mask index of the first element (default 0): a slice of a batch on one of several devices
   * draws the masks its rows have in the whole batch.
   */
  offset?: number;
}

/** y = x * mask / (1 - p) (a dropped NaN stays NaN: x * 0, as in PyTorch); y may be x. */
export function dropoutForward(count: number, d: DropoutParams, x: Arr, y: Arr): void {
  applyDropout(count, d, x, y);
}

/** dx = dy * mask / (1 - p), the same mask as the forward pass; dx may be dy. */
export function dropoutBackward(count: number, d: DropoutParams, dy: Arr, dx: Arr): void {
  applyDropout(count, d, dy, dx);
}

function applyDropout(count: number, d: DropoutParams, src: Arr, dst: Arr): void {
  const threshold = dropThreshold(d.p);
  const scale = 1 / (1 - d.p);
  const offset = d.offset ?? 0;
  for (let i = 0; i < count; i++) {
    dst[i] = src[i] * (randomU32(d.seed, d.stream, offset + i) >= threshold ? scale : 0);
  }
}
