// The fast CPU convolution: im2col + GEMM over chunks of several samples at once, per group, so
// that each product is large enough to run near the GEMM's peak. Same contract and results (up
// to float rounding) as the reference loops in conv.ts, which the tests compare it with.
import type { ConvGeometry } from '../../core/geometry.js';
import { rowMajor, transposed } from './gemm.js';
import { fastGemm as gemm } from './gemm_wasm.js';
import type { Arr } from './types.js';

/** Columns of the unfolded input per chunk: bounds the scratch memory to ~64 MB. */
const MAX_COLUMN_FLOATS = 16 * 2 ** 20;

let columns = new Float32Array(0);
let outputs = new Float32Array(0);

function scratch(columnFloats: number, outputFloats: number): [Float32Array, Float32Array] {
  if (columns.length < columnFloats) columns = new Float32Array(columnFloats);
  if (outputs.length < outputFloats) outputs = new Float32Array(outputFloats);
  return [columns, outputs];
}

/** Per-group sizes and the chunk of samples processed together. */
function plan(g: ConvGeometry) {
  const cPerGroup = g.inChannels / g.groups;
  const patch = cPerGroup * g.kernelH * g.kernelW;
  const pixels = g.outHeight * g.outWidth;
  const chunk = Math.max(1, Math.min(g.batch, Math.floor(MAX_COLUMN_FLOATS / (patch * pixels))));
  return { cPerGroup, oPerGroup: g.outChannels / g.groups, patch, pixels, chunk };
}

/**
 * Output columns [lo, hi) whose input column ox * stride - pad + kx lies inside [0, W): the
 * rest read padding.
 */
function validColumns(g: ConvGeometry, kx: number): [number, number] {
  const { inWidth: W, stride, pad, outWidth: OW } = g;
  const lo = Math.min(OW, Math.max(0, Math.ceil((pad - kx) / stride)));
  const hi = Math.max(lo, Math.min(OW, Math.floor((W - 1 + pad - kx) / stride) + 1));
  return [lo, hi];
}

/**
 * Unfolds channels [firstC, firstC + cPerGroup) of samples [n0, n0 + count) into
 * col[cPerGroup*KH*KW, count*OH*OW]: row (c, ky, kx), column (n, oy, ox) holds
 * x[n0 + n, firstC + c, oy*stride - pad + ky, ox*stride - pad + kx] (0 in the padding).
 */
function im2col(g: ConvGeometry, x: Arr, n0: number, count: number, firstC: number, col: Float32Array): void {
  const { inChannels: C, inHeight: H, inWidth: W, kernelH: KH, kernelW: KW, stride, pad } = g;
  const { outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / g.groups;
  let dst = 0;
  for (let c = 0; c < cPerGroup; c++) {
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        const [lo, hi] = validColumns(g, kx);
        for (let n = n0; n < n0 + count; n++) {
          const plane = (n * C + firstC + c) * H * W;
          for (let oy = 0; oy < OH; oy++, dst += OW) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) {
              for (let ox = 0; ox < OW; ox++) col[dst + ox] = 0;
              continue;
            }
            // Plain loops: TypedArray fill costs a call, and these rows are short (28 for mini).
            for (let ox = 0; ox < lo; ox++) col[dst + ox] = 0;
            const src = plane + iy * W - pad + kx; // input column of output column 0
            for (let ox = lo; ox < hi; ox++) col[dst + ox] = x[src + ox * stride];
            for (let ox = hi; ox < OW; ox++) col[dst + ox] = 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds col back into dx's channels of the group, for samples [n0, n0 + count). */
function col2imAdd(g: ConvGeometry, col: Float32Array, n0: number, count: number, firstC: number, dx: Arr): void {
  const { inChannels: C, inHeight: H, inWidth: W, kernelH: KH, kernelW: KW, stride, pad } = g;
  const { outHeight: OH, outWidth: OW } = g;
  const cPerGroup = C / g.groups;
  let src = 0;
  for (let c = 0; c < cPerGroup; c++) {
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        const [lo, hi] = validColumns(g, kx);
        for (let n = n0; n < n0 + count; n++) {
          const plane = (n * C + firstC + c) * H * W;
          for (let oy = 0; oy < OH; oy++, src += OW) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) continue;
            const dst = plane + iy * W - pad + kx;
            for (let ox = lo; ox < hi; ox++) dx[dst + ox * stride] += col[src + ox];
          }
        }
      }
    }
  }
}

/**
 * Moves a group's channels between NCHW (`nchw`, samples [n0, n0 + count)) and the GEMM layout
 * [oPerGroup, count*pixels] (`rows`), in the direction `toRows`.
 */
