// Image files to the paper's stored form: decoded with sharp (libvips), converted to 8-bit sRGB
// (greyscale replicated, CMYK through an ICC profile, alpha dropped as PIL's convert('RGB')
// does, 16-bit reduced), the shorter side resized to `side`, the central side x side square
// kept, channel planes out (CHW). A file that cannot be used gives a reason, never an exception.
import sharp from 'sharp';
import type { FormatError } from '../core/errors.js';
import { readInputFile } from '../io/files.js';
import { headerProblem } from './scan.js';

/** No image we read is larger (the largest ImageNet JPEGs are ~15 MB); checked before reading. */
export const MAX_IMAGE_BYTES = 256 * 2 ** 20;

export type Decoded = { ok: true; pixels: Uint8Array } | { ok: false; reason: string };

/** Decodes one file to 3 x side x side bytes, CHW. */
export async function decodeImage(path: string, side: number): Promise<Decoded> {
  let bytes: Uint8Array;
  try {
    bytes = await readInputFile(path, 'an image file', MAX_IMAGE_BYTES);
  } catch (err) {
    return { ok: false, reason: (err as FormatError).fault ?? (err as Error).message };
  }
  const problem = headerProblem(bytes, bytes.length);
  if (problem !== null) return { ok: false, reason: problem };
  try {
    // failOn 'error' rejects corrupt and truncated data but accepts the harmless warnings
    // (e.g. extraneous bytes) that a few real ImageNet JPEGs have.
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(side, side, { fit: 'cover', position: 'centre' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== side || info.height !== side) {
      return { ok: false, reason: `decoded to ${info.channels} x ${info.height} x ${info.width}, expected 3 x ${side} x ${side}` };
    }
    return { ok: true, pixels: interleavedToPlanar(data, side * side) };
  } catch (err) {
    return { ok: false, reason: `cannot decode (${(err as Error).message.split('\n')[0]})` };
  }
}

/** RGBRGB... to RRR...GGG...BBB... */
function interleavedToPlanar(hwc: Uint8Array, plane: number): Uint8Array {
  const chw = new Uint8Array(3 * plane);
  for (let p = 0, k = 0; p < plane; p++, k += 3) {
    chw[p] = hwc[k];
    chw[plane + p] = hwc[k + 1];
    chw[2 * plane + p] = hwc[k + 2];
  }
  return chw;
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
