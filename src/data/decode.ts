// Image files to the paper's stored form, in Node: sharp (libvips) decodes to 8-bit sRGB at the
// file's own size (greyscale replicated, CMYK through an ICC profile, alpha dropped as PIL's
// convert('RGB') does, 16-bit reduced); pixels.ts resizes and crops, as it does in a page. A
// file that cannot be used gives a reason, never an exception.
import sharp from 'sharp';
import type { FormatError } from '../core/errors.js';
import { readInputFile } from '../io/files.js';
import { imageHeaderProblem, storedImage } from './pixels.js';

/** No image we read is larger (the largest ImageNet JPEGs are ~15 MB); checked before reading. */
export const MAX_IMAGE_BYTES = 256 * 2 ** 20;

export type Decoded = { ok: true; pixels: Uint8Array } | { ok: false; reason: string };

/** Image bytes to [height, width, 3] RGB bytes, or why they cannot be used. */
export async function decodeRgb(bytes: Uint8Array): Promise<{ ok: true; rgb: Uint8Array; width: number; height: number } | { ok: false; reason: string }> {
  const problem = imageHeaderProblem(bytes, bytes.length);
  if (problem !== null) return { ok: false, reason: problem };
  try {
    // failOn 'error' rejects corrupt and truncated data but accepts the harmless warnings
    // (e.g. extraneous bytes) that a few real ImageNet JPEGs have.
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return { ok: false, reason: `decoded to ${info.channels} channels, expected 3` };
    return { ok: true, rgb: data, width: info.width, height: info.height };
  } catch (err) {
    return { ok: false, reason: `cannot decode (${(err as Error).message.split('\n')[0]})` };
  }
}

/** Decodes one file to 3 x side x side bytes, CHW. */
export async function decodeImage(path: string, side: number): Promise<Decoded> {
  let bytes: Uint8Array;
  try {
    bytes = await readInputFile(path, 'an image file', MAX_IMAGE_BYTES);
  } catch (err) {
    return { ok: false, reason: (err as FormatError).fault ?? (err as Error).message };
  }
  const decoded = await decodeRgb(bytes);
  if (!decoded.ok) return decoded;
  return { ok: true, pixels: storedImage(decoded.rgb, decoded.width, decoded.height, side) };
}

/**
 * Decodes `files` with `concurrency` decodes in flight (libvips works on its own threads) and
 * hands each result to `each` in file order, so outputs are deterministic.
 */
export async function decodeInOrder(
  files: readonly string[],
  side: number,
  concurrency: number,
  each: (index: number, result: Decoded) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const pending: Promise<Decoded>[] = [];
  let started = 0;
  for (let next = 0; next < files.length; next++) {
    while (started < files.length && started < next + concurrency) pending.push(decodeImage(files[started++], side));
    const result = await pending.shift()!;
    signal?.throwIfAborted();
    await each(next, result);
  }
}
