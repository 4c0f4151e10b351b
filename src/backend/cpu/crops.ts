// Network input from stored uint8 images: each crop is a crop x crop window of its image,
// mirrored or not, with the mean subtracted, a lighting colour added per channel, and a scale
// per channel (one for the paper's raw pixels; 1 / (255 std_c) for ImageNet-normalised weights):
//   out = (pixel - mean + colour[c]) * scale[c],
// pixel and mean read at the same (mirrored) source position, so a mirrored crop is the mirror
// image of the mean-subtracted patch. The data loader's workers use cropInto for float batches;
// for uint8 batches a backend runs cropImages on its own memory (WGSL: crop_images.wgsl).
import type { Arr } from './types.js';

/** Floats per crop in a params array: x, y, flip (0 or 1), then the colour of channels 0..2. */
export const PARAMS_PER_CROP = 6;

/** `images` stored images of [channels, height, width], `views` crops of crop x crop each. */
export interface CropGeometry {
  images: number;
  views: number;
  channels: number;
  height: number;
  width: number;
  crop: number;
  /** [channels]: the factor on each channel's (pixel - mean + colour). */
  scale: number[];
}

/** Top-left corner of a crop in the stored image, and whether it is mirrored. */
export interface View {
  x: number;
  y: number;
  flip: boolean;
}

/**
 * Writes the crop at `view` of one stored image (shape [C, H, W], at `imageOffset` in `image`)
 * into `out` at `offset`: [C, crop, crop].
 */
export function cropInto(
  image: Uint8Array, // [..., C, H, W, ...]
  imageOffset: number,
  shape: readonly [number, number, number], // [C, H, W]
  crop: number,
  view: View,
  colour: ArrayLike<number>, // [C]
  mean: ArrayLike<number>, // [C, H, W]
  scale: ArrayLike<number>, // [C]
  out: Arr, // [..., C, crop, crop, ...]
  offset: number,
): void {
  const [C, H, W] = shape;
  let o = offset;
  for (let c = 0; c < C; c++) {
    const add = colour[c];
    const s = scale[c];
    for (let y = 0; y < crop; y++) {
      const row = c * H * W + (view.y + y) * W + view.x;
      const at = imageOffset + row;
      if (view.flip) {
        for (let x = crop - 1; x >= 0; x--) out[o++] = (image[at + x] - mean[row + x] + add) * s;
      } else {
        for (let x = 0; x < crop; x++) out[o++] = (image[at + x] - mean[row + x] + add) * s;
      }
    }
  }
}

/**
 * All crops of a batch, image-major (crop v of image b is number b * views + v), as `params`
 * place them.
 */
export function cropImages(
  g: CropGeometry,
  pixels: Uint8Array, // [images, C, H, W]
  params: ArrayLike<number>, // [images * views, PARAMS_PER_CROP]
  mean: Arr, // [C, H, W]
  out: Arr, // [images * views, C, crop, crop]
): void {
  const imageSize = g.channels * g.height * g.width;
  const cropSize = g.channels * g.crop * g.crop;
  const shape = [g.channels, g.height, g.width] as const;
  for (let k = 0; k < g.images * g.views; k++) {
    const p = k * PARAMS_PER_CROP;
    const view = { x: params[p], y: params[p + 1], flip: params[p + 2] === 1 };
    const colour = [params[p + 3], params[p + 4], params[p + 5]];
    cropInto(pixels, Math.floor(k / g.views) * imageSize, shape, g.crop, view, colour, mean, g.scale, out, k * cropSize);
  }
}

/** A one-line reason why `g` and the arrays disagree, or null. */
export function checkCrops(g: CropGeometry, pixels: number, params: ArrayLike<number>, mean: number, out: number): string | null {
  const dims = [g.images, g.views, g.channels, g.height, g.width, g.crop];
  if (!dims.every((v) => Number.isInteger(v) && v >= 0)) return `crop geometry must be non-negative integers, found ${dims.join(', ')}`;
  if (g.crop > g.height || g.crop > g.width) return `crop ${g.crop} does not fit ${g.height} x ${g.width} images`;
  if (g.channels > 3) return `images with ${g.channels} channels: at most 3 carry a colour`;
  if (g.scale.length !== g.channels || !g.scale.every(Number.isFinite)) return `scale: expected ${g.channels} finite factors, found [${g.scale.join(', ')}]`;
  const imageSize = g.channels * g.height * g.width;
  if (pixels < g.images * imageSize) return `pixels: ${g.images} images of ${imageSize} bytes need ${g.images * imageSize}, found ${pixels}`;
  if (params.length < g.images * g.views * PARAMS_PER_CROP) {
    return `params: ${g.images * g.views} crops need ${g.images * g.views * PARAMS_PER_CROP} floats, found ${params.length}`;
  }
  for (let k = 0; k < g.images * g.views; k++) {
    const [x, y, flip] = [params[k * PARAMS_PER_CROP], params[k * PARAMS_PER_CROP + 1], params[k * PARAMS_PER_CROP + 2]];
    const inside = Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x + g.crop <= g.width && y + g.crop <= g.height;
    if (!inside || (flip !== 0 && flip !== 1)) return `params of crop ${k}: (x ${x}, y ${y}, flip ${flip}) do not place a ${g.crop}-pixel crop in ${g.height} x ${g.width}`;
  }
  if (mean !== imageSize) return `mean: expected ${imageSize} floats, found ${mean}`;
  const need = g.images * g.views * g.channels * g.crop * g.crop;
  if (out < need) return `output: ${need} floats needed, found ${out}`;
  return null;
}
