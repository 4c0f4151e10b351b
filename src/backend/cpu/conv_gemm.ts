// The fast CPU convolution: im2col + GEMM, per sample and per group. Same contract and results
// (up to float rounding) as the reference loops in conv.ts, which the tests compare it with.
import type { ConvGeometry } from '../../core/geometry.js';
import { gemm, rowMajor, transposed } from './gemm.js';
import type { Arr } from './types.js';

let columns = new Float32Array(0);

function columnBuffer(size: number): Float32Array {
  if (columns.length < size) columns = new Float32Array(size);
  return columns;
}

/**
 * Unfolds channels [firstC, firstC + cPerGroup) of sample n into col[cPerGroup*KH*KW, OH*OW]:
 * row (c, ky, kx), column (oy, ox) holds x[n, firstC + c, oy*stride - pad + ky, ox*stride - pad + kx].
 */
function im2col(g: ConvGeometry, x: Arr, n: number, firstC: number, col: Float32Array): void {
  const { inChannels: C, inHeight: H, inWidth: W, kernelH: KH, kernelW: KW, stride, pad } = g;
  const { outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / g.groups;
  let row = 0;
  for (let c = 0; c < cPerGroup; c++) {
    const plane = (n * C + firstC + c) * H * W;
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++, row++) {
        let dst = row * OH * OW;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H) {
            col.fill(0, dst, dst + OW);
            dst += OW;
            continue;
          }
          const src = plane + iy * W;
          for (let ox = 0; ox < OW; ox++, dst++) {
            const ix = ox * stride - pad + kx;
            col[dst] = ix >= 0 && ix < W ? x[src + ix] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds col[cPerGroup*KH*KW, OH*OW] back into dx's channels of the group. */
function col2imAdd(g: ConvGeometry, col: Float32Array, n: number, firstC: number, dx: Arr): void {
  const { inChannels: C, inHeight: H, inWidth: W, kernelH: KH, kernelW: KW, stride, pad } = g;
  const { outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / g.groups;
  let row = 0;
  for (let c = 0; c < cPerGroup; c++) {
    const plane = (n * C + firstC + c) * H * W;
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++, row++) {
        let src = row * OH * OW;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H) {
            src += OW;
            continue;
          }
          const dst = plane + iy * W;
          for (let ox = 0; ox < OW; ox++, src++) {
            const ix = ox * stride - pad + kx;
            if (ix >= 0 && ix < W) dx[dst + ix] += col[src];
          }
        }
      }
    }
  }
}

/** Per-group sizes: rows of the unfolded input, output channels, output pixels. */
function groupSizes(g: ConvGeometry) {
  const cPerGroup = g.inChannels / g.groups;
  return {
    cPerGroup,
    oPerGroup: g.outChannels / g.groups,
    patch: cPerGroup * g.kernelH * g.kernelW,
    pixels: g.outHeight * g.outWidth,
  };
}

/** x: [N, C, H, W]; w: [O, C/groups, KH, KW]; bias: [O] or null; y: [N, O, OH, OW] (overwritten). */
export function conv2dForwardGemm(g: ConvGeometry, x: Arr, w: Arr, bias: Arr | null, y: Arr): void {
  const { cPerGroup, oPerGroup, patch, pixels } = groupSizes(g);
  const col = columnBuffer(patch * pixels);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(g, x, n, grp * cPerGroup, col);
      const yOffset = (n * g.outChannels + grp * oPerGroup) * pixels;
      gemm(oPerGroup, pixels, patch, rowMajor(w, grp * oPerGroup * patch, patch), rowMajor(col, 0, pixels), y, yOffset, pixels, false);
    }
    if (bias) {
      for (let o = 0; o < g.outChannels; o++) {
        const start = (n * g.outChannels + o) * pixels;
        for (let p = 0; p < pixels; p++) y[start + p] += bias[o];
      }
    }
  }
}

/** dy: [N, O, OH, OW]; w: [O, C/groups, KH, KW]; dx: [N, C, H, W] (overwritten). */
export function conv2dBackwardDataGemm(g: ConvGeometry, dy: Arr, w: Arr, dx: Arr): void {
  const { cPerGroup, oPerGroup, patch, pixels } = groupSizes(g);
  const col = columnBuffer(patch * pixels);
  dx.fill(0, 0, g.batch * g.inChannels * g.inHeight * g.inWidth);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const dyOffset = (n * g.outChannels + grp * oPerGroup) * pixels;
      // col[patch, pixels] = W_g^T [patch, oPerGroup] * dY_g [oPerGroup, pixels]
      gemm(patch, pixels, oPerGroup, transposed(w, grp * oPerGroup * patch, patch), rowMajor(dy, dyOffset, pixels), col, 0, pixels, false);
      col2imAdd(g, col, n, grp * cPerGroup, dx);
    }
  }
}

/** x: [N, C, H, W]; dy: [N, O, OH, OW]; dw: [O, C/groups, KH, KW] (+=); db: [O] (+=) or null. */
export function conv2dBackwardFilterGemm(g: ConvGeometry, x: Arr, dy: Arr, dw: Arr, db: Arr | null): void {
  const { cPerGroup, oPerGroup, patch, pixels } = groupSizes(g);
  const col = columnBuffer(patch * pixels);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(g, x, n, grp * cPerGroup, col);
      const dyOffset = (n * g.outChannels + grp * oPerGroup) * pixels;
      // dW_g[oPerGroup, patch] += dY_g [oPerGroup, pixels] * col^T [pixels, patch]
      gemm(oPerGroup, patch, pixels, rowMajor(dy, dyOffset, pixels), transposed(col, 0, pixels), dw, grp * oPerGroup * patch, patch, true);
    }
    if (db) {
      for (let o = 0; o < g.outChannels; o++) {
        const start = (n * g.outChannels + o) * pixels;
        let s = 0;
        for (let p = 0; p < pixels; p++) s += dy[start + p];
        db[o] += s;
      }
    }
  }
}
