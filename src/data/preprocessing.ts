// How a model turns pixels (0..255) into its input: (pixel - mean) * scale, per channel. A model
// carries its own: our runs from scratch subtract their training data's mean image and multiply
// by the architecture's input scale (the paper's way); torchvision's ImageNet weights expect RGB
// in [0, 1] normalised by ImageNet's mean and std; Caffe's BVLC weights expect [0, 255] minus
// ImageNet's mean (their BGR order is turned into RGB when the weights are read, io/caffe.ts).
// A fine-tuned run keeps its source's (DESIGN.md section 10).
import { ShapeError } from '../core/errors.js';

export interface Preprocessing {
  /** 'image': the mean image of the data's training split; numbers: constants per channel (pixel units). */
  mean: 'image' | number[];
  /** One factor per channel of the net's input. */
  scale: number[];
  /** Where it comes from, in words (reports and notices). */
  origin: string;
}

/** torchvision: x / 255 normalised by ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). */
export const TORCHVISION_PREPROCESSING: Preprocessing = {
  mean: [0.485, 0.456, 0.406].map((m) => 255 * m),
  scale: [0.229, 0.224, 0.225].map((s) => 1 / (255 * s)),
  origin: "torchvision's ImageNet mean and std",
};

/**
 * Caffe's BVLC AlexNet: raw [0, 255] minus ImageNet's mean. The weights file does not carry the
 * mean image (ilsvrc_2012_mean.binaryproto), so its mean pixel is used, as Caffe's own Python
 * classifier does: (104.007, 116.669, 122.679) in BGR, here in RGB.
 */
export const CAFFE_PREPROCESSING: Preprocessing = {
  mean: [122.67891434, 116.66876762, 104.00698793],
  scale: [1, 1, 1],
  origin: "Caffe's ImageNet mean pixel",
};

/** What a run from scratch uses: its data's mean image and the architecture's (or --input-scale's) factor. */
export function dataPreprocessing(channels: number, scale: number): Preprocessing {
  return { mean: 'image', scale: new Array<number>(channels).fill(scale), origin: "the training data's mean image" };
}

/** A saved model's preprocessing: its own where it records one, else its data's mean image and its scale. */
export function modelPreprocessing(m: { input: readonly number[]; scale: number; preprocessing?: Preprocessing }): Preprocessing {
  return m.preprocessing ?? dataPreprocessing(m.input[0], m.scale);
}

/** The options of the data path (train/data.ts DataOptions) that apply `p`. */
export function preprocessingOptions(p: Preprocessing): { mean?: number[]; scale: number[] } {
  return p.mean === 'image' ? { scale: p.scale } : { mean: p.mean, scale: p.scale };
}

/** `p` for a net of `channels` input channels: per-channel values of a grey model repeated for 3 is refused. */
export function checkPreprocessing(p: Preprocessing, channels: number, what: string): Preprocessing {
  const ok = (v: number[]) => v.length === channels && v.every(Number.isFinite);
  if (!ok(p.scale) || (p.mean !== 'image' && !ok(p.mean))) {
    throw new ShapeError(`${what}: preprocessing for ${p.scale.length} channels (${p.origin}), but the net takes ${channels}`);
  }
  return p;
}
