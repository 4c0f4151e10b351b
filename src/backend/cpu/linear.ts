// Fully connected layers: y = x W^T + b with W stored [out, in] (PyTorch's layout).
// The loops here are the reference; linear_fast.ts is what training runs.
import type { Arr } from './types.js';

export interface LinearShape {
  batch: number;
  inFeatures: number;
  outFeatures: number;
}

/** x: [N, in]; w: [out, in]; bias: [out] or null; y: [N, out] (overwritten). */
export function linearForward(s: LinearShape, x: Arr, w: Arr, bias: Arr | null, y: Arr): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < I; i++) sum += x[n * I + i] * w[o * I + i];
      y[n * O + o] = sum;
    }
  }
}

/** dy: [N, out]; w: [out, in]; dx: [N, in] (overwritten). */
export function linearBackwardData(s: LinearShape, dy: Arr, w: Arr, dx: Arr): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < I; i++) {
      let sum = 0;
      for (let o = 0; o < O; o++) sum += dy[n * O + o] * w[o * I + i];
      dx[n * I + i] = sum;
    }
  }
}

/** x: [N, in]; dy: [N, out]; dw: [out, in] (+=); db: [out] (+=) or null. */
export function linearBackwardParams(s: LinearShape, x: Arr, dy: Arr, dw: Arr, db: Arr | null): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const d = dy[n * O + o];
      if (db) db[o] += d;
      for (let i = 0; i < I; i++) dw[o * I + i] += d * x[n * I + i];
    }
  }
}
