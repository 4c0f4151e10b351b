// Local response normalization across channels, at each pixel:
//   y_c = x_c / (k + a * sum_{j in window(c)} x_j^2)^beta,   a = alpha / size or alpha.
// The paper writes alpha undivided (k=2, n=5, alpha=1e-4); PyTorch, ONNX and Caffe divide it by
// the window size, hence `alphaDividedBySize`. window(c) = [c - floor(size/2), c + floor((size-1)/2)]
// clipped to the channels: PyTorch's window, equal to the paper's and ONNX's for odd sizes.
// Loops run over whole channel planes so that memory is read contiguously.
import type { Arr } from './types.js';

export interface LrnParams {
  size: number;
  alpha: number;
  beta: number;
  k: number;
  alphaDividedBySize: boolean;
}

/** The coefficient on the sum of squares. */
export function lrnScale(p: LrnParams): number {
  return p.alphaDividedBySize ? p.alpha / p.size : p.alpha;
}

/** Channels [first, last] inside the window of channel c. */
function windowOf(p: LrnParams, c: number, channels: number): [number, number] {
  return [Math.max(0, c - Math.floor(p.size / 2)), Math.min(channels - 1, c + Math.floor((p.size - 1) / 2))];
}

/** Channels [first, last] whose windows contain channel i. */
function windowsContaining(p: LrnParams, i: number, channels: number): [number, number] {
  return [Math.max(0, i - Math.floor((p.size - 1) / 2)), Math.min(channels - 1, i + Math.floor(p.size / 2))];
}

/** s^-beta, with the paper's beta = 0.75 computed without pow. */
function powNegBeta(s: number, beta: number): number {
  if (beta === 0.75) {
    const r = Math.sqrt(s);
    return 1 / (r * Math.sqrt(r));
  }
  return Math.pow(s, -beta);
}

let scratch = new Float64Array(0);

/** s[c, p] = k + a * sum of x^2 over window(c), for one sample starting at `base`: [C, pixels]. */
function denominators(p: LrnParams, x: Arr, base: number, channels: number, pixels: number): Float64Array {
  if (scratch.length < channels * pixels) scratch = new Float64Array(channels * pixels);
  const s = scratch;
  const a = lrnScale(p);
  for (let c = 0; c < channels; c++) {
    const row = c * pixels;
    s.fill(0, row, row + pixels);
    const [first, last] = windowOf(p, c, channels);
    for (let j = first; j <= last; j++) {
      const src = base + j * pixels;
      for (let q = 0; q < pixels; q++) s[row + q] += x[src + q] * x[src + q];
    }
    for (let q = 0; q < pixels; q++) s[row + q] = p.k + a * s[row + q];
  }
  return s;
}

/** x, y: [N, C, H, W] (y overwritten). */
export function lrnForward(p: LrnParams, shape: readonly number[], x: Arr, y: Arr): void {
  const [N, C, H, W] = shape;
  const pixels = H * W;
  for (let n = 0; n < N; n++) {
    const base = n * C * pixels;
    const s = denominators(p, x, base, C, pixels);
    for (let i = 0; i < C * pixels; i++) y[base + i] = x[base + i] * powNegBeta(s[i], p.beta);
  }
}

/**
 * dx_i = dy_i * s_i^-beta - 2 a beta x_i * sum_{c : i in window(c)} dy_c * y_c / s_c.
 * x, y (the forward output), dy, dx: [N, C, H, W] (dx overwritten; may not alias dy).
 */
export function lrnBackward(p: LrnParams, shape: readonly number[], x: Arr, y: Arr, dy: Arr, dx: Arr): void {
  const [N, C, H, W] = shape;
  const pixels = H * W;
  const twoABeta = 2 * lrnScale(p) * p.beta;
  const ratio = new Float64Array(C * pixels);
  for (let n = 0; n < N; n++) {
    const base = n * C * pixels;
    const s = denominators(p, x, base, C, pixels);
    for (let i = 0; i < C * pixels; i++) ratio[i] = (dy[base + i] * y[base + i]) / s[i];
    for (let i = 0; i < C; i++) {
      const row = base + i * pixels;
      for (let q = 0; q < pixels; q++) dx[row + q] = dy[row + q] * powNegBeta(s[i * pixels + q], p.beta);
      const [first, last] = windowsContaining(p, i, C);
      for (let c = first; c <= last; c++) {
        const src = c * pixels;
        for (let q = 0; q < pixels; q++) dx[row + q] -= twoABeta * x[row + q] * ratio[src + q];
      }
    }
  }
}
