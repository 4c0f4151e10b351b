// Fully connected layers: y = x W^T + b with W stored [out, in] (PyTorch's layout).
// The loops here are the reference; the *Gemm versions are what training runs.
import { rowMajor, transposed } from './gemm.js';
import { fastGemm as gemm } from './gemm_wasm.js';
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

export function linearForwardGemm(s: LinearShape, x: Arr, w: Arr, bias: Arr | null, y: Arr): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(N, O, I, rowMajor(x, 0, I), transposed(w, 0, I), y, 0, O, false);
  if (bias) for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) y[n * O + o] += bias[o];
}

export function linearBackwardDataGemm(s: LinearShape, dy: Arr, w: Arr, dx: Arr): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(N, I, O, rowMajor(dy, 0, O), rowMajor(w, 0, I), dx, 0, I, false);
}

export function linearBackwardParamsGemm(s: LinearShape, x: Arr, dy: Arr, dw: Arr, db: Arr | null): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(O, I, N, transposed(dy, 0, O), rowMajor(x, 0, I), dw, 0, I, true);
  if (db) for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) db[o] += dy[n * O + o];
}
