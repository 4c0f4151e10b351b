// The paper's augmentation (section 4.1) and its evaluation views. Training: a random
// crop x crop patch of the stored image, mirrored with probability 1/2, plus PCA lighting: the
// colour sum_i p_i * alpha_i * lambda_i added to every pixel, alpha_i ~ N(0, 0.1) drawn per
// image per use. Evaluation: the centre patch, or ten views (four corners and centre, and their
// mirror images). Every draw is a pure function of (seed, epoch, image index), so any thread,
// any worker count and any resumed run produce the same bytes.
//
// Float batches are made on the CPU in one pass: (pixel - mean + colour) * scale[c] at the crop's
// (mirrored) source positions (src/backend/cpu/crops.ts). For a device that augments, uint8
// batches carry the stored images uncropped with per-crop parameters: the CPU only reads
// records (no per-pixel work), and the backend's writeCrops applies the same formula.
import { UsageError } from '../core/errors.js';
import { cropInto, PARAMS_PER_CROP, type CropGeometry, type View } from '../backend/cpu/crops.js';
import type { ImageReader } from './dataset.js';
import type { ImageStats } from './stats.js';
import { randomU32 } from '../rng/hash.js';

export { PARAMS_PER_CROP, type View };

export type MeanMode = 'image' | 'channel' | 'none';
export type ViewMode = 'train' | 'centre' | 'ten-crop';

/** Everything a worker needs to augment, as plain (structured-clonable) data. */
export interface AugmentPlan {
  shape: [number, number, number];
  crop: number;
  mode: ViewMode;
  seed: number;
  /** Random mirroring in training. */
  flip: boolean;
  /** Standard deviation of alpha_i (the paper: 0.1); 0 turns lighting off. */
  lighting: number;
  eigenvalues: number[];
  eigenvectors: number[][];
  /** What is subtracted, C x H x W: the mean image, channel means broadcast, or zeros. */
  mean: Float32Array;
  /** [C]: the factor on each channel. */
  scale: number[];
  output: 'float32' | 'uint8';
}

export interface PlanOptions {
  /** 'train': random crop, mirror, lighting; 'centre': the centre crop; 'ten-crop': ten views. */
  mode: ViewMode;
  /** Seeds the crops, mirrors, alphas and (in the loader) the order of each epoch. */
  seed: number;
  /** Side of the square crop; default 227. */
  crop?: number;
  /** Random mirroring in training; default true. */
  flip?: boolean;
  /** Standard deviation of the lighting alphas in training; default 0.1, 0 for none. */
  lighting?: number;
  /**
   * What to subtract; default the mean image. Numbers are constants per channel in pixel units
   * (a model's own preprocessing, e.g. ImageNet's mean for torchvision's weights).
   */
  mean?: MeanMode | readonly number[];
  /** Factor on (pixel - mean + colour), e.g. the architecture's inputScale, or one per channel; default 1. */
  scale?: number | readonly number[];
  /** Default 'float32'; 'uint8' leaves cropping and normalising to the consumer (a device). */
  output?: 'float32' | 'uint8';
}

/** A plan for images of `shape` with training statistics `stats`; defaults are the paper's. */
export function makePlan(shape: readonly [number, number, number], stats: ImageStats, o: PlanOptions): AugmentPlan {
  const [C, H, W] = shape;
  const crop = o.crop ?? 227;
  if (!Number.isInteger(crop) || crop < 1 || crop > H || crop > W) {
    throw new UsageError(`crop ${crop} does not fit the stored ${H} x ${W} images`);
  }
  if (C > 3) throw new UsageError(`images with ${C} channels: expected 1 or 3`);
  if (stats.shape.join('x') !== shape.join('x')) throw new UsageError(`statistics of ${stats.shape.join(' x ')} images used for ${shape.join(' x ')} images`);
  const meanMode = o.mean ?? 'image';
  const mean = new Float32Array(C * H * W);
  const perChannel = (what: string, v: number | readonly number[]): number[] => {
    const values = typeof v === 'number' ? new Array<number>(C).fill(v) : [...v];
    if (values.length !== C || !values.every(Number.isFinite)) throw new UsageError(`${what}: expected ${C} finite numbers (one per channel), found [${values.join(', ')}]`);
    return values;
  };
  if (meanMode === 'image') mean.set(stats.meanImage);
  const channelMean = meanMode === 'channel' ? stats.channelMean : typeof meanMode === 'object' ? perChannel('mean', meanMode) : null;
  if (channelMean) for (let c = 0; c < C; c++) mean.fill(channelMean[c], c * H * W, (c + 1) * H * W);
  return {
    shape: [C, H, W], crop, mode: o.mode, seed: o.seed, flip: o.flip ?? true, lighting: o.lighting ?? 0.1,
    eigenvalues: stats.eigenvalues, eigenvectors: stats.eigenvectors, mean, scale: perChannel('scale', o.scale ?? 1), output: o.output ?? 'float32',
  };
}

export const viewsPerImage = (mode: ViewMode) => (mode === 'ten-crop' ? 10 : 1);

const AUGMENT_STREAM = 0xa06;

