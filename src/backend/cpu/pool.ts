// Pooling: overlapping max-pool (the paper's 3x3, stride 2) and adaptive average pooling
// (torchvision's head). Windows that overhang the input are clipped; padding never wins a max;
// a NaN wins over any number (the last NaN in the window, as in PyTorch).
import { adaptiveWindow, type PoolGeometry } from '../../core/geometry.js';
import type { Arr } from './types.js';

/** Index into the input plane of the largest element of window (oy, ox); first one on ties, NaN over all. */
function argmaxInWindow(g: PoolGeometry, x: Arr, plane: number, oy: number, ox: number): number {
  const y0 = oy * g.stride - g.pad;
  const x0 = ox * g.stride - g.pad;
  const yEnd = Math.min(y0 + g.size, g.inHeight);
  const xEnd = Math.min(x0 + g.size, g.inWidth);
  let best = -1;
  let bestValue = -Infinity;
  for (let iy = Math.max(y0, 0); iy < yEnd; iy++) {
    for (let ix = Math.max(x0, 0); ix < xEnd; ix++) {
      const i = plane + iy * g.inWidth + ix;
      if (best < 0 || x[i] > bestValue || Number.isNaN(x[i])) {
        best = i;
        bestValue = x[i];
      }
    }
  }
  return best;
}

/** x: [N, C, H, W]; y: [N, C, OH, OW] (overwritten). */
export function maxPoolForward(g: PoolGeometry, x: Arr, y: Arr): void {
  const planes = g.batch * g.channels;
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) y[out++] = x[argmaxInWindow(g, x, plane, oy, ox)];
    }
  }
}

/** Routes each dy to the max of its window; overlapping windows add up. x: input; dy: [N, C, OH, OW]; dx: overwritten. */
export function maxPoolBackward(g: PoolGeometry, x: Arr, dy: Arr, dx: Arr): void {
  const planes = g.batch * g.channels;
  dx.fill(0, 0, planes * g.inHeight * g.inWidth);
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) dx[argmaxInWindow(g, x, plane, oy, ox)] += dy[out++];
    }
  }
}

/** Geometry of an adaptive average pool: any [H, W] to [OH, OW] (PyTorch's windows). */
export interface AdaptivePoolGeometry {
  planes: number; // N * C
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
}

/** x: [N, C, H, W]; y: [N, C, OH, OW] (overwritten). */
export function adaptiveAvgPoolForward(g: AdaptivePoolGeometry, x: Arr, y: Arr): void {
  let out = 0;
  for (let p = 0; p < g.planes; p++) {
    const plane = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      const [y0, y1] = adaptiveWindow(oy, g.inHeight, g.outHeight);
      for (let ox = 0; ox < g.outWidth; ox++) {
        const [x0, x1] = adaptiveWindow(ox, g.inWidth, g.outWidth);
        let sum = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += x[plane + iy * g.inWidth + ix];
        y[out++] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

/** dy: [N, C, OH, OW]; dx: [N, C, H, W] (overwritten). */
export function adaptiveAvgPoolBackward(g: AdaptivePoolGeometry, dy: Arr, dx: Arr): void {
  dx.fill(0, 0, g.planes * g.inHeight * g.inWidth);
  let out = 0;
  for (let p = 0; p < g.planes; p++) {
    const plane = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      const [y0, y1] = adaptiveWindow(oy, g.inHeight, g.outHeight);
      for (let ox = 0; ox < g.outWidth; ox++) {
        const [x0, x1] = adaptiveWindow(ox, g.inWidth, g.outWidth);
        const share = dy[out++] / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx[plane + iy * g.inWidth + ix] += share;
      }
    }
  }
}
