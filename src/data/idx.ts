// The IDX format of MNIST and its relatives: magic bytes 0x00 0x00 <type> <ndims>, then
// ndims big-endian u32 dimensions, then the data in row-major order. Only unsigned bytes
// (type 0x08) are accepted, which is what every MNIST-family image and label file uses.
import { gunzipBounded, InflateLimitError } from '../core/bytes.js';
import { FormatError } from '../core/errors.js';
import { product, shapeString } from '../core/geometry.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;
const MAX_DIMS = 4;

/** Decompressed files are refused beyond this, so a gzip bomb cannot exhaust memory. */
const MAX_GUNZIPPED_BYTES = 1024 * 1024 * 1024;


function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new FormatError(file, `file is ${bytes.length} bytes, too short for the 4-byte IDX magic`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(
      file,
      `bad magic ${hex(bytes[0])} ${hex(bytes[1])}: expected 0x00 0x00 (not an IDX file, or still compressed?)`,
    );
  }
  const type = bytes[2];
  if (type !== UNSIGNED_BYTE) {
    throw new FormatError(file, `data type ${hex(type)} is not supported: expected 0x08 (unsigned byte)`);
  }
  const ndims = bytes[3];
  if (ndims < 1 || ndims > MAX_DIMS) {
    throw new FormatError(file, `${ndims} dimensions: expected 1 to ${MAX_DIMS}`);
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw new FormatError(
      file,
      `truncated header: ${ndims} dimensions need ${headerLength} header bytes, file has ${bytes.length}`,
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, headerLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));

  // Each dimension is below 2^32, so a product past 2^53 is inexact but still far larger
  // than any file: the comparisons below stay right.
  const promised = product(dims);
  const found = bytes.length - headerLength;
  if (found < promised) {
    throw new FormatError(
      file,
      `truncated: header promises ${promised} bytes of data (dims ${shapeString(dims)}), file has ${found}`,
    );
  }
  if (found > promised) {
    throw new FormatError(
      file,
      `${found - promised} extra bytes after the ${promised} bytes of data ` +
        `the header promises (dims ${shapeString(dims)})`,
    );
  }
  // A copy, so the result owns its memory rather than pinning (or sharing) the caller's.
  return { dims, data: new Uint8Array(bytes.subarray(headerLength)) };
}

/**
 * The IDX array in a file's bytes, gunzipped first when it is named .gz or starts with the gzip
 * magic (through the platform's DecompressionStream, stopped at a cap against gzip bombs).
 */
export async function decodeIdx(bytes: Uint8Array, file: string): Promise<IdxArray> {
  if (file.endsWith('.gz') || (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b)) {
    try {
      bytes = await gunzipBounded(bytes, MAX_GUNZIPPED_BYTES);
    } catch (err) {
      if (err instanceof InflateLimitError) throw new FormatError(file, err.message);
      throw new FormatError(file, `corrupt gzip stream (${(err as Error).message})`);
    }
  }
  return parseIdx(bytes, file);
}
