// Small images for nets with large inputs: the paper net on Fashion-MNIST (28x28 grey) or
// CIFAR-10 (32x32) sees each image scaled to side x side (256 for 227 crops) by bilinear
// interpolation, grey replicated to three channels. The same readers turn colour images grey
// (ITU-R 601 luma, as pixels.ts's toChannels) for a net of one input channel: a model trained on
// Fashion-MNIST fine-tuned on photos. Images are scaled as they are read (in the
// loader's workers), not stored scaled: 60,000 Fashion-MNIST images at 3 x 256 x 256 would take
// 11.8 GB. Sampling follows PyTorch's interpolate(mode='bilinear', align_corners=False) and
// PIL's resize: output pixel x samples the input at (x + 0.5) * in / out - 0.5, clamped.
import { DataError } from '../core/errors.js';
import type { Dataset, ImageReader, OpenedData, ReaderHandle, SplitName } from './dataset.js';
import { LUMA, toChannels } from './pixels.js';
import type { ImageStats } from './stats.js';
import { symmetricEigen } from './stats.js';

/** For each output coordinate: the two input coordinates and the weight of the second. */
interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  w: Float32Array;
}

function taps(inSize: number, outSize: number): Taps {
  const t = { lo: new Int32Array(outSize), hi: new Int32Array(outSize), w: new Float32Array(outSize) };
  for (let o = 0; o < outSize; o++) {
    const s = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    t.lo[o] = Math.min(Math.floor(s), inSize - 1);
    t.hi[o] = Math.min(t.lo[o] + 1, inSize - 1);
    t.w[o] = s - t.lo[o];
  }
  return t;
}

/**
 * Scales each of the `inC` planes of an input of `inShape` ([inC, inH, inW]) to [side, side];
 * plane c of the output ([outC, side, side]) is input plane c mod inC (grey to RGB). The sample
 * positions and weights are computed once, for every image read through it.
 */
export class Resampler {
  private readonly ty: Taps;
  private readonly tx: Taps;
  /** [inH, side]: the input rows of one plane, scaled along x (the first of the two passes). */
  private readonly rows: Float64Array;

  constructor(
    private readonly inShape: readonly [number, number, number],
    private readonly side: number,
    private readonly outC: number,
  ) {
    this.ty = taps(inShape[1], side);
    this.tx = taps(inShape[2], side);
    this.rows = new Float64Array(inShape[1] * side);
  }

  /** Writes the scaled `input` into `out`; values are rounded when `out` holds bytes. */
  apply(input: ArrayLike<number>, out: Uint8Array | Float32Array): void {
    const [inC, inH, inW] = this.inShape;
    const { side, ty, tx, rows } = this;
    const round = out instanceof Uint8Array;
    const planeSize = side * side;
    for (let c = 0; c < Math.min(inC, this.outC); c++) {
      // Along x for every input row, then along y between two of those rows: the same
      // arithmetic as interpolating each output pixel from its four inputs, done once per row.
      for (let r = 0; r < inH; r++) {
        const at = (c * inH + r) * inW;
        for (let x = 0; x < side; x++) {
          const left = input[at + tx.lo[x]];
          rows[r * side + x] = left + (input[at + tx.hi[x]] - left) * tx.w[x];
        }
      }
      for (let y = 0; y < side; y++) {
        const r0 = ty.lo[y] * side;
        const r1 = ty.hi[y] * side;
        const wy = ty.w[y];
        const row = c * planeSize + y * side;
        for (let x = 0; x < side; x++) {
          const top = rows[r0 + x];
          const v = top + (rows[r1 + x] - top) * wy;
          out[row + x] = round ? Math.round(v) : v;
        }
      }
    }
    // Grey to RGB: the further planes repeat the computed ones.
    for (let c = inC; c < this.outC; c++) out.copyWithin(c * planeSize, (c % inC) * planeSize, (c % inC + 1) * planeSize);
  }
}

/** One image scaled as Resampler does (for single uses; readers keep a Resampler). */
export function resampleImage(
  input: ArrayLike<number>, inShape: readonly [number, number, number], side: number, outC: number, out: Uint8Array | Float32Array,
): void {
  new Resampler(inShape, side, outC).apply(input, out);
}

/** A reader whose images are another's, scaled to side x side with `channels` channels. */
export class ResampledReader implements ImageReader {
  readonly shape: [number, number, number];
  readonly count: number;
  private readonly scratch: Uint8Array;
  private readonly resampler: Resampler;

