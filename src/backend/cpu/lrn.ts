// Local response normalization across channels, at each pixel:
//   y_c = x_c / (k + a * sum_{j in window(c)} x_j^2)^beta,   a = alpha / size or alpha.
// The paper writes alpha undivided (k=2, n=5, alpha=1e-4); PyTorch, ONNX and Caffe divide it by
// the window size, hence `alphaDividedBySize`. window(c) = [c - floor(size/2), c + floor((size-1)/2)]
// clipped to the channels: PyTorch's window, equal to the paper's and ONNX's for odd sizes.
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

/** The denominators' base s_c = k + a * sum of squares, for one pixel of one sample. */
function windowSums(p: LrnParams, x: Arr, base: number, pixels: number, channels: number, s: Float64Array): void {
  const a = lrnScale(p);
  const before = Math.floor(p.size / 2);
  const after = Math.floor((p.size - 1) / 2);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    const hi = Math.min(channels - 1, c + after);
    for (let j = Math.max(0, c - before); j <= hi; j++) {
      const v = x[base + j * pixels];
      sum += v * v;
    }
    s[c] = p.k + a * sum;
  }
}

/** x, y: [N, C, H, W] (y overwritten). */
export function lrnForward(p: LrnParams, shape: readonly number[], x: Arr, y: Arr): void {
  const [N, C, H, W] = shape;
  const pixels = H * W;
  const s = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let px = 0; px < pixels; px++) {
      const base = n * C * pixels + px;
      windowSums(p, x, base, pixels, C, s);
      for (let c = 0; c < C; c++) y[base + c * pixels] = x[base + c * pixels] * Math.pow(s[c], -p.beta);
    }
  }
}

/**
 * dx_i = dy_i * s_i^-beta - 2 a beta x_i * sum_{c : i in window(c)} dy_c * y_c / s_c.
 * x, y (the forward output), dy, dx: [N, C, H, W] (dx overwritten).
 */
export function lrnBackward(p: LrnParams, shape: readonly number[], x: Arr, y: Arr, dy: Arr, dx: Arr): void {
  const [N, C, H, W] = shape;
  const pixels = H * W;
  const a = lrnScale(p);
  const before = Math.floor(p.size / 2);
  const after = Math.floor((p.size - 1) / 2);
  const s = new Float64Array(C);
  const ratio = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let px = 0; px < pixels; px++) {
      const base = n * C * pixels + px;
      windowSums(p, x, base, pixels, C, s);
      for (let c = 0; c < C; c++) ratio[c] = (dy[base + c * pixels] * y[base + c * pixels]) / s[c];
      for (let i = 0; i < C; i++) {
        // Channels c whose window holds i: c - before <= i <= c + after.
        let sum = 0;
        const hi = Math.min(C - 1, i + before);
        for (let c = Math.max(0, i - after); c <= hi; c++) sum += ratio[c];
        const at = base + i * pixels;
        dx[at] = dy[at] * Math.pow(s[i], -p.beta) - 2 * a * p.beta * x[at] * sum;
      }
    }
  }
}
