// Images as the page draws them: RGB bytes from the data sets' grey or RGB CHW pixels.
import { centreView, type Dataset } from '../../src/browser.js';
import type { Picture } from '../protocol.js';

/** Grey or RGB CHW bytes (`shape` [C, H, W]) as an RGB picture; with `crop`, its square window at (x, y). */
export function picture(pixels: Uint8Array, shape: readonly number[], crop?: { x: number; y: number; side: number }): Picture {
  const [C, H, W] = shape;
  const { x, y, side } = crop ?? { x: 0, y: 0, side: 0 };
  const [w, h] = crop ? [side, side] : [W, H];
  const rgb = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      for (let c = 0; c < 3; c++) rgb[3 * (r * w + q) + c] = pixels[(C === 3 ? c : 0) * H * W + (r + y) * W + q + x];
    }
  }
  return { width: w, height: h, rgb };
}

/** Image `i` of `set`; with `crop`, its centre crop of that side (what the net sees of it). */
export function image(set: Dataset, i: number, crop?: number): Picture {
  const pixels = new Uint8Array(set.shape[0] * set.shape[1] * set.shape[2]);
  set.readImage(i, pixels);
  return picture(pixels, set.shape, crop === undefined ? undefined : { ...centreView(set.shape, crop), side: crop });
}
