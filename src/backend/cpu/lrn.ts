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

/**
 * out[c] = sum of v[j] over channels j in [c - before, c + after] clipped to the channels, for
 * each pixel. v, out: [channels, pixels]. A running sum: each step adds the plane entering the
 * window and subtracts the one leaving it (two operations per element for any window size).
 */
function windowSums(v: Float64Array, channels: number, pixels: number, before: number, after: number, out: Float64Array): void {
  out.fill(0, 0, pixels);
  for (let j = 0; j <= Math.min(after, channels - 1); j++) {
    for (let q = 0; q < pixels; q++) out[q] += v[j * pixels + q];
  }
  for (let c = 1; c < channels; c++) {
    const row = c * pixels;
    out.copyWithin(row, row - pixels, row);
    const entering = c + after;
    const leaving = c - 1 - before;
    if (entering < channels) for (let q = 0; q < pixels; q++) out[row + q] += v[entering * pixels + q];
    if (leaving >= 0) for (let q = 0; q < pixels; q++) out[row + q] -= v[leaving * pixels + q];
  }
}

/** s^-beta, with the paper's beta = 0.75 computed without pow. */
function powNegBeta(s: number, beta: number): number {
  if (beta === 0.75) {
    const r = Math.sqrt(s);
    return 1 / (r * Math.sqrt(r));
  }
  return Math.pow(s, -beta);
}

let squares = new Float64Array(0);
let sums = new Float64Array(0);

/** s[c, p] = k + a * sum of x^2 over window(c), for one sample starting at `base`: [C, pixels]. */
function denominators(p: LrnParams, x: Arr, base: number, channels: number, pixels: number): Float64Array {
  if (sums.length < channels * pixels) [squares, sums] = [new Float64Array(channels * pixels), new Float64Array(channels * pixels)];
  for (let i = 0; i < channels * pixels; i++) squares[i] = x[base + i] * x[base + i];
  // window(c) = [c - floor(size / 2), c + floor((size - 1) / 2)]
  windowSums(squares, channels, pixels, Math.floor(p.size / 2), Math.floor((p.size - 1) / 2), sums);
  const a = lrnScale(p);
  for (let i = 0; i < channels * pixels; i++) sums[i] = p.k + a * sums[i];
  return sums;
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
  const ratioSums = new Float64Array(C * pixels);
  for (let n = 0; n < N; n++) {
    const base = n * C * pixels;
    const s = denominators(p, x, base, C, pixels);
    for (let i = 0; i < C * pixels; i++) ratio[i] = (dy[base + i] * y[base + i]) / s[i];
    // The windows containing channel i are those of channels [i - floor((size - 1) / 2), i + floor(size / 2)].
    windowSums(ratio, C, pixels, Math.floor((p.size - 1) / 2), Math.floor(p.size / 2), ratioSums);
    for (let i = 0; i < C * pixels; i++) {
      dx[base + i] = dy[base + i] * powNegBeta(s[i], p.beta) - twoABeta * x[base + i] * ratioSums[i];
    }
  }
}