/** The random choices for image `index` in `epoch`: crop position, mirroring, alphas. */
export function trainDraw(plan: AugmentPlan, epoch: number, index: number): { view: View; alpha: number[] } {
  const [C, H, W] = plan.shape;
  const key = randomU32(plan.seed, AUGMENT_STREAM, epoch);
  const u = (k: number) => randomU32(key, index, k) / 4294967296; // uniform in [0, 1)
  const view = {
    x: Math.floor(u(0) * (W - plan.crop + 1)),
    y: Math.floor(u(1) * (H - plan.crop + 1)),
    flip: plan.flip && u(2) >= 0.5,
  };
  // Box-Muller; 1 - u is in (0, 1], so the log is finite.
  const alpha = Array.from({ length: C }, (_, c) => plan.lighting * Math.sqrt(-2 * Math.log(1 - u(3 + 2 * c))) * Math.cos(2 * Math.PI * u(4 + 2 * c)));
  return { view, alpha };
}

/** The central crop (offsets rounded down, as Caffe: 14 for 227 of 256). */
export function centreView(shape: readonly number[], crop: number): View {
  return { x: Math.floor((shape[2] - crop) / 2), y: Math.floor((shape[1] - crop) / 2), flip: false };
}

/** Top-left, top-right, bottom-left, bottom-right, centre; then the same five mirrored. */
export function tenViews(shape: readonly number[], crop: number): View[] {
  const right = shape[2] - crop;
  const bottom = shape[1] - crop;
  const five = [{ x: 0, y: 0 }, { x: right, y: 0 }, { x: 0, y: bottom }, { x: right, y: bottom }, centreView(shape, crop)];
  return [...five.map((v) => ({ x: v.x, y: v.y, flip: false })), ...five.map((v) => ({ x: v.x, y: v.y, flip: true }))];
}

/**
 * The colour the paper adds for `alpha`: 255 * sum_i p_i alpha_i lambda_i, in pixel units,
 * rounded to float32 as batch params store it, so CPU and device finishing agree exactly.
 */
export function lightingColour(plan: AugmentPlan, alpha: readonly number[]): number[] {
  const C = plan.shape[0];
  return Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let i = 0; i < alpha.length; i++) s += plan.eigenvectors[i][c] * alpha[i] * plan.eigenvalues[i];
    return Math.fround(255 * s);
  });
}

/** Writes the crop at `view` of a stored image (at `imageOffset` in `image`) into `out` at `offset`. */
export function augmentInto(
  image: Uint8Array, imageOffset: number, plan: AugmentPlan, view: View, colour: readonly number[], out: Float32Array, offset: number,
): void {
  cropInto(image, imageOffset, plan.shape, plan.crop, view, colour, plan.mean, plan.scale, out, offset);
}

/**
 * Where augmentBatch writes. Float plans: `input` [crops, C, crop, crop]. Uint8 plans: `pixels`
 * [images, C, H, W], the stored images. Both: `params` [crops, PARAMS_PER_CROP].
 */
export interface BatchBuffers {
  input: Float32Array;
  pixels: Uint8Array;
  params: Float32Array;
}

/**
 * Scratch memory for augmentBatch: one stored image and one float crop. Work happens in these
 * private arrays and results are copied out, because V8 accesses memory on a SharedArrayBuffer
 * (the loader's batch slots) element by element at about half the speed.
 */
export function makeScratch(plan: AugmentPlan): { image: Uint8Array; crop: Float32Array } {
  const [C, H, W] = plan.shape;
  return { image: new Uint8Array(C * H * W), crop: new Float32Array(C * plan.crop * plan.crop) };
}

/** The views of each image: drawn per (epoch, index) in training, fixed in evaluation. */
function viewsOf(plan: AugmentPlan): (epoch: number, index: number) => { views: View[]; colour: number[] } {
  const C = plan.shape[0];
  const none = new Array<number>(C).fill(0);
  if (plan.mode === 'train') {
    return (epoch, index) => {
      const draw = trainDraw(plan, epoch, index);
      return { views: [draw.view], colour: plan.lighting > 0 ? lightingColour(plan, draw.alpha) : none };
    };
  }
  const views = plan.mode === 'ten-crop' ? tenViews(plan.shape, plan.crop) : [centreView(plan.shape, plan.crop)];
  return () => ({ views, colour: none });
}

/** Reads images `indices` and writes their views (image-major) or the images themselves into `out`. */
export function augmentBatch(
  reader: ImageReader, plan: AugmentPlan, epoch: number, indices: ArrayLike<number>, out: BatchBuffers, scratch = makeScratch(plan),
): void {
  const imageSize = scratch.image.length;
  const cropSize = scratch.crop.length;
  const viewsFor = viewsOf(plan);
  let k = 0; // crop number within the batch
  for (let b = 0; b < indices.length; b++) {
    const { views, colour } = viewsFor(epoch, indices[b]);
    if (plan.output === 'uint8') {
      reader.readImage(indices[b], out.pixels.subarray(b * imageSize, (b + 1) * imageSize));
    } else {
      reader.readImage(indices[b], scratch.image);
    }
    for (const view of views) {
      if (plan.output === 'float32') {
        augmentInto(scratch.image, 0, plan, view, colour, scratch.crop, 0);
        out.input.set(scratch.crop, k * cropSize);
      }
      out.params.set([view.x, view.y, view.flip ? 1 : 0, colour[0], colour[1] ?? 0, colour[2] ?? 0], k * PARAMS_PER_CROP);
      k++;
    }
  }
}

/** The geometry of a uint8 batch of `images` under `plan`, for a backend's writeCrops. */
export function cropGeometry(plan: AugmentPlan, images: number): CropGeometry {
  const [channels, height, width] = plan.shape;
  return { images, views: viewsPerImage(plan.mode), channels, height, width, crop: plan.crop, scale: plan.scale };
}
