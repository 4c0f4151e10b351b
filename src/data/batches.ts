// From an in-memory image set to network input: pixels as floats minus the per-channel mean of
// the training set, times a scale (1 keeps the paper's raw-pixel range; 1/255 maps to ~[-1, 1]
// for nets initialised for unit-scale inputs). Greyscale is replicated to three channels and
// sizes are matched by bilinear resampling when the architecture wants another shape.
import { ShapeError } from '../core/errors.js';
import type { ImageSet } from './fashion_mnist.js';

export interface Preprocessing {
  /** Per-channel means of the training images, in pixel units (0..255). */
  mean: number[];
  scale: number;
}

/** Per-channel means of the first `count` images. */
export function channelMeans(set: ImageSet, count = set.count): number[] {
  const pixels = set.height * set.width;
  const sums = new Float64Array(set.channels);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < set.channels; c++) {
      const base = (n * set.channels + c) * pixels;
      for (let p = 0; p < pixels; p++) sums[c] += set.images[base + p];
    }
  }
  return Array.from(sums, (s) => s / (count * pixels));
}

/** Bilinear sample of channel plane `src` (h x w) at output pixel (oy, ox) of an oh x ow grid. */
function sample(src: Uint8Array, base: number, h: number, w: number, oh: number, ow: number, oy: number, ox: number): number {
  // Align pixel centres, as PyTorch's interpolate(align_corners=False).
  const fy = Math.min(Math.max(((oy + 0.5) * h) / oh - 0.5, 0), h - 1);
  const fx = Math.min(Math.max(((ox + 0.5) * w) / ow - 0.5, 0), w - 1);
  const y0 = Math.floor(fy);
  const x0 = Math.floor(fx);
  const y1 = Math.min(y0 + 1, h - 1);
  const x1 = Math.min(x0 + 1, w - 1);
  const dy = fy - y0;
  const dx = fx - x0;
  const top = src[base + y0 * w + x0] * (1 - dx) + src[base + y0 * w + x1] * dx;
  const bottom = src[base + y1 * w + x0] * (1 - dx) + src[base + y1 * w + x1] * dx;
  return top * (1 - dy) + bottom * dy;
}

/**
 * Writes images `indices` of `set` into `input` ([B, C, H, W] for `shape` = [C, H, W]) and their
 * labels into `labels` ([B]).
 */
export function fillBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  shape: readonly [number, number, number],
  pre: Preprocessing,
  input: Float32Array,
  labels: Float32Array,
): void {
  const [C, H, W] = shape;
  if (set.channels !== C && set.channels !== 1) {
    throw new ShapeError(`images have ${set.channels} channels; the network expects ${C}`);
  }
  const srcPixels = set.height * set.width;
  const sameSize = set.height === H && set.width === W;
  for (let b = 0; b < indices.length; b++) {
    const n = indices[b];
    labels[b] = set.labels[n];
    for (let c = 0; c < C; c++) {
      const srcC = set.channels === 1 ? 0 : c;
      const srcBase = (n * set.channels + srcC) * srcPixels;
      const mean = pre.mean[srcC];
      let dst = (b * C + c) * H * W;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++, dst++) {
          const v = sameSize ? set.images[srcBase + y * W + x] : sample(set.images, srcBase, set.height, set.width, H, W, y, x);
          input[dst] = (v - mean) * pre.scale;
        }
      }
    }
  }
}

/** Images [start, end) of a set, as a set of their own (no copy). */
export function sliceSet(set: ImageSet, start: number, end: number): ImageSet {
  const size = set.channels * set.height * set.width;
  return {
    ...set,
    images: set.images.subarray(start * size, end * size),
    labels: set.labels.subarray(start, end),
    count: end - start,
  };
}