function regroup(g: ConvGeometry, nchw: Arr, rows: Float32Array, n0: number, count: number, firstO: number, toRows: boolean): void {
  const pixels = g.outHeight * g.outWidth;
  const oPerGroup = g.outChannels / g.groups;
  for (let o = 0; o < oPerGroup; o++) {
    for (let n = 0; n < count; n++) {
      const a = ((n0 + n) * g.outChannels + firstO + o) * pixels;
      const b = (o * count + n) * pixels;
      if (toRows) rows.set(nchw.subarray(a, a + pixels), b);
      else nchw.set(rows.subarray(b, b + pixels), a);
    }
  }
}

/** x: [N, C, H, W]; w: [O, C/groups, KH, KW]; bias: [O] or null; y: [N, O, OH, OW] (overwritten). */
export function conv2dForwardGemm(g: ConvGeometry, x: Arr, w: Arr, bias: Arr | null, y: Arr): void {
  const { cPerGroup, oPerGroup, patch, pixels, chunk } = plan(g);
  const [col, out] = scratch(patch * chunk * pixels, oPerGroup * chunk * pixels);
  for (let n0 = 0; n0 < g.batch; n0 += chunk) {
    const count = Math.min(chunk, g.batch - n0);
    const width = count * pixels;
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(g, x, n0, count, grp * cPerGroup, col);
      gemm(oPerGroup, width, patch, rowMajor(w, grp * oPerGroup * patch, patch), rowMajor(col, 0, width), out, 0, width, false);
      regroup(g, y, out, n0, count, grp * oPerGroup, false);
    }
  }
  if (bias) {
    for (let n = 0; n < g.batch; n++) {
      for (let o = 0; o < g.outChannels; o++) {
        const start = (n * g.outChannels + o) * pixels;
        for (let p = 0; p < pixels; p++) y[start + p] += bias[o];
      }
    }
  }
}

/** dy: [N, O, OH, OW]; w: [O, C/groups, KH, KW]; dx: [N, C, H, W] (overwritten). */
export function conv2dBackwardDataGemm(g: ConvGeometry, dy: Arr, w: Arr, dx: Arr): void {
  const { cPerGroup, oPerGroup, patch, pixels, chunk } = plan(g);
  const [col, rows] = scratch(patch * chunk * pixels, oPerGroup * chunk * pixels);
  dx.fill(0, 0, g.batch * g.inChannels * g.inHeight * g.inWidth);
  for (let n0 = 0; n0 < g.batch; n0 += chunk) {
    const count = Math.min(chunk, g.batch - n0);
    const width = count * pixels;
    for (let grp = 0; grp < g.groups; grp++) {
      regroup(g, dy, rows, n0, count, grp * oPerGroup, true);
      // col[patch, width] = W_g^T [patch, oPerGroup] * dY_g [oPerGroup, width]
      gemm(patch, width, oPerGroup, transposed(w, grp * oPerGroup * patch, patch), rowMajor(rows, 0, width), col, 0, width, false);
      col2imAdd(g, col, n0, count, grp * cPerGroup, dx);
    }
  }
}

/** x: [N, C, H, W]; dy: [N, O, OH, OW]; dw: [O, C/groups, KH, KW] (+=); db: [O] (+=) or null. */
export function conv2dBackwardFilterGemm(g: ConvGeometry, x: Arr, dy: Arr, dw: Arr, db: Arr | null): void {
  const { cPerGroup, oPerGroup, patch, pixels, chunk } = plan(g);
  const [col, rows] = scratch(patch * chunk * pixels, oPerGroup * chunk * pixels);
  for (let n0 = 0; n0 < g.batch; n0 += chunk) {
    const count = Math.min(chunk, g.batch - n0);
    const width = count * pixels;
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(g, x, n0, count, grp * cPerGroup, col);
      regroup(g, dy, rows, n0, count, grp * oPerGroup, true);
      // dW_g[oPerGroup, patch] += dY_g [oPerGroup, width] * col^T [width, patch]
      gemm(oPerGroup, patch, width, rowMajor(rows, 0, width), transposed(col, 0, width), dw, grp * oPerGroup * patch, patch, true);
    }
  }
  if (db) {
    for (let n = 0; n < g.batch; n++) {
      for (let o = 0; o < g.outChannels; o++) {
        const start = (n * g.outChannels + o) * pixels;
        let s = 0;
        for (let p = 0; p < pixels; p++) s += dy[start + p];
        db[o] += s;
      }
    }
  }
}
