// Image bytes to RGB pixels in a browser (a page or its workers): the platform's decoder
// (createImageBitmap: JPEG, PNG, WebP, with no colour-space conversion), read back through an
// OffscreenCanvas. pixels.ts then resizes and crops as it does in Node (decode.ts: sharp).
import { unshared } from '../core/bytes.js';
import { imageHeaderProblem } from './pixels.js';

export type DecodedRgb = { ok: true; rgb: Uint8Array; width: number; height: number } | { ok: false; reason: string };

/** Image bytes to [height, width, 3] RGB bytes (alpha dropped), or why they cannot be used. */
export async function decodeRgb(bytes: Uint8Array): Promise<DecodedRgb> {
  const problem = imageHeaderProblem(bytes, bytes.length);
  if (problem !== null) return { ok: false, reason: problem };
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([unshared(bytes)]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (err) {
    return { ok: false, reason: `cannot decode (${(err as Error).message || 'the browser could not read it'})` };
  }
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  if (!context) return { ok: false, reason: 'cannot decode (no 2D canvas in this browser)' };
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    rgb[3 * p] = rgba[4 * p];
    rgb[3 * p + 1] = rgba[4 * p + 1];
    rgb[3 * p + 2] = rgba[4 * p + 2];
  }
  return { ok: true, rgb, width, height };
}
