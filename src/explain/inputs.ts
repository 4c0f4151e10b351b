// Images as the explain methods take them: the one place an image becomes the net's input. A
// centre-crop stream of the model's data (TrainingData.centreStream: its crop, mean and scale)
// feeds the net as training and evaluation do (feedBatch: the loader's floats on the CPU, the
// backend's writeCrops on a GPU), and the input is read back from the net's input buffer. The
// pixels to draw maps over are the same crop of the stored image.
import { product } from '../core/geometry.js';
import { UsageError } from '../core/errors.js';
import { centreView } from '../data/augment.js';
import type { ImageReader } from '../data/dataset.js';
import type { Loader } from '../data/loader.js';
import type { Net } from '../nn/net.js';
import { valueRange } from '../report/mosaic.js';
import { feedBatch } from '../train/feed.js';

export interface ExplainImage {
  /** Index of the image in the data set the stream reads. */
  index: number;
  /** The net's input, [C, H, W] floats. */
  input: Float32Array;
  /** What the net sees, as bytes: the crop of the stored image, [C, H, W]. */
  pixels: Uint8Array;
}

/** The images of `stream` (a centre-crop stream over `set`) as net inputs and pixels, in stream order. */
export async function streamImages(net: Net, stream: Loader, set: ImageReader): Promise<ExplainImage[]> {
  const size = product(net.arch.input);
  const out: ExplainImage[] = [];
  for await (const b of stream.epoch(0)) {
    if (b.views !== 1 || b.count > net.maxBatch) throw new UsageError(`streamImages: batches of ${b.count} x ${b.views} views; expected one view and at most ${net.maxBatch} images`);
    feedBatch(net, stream.plan, b);
    const inputs = await net.backend.read(net.input, b.count * size);
    for (let i = 0; i < b.count; i++) {
      out.push({ index: b.indices[i], input: inputs.slice(i * size, (i + 1) * size), pixels: cropPixels(set, b.indices[i], stream.plan.crop) });
    }
  }
  return out;
}

/** The centre crop x crop of stored image `index` of `set` (what an evaluation stream feeds), [C, crop, crop] bytes. */
export function cropPixels(set: ImageReader, index: number, crop: number): Uint8Array {
  const [C, H, W] = set.shape;
  const image = new Uint8Array(C * H * W);
  set.readImage(index, image);
  const view = centreView(set.shape, crop);
  const out = new Uint8Array(C * crop * crop);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < crop; y++) out.set(image.subarray((c * H + view.y + y) * W + view.x, (c * H + view.y + y) * W + view.x + crop), (c * crop + y) * crop);
  }
  return out;
}

/** A preprocessed input with no stored image behind it (--input X.safetensors) as bytes: stretched to 0..255. */
export function inputPixels(input: Float32Array): Uint8Array {
  const { min, range } = valueRange(input);
  return Uint8Array.from(input, (v) => Math.round(((v - min) / range) * 255));
}