  constructor(
    private readonly base: ImageReader,
    side: number,
    channels: number,
  ) {
    const [C, H, W] = base.shape;
    if (channels !== C && !(C === 1 && channels === 3) && !(C === 3 && channels === 1)) throw new DataError(`cannot make ${channels}-channel images from ${C}-channel ones`);
    this.shape = [channels, side, side];
    this.count = base.count;
    this.scratch = new Uint8Array(C * H * W);
    this.resampler = new Resampler(base.shape, side, Math.max(C, channels));
    this.colour = C > channels ? new Uint8Array(C * side * side) : null;
  }

  /** The scaled colour image before it turns grey (a 3-channel base read for 1 channel). */
  private readonly colour: Uint8Array | null;

  label(i: number): number {
    return this.base.label(i);
  }

  readImage(i: number, out: Uint8Array): void {
    this.base.readImage(i, this.scratch);
    if (!this.colour) return this.resampler.apply(this.scratch, out);
    this.resampler.apply(this.scratch, this.colour);
    out.set(toChannels(this.colour, this.shape[1] * this.shape[2], 1));
  }

  close(): void {
    this.base.close();
  }
}

/** A dataset scaled as ResampledReader does; workers rebuild it from its handle. */
export class ResampledDataset extends ResampledReader implements Dataset {
  readonly name: string;
  readonly split: SplitName;
  readonly classes: readonly string[];
  readonly classIds: readonly string[];
  readonly files?: readonly string[];
  readonly skipped: Dataset['skipped'];
  readonly handle: ReaderHandle;

  constructor(base: Dataset, side: number, channels: number) {
    super(base, side, channels);
    this.name = `${base.name}, scaled to ${channels} x ${side} x ${side}`;
    this.split = base.split;
    this.classes = base.classes;
    this.classIds = base.classIds;
    this.files = base.files;
    this.skipped = base.skipped;
    this.handle = { kind: 'resampled', base: base.handle, side, channels };
  }
}

/**
 * Statistics of the scaled images from those of the stored ones. The mean image is scaled the
 * same way (bilinear interpolation is linear, so this is the scaled images' mean up to their
 * rounding to bytes) and the channel means are its plane means. The RGB covariance is the
 * stored pixels' (replicated grey: every entry the grey variance); interpolation smooths, so
 * the scaled pixels' variance is a little smaller: it only sets PCA lighting's scale.
 */
export function resampledStats(stats: ImageStats, side: number, channels: number): ImageStats {
  const C = stats.shape[0];
  if (C > channels) return greyStats(resampledStats(stats, side, C));
  const meanImage = new Float32Array(channels * side * side);
  resampleImage(stats.meanImage, stats.shape, side, channels, meanImage);
  const channelMean = Array.from({ length: channels }, (_, c) => {
    let s = 0;
    for (let k = c * side * side; k < (c + 1) * side * side; k++) s += meanImage[k];
    return s / (side * side);
  });
  const covariance = Array.from({ length: channels }, (_, a) => Array.from({ length: channels }, (_, b) => stats.covariance[a % C][b % C]));
  const { values, vectors } = symmetricEigen(covariance);
  return { images: stats.images, shape: [channels, side, side], meanImage, channelMean, covariance, eigenvalues: values, eigenvectors: vectors };
}

/** Statistics of RGB images turned grey: luma is linear, so its mean is the means' luma and its variance w' S w. */
function greyStats(rgb: ImageStats): ImageStats {
  const [, H, W] = rgb.shape;
  const plane = H * W;
  const meanImage = new Float32Array(plane);
  for (let p = 0; p < plane; p++) meanImage[p] = LUMA.reduce((s, w, c) => s + w * rgb.meanImage[c * plane + p], 0);
  const variance = LUMA.reduce((s, wa, a) => s + LUMA.reduce((t, wb, b) => t + wa * wb * rgb.covariance[a][b], 0), 0);
  return {
    images: rgb.images, shape: [1, H, W], meanImage, channelMean: [LUMA.reduce((s, w, c) => s + w * rgb.channelMean[c], 0)],
    covariance: [[variance]], eigenvalues: [variance], eigenvectors: [[1]],
  };
}

/** Every split of `data` scaled to [channels, side, side], with statistics to match. */
export function resampledData(data: OpenedData, side: number, channels: number): OpenedData {
  const scale = (d: Dataset | undefined) => (d ? new ResampledDataset(d, side, channels) : undefined);
  return { ...data, train: scale(data.train)!, val: scale(data.val), test: scale(data.test), stats: resampledStats(data.stats, side, channels) };
}
