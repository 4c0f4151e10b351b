// 2-D convolution, the readable reference: plain loops, cross-correlation as in PyTorch.
import type { ConvGeometry } from '../../core/geometry.js';
import type { Arr } from './types.js';

/**
 * y = conv(x, w) + b.
 * x: [N, C, H, W]; w: [O, C/groups, KH, KW]; bias: [O] or null; y: [N, O, OH, OW] (overwritten).
 */
export function conv2dForward(g: ConvGeometry, x: Arr, w: Arr, bias: Arr | null, y: Arr): void {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, kernelH: KH, kernelW: KW } = g;
  const { stride, pad, groups, outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / groups;
  const oPerGroup = O / groups;
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      const firstC = Math.floor(o / oPerGroup) * cPerGroup;
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let sum = bias ? bias[o] : 0;
          for (let ci = 0; ci < cPerGroup; ci++) {
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= W) continue;
                sum +=
                  x[((n * C + firstC + ci) * H + iy) * W + ix] * w[((o * cPerGroup + ci) * KH + ky) * KW + kx];
              }
            }
          }
          y[((n * O + o) * OH + oy) * OW + ox] = sum;
        }
      }
    }
  }
}

/**
 * dx = conv^T(dy, w): the gradient with respect to the input.
 * dy: [N, O, OH, OW]; w: [O, C/groups, KH, KW]; dx: [N, C, H, W] (overwritten).
 */
export function conv2dBackwardData(g: ConvGeometry, dy: Arr, w: Arr, dx: Arr): void {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, kernelH: KH, kernelW: KW } = g;
  const { stride, pad, groups, outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / groups;
  const oPerGroup = O / groups;
  dx.fill(0, 0, batch * C * H * W);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      const firstC = Math.floor(o / oPerGroup) * cPerGroup;
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const d = dy[((n * O + o) * OH + oy) * OW + ox];
          for (let ci = 0; ci < cPerGroup; ci++) {
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= W) continue;
                dx[((n * C + firstC + ci) * H + iy) * W + ix] += d * w[((o * cPerGroup + ci) * KH + ky) * KW + kx];
              }
            }
          }
        }
      }
    }
  }
}

/**
 * dw += corr(x, dy); db += sum of dy over N, OH, OW.
 * x: [N, C, H, W]; dy: [N, O, OH, OW]; dw: [O, C/groups, KH, KW]; db: [O] or null.
 */
export function conv2dBackwardFilter(g: ConvGeometry, x: Arr, dy: Arr, dw: Arr, db: Arr | null): void {
  const { batch, inChannels: C, inHeight: H, inWidth: W, outChannels: O, kernelH: KH, kernelW: KW } = g;
  const { stride, pad, groups, outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / groups;
  const oPerGroup = O / groups;
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      const firstC = Math.floor(o / oPerGroup) * cPerGroup;
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const d = dy[((n * O + o) * OH + oy) * OW + ox];
          if (db) db[o] += d;
          for (let ci = 0; ci < cPerGroup; ci++) {
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= W) continue;
                dw[((o * cPerGroup + ci) * KH + ky) * KW + kx] += d * x[((n * C + firstC + ci) * H + iy) * W + ix];
              }
            }
          }
        }
      }
    }
  }
}
