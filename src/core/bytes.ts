// Byte helpers that Node's Buffer and zlib gave us, for code that runs in browsers too:
// joining arrays, CRC-32 (zip entries, PNG chunks) and a bounded gunzip through the platform's
// DecompressionStream (Node >= 18 and every browser), which stops at a cap instead of trusting
// what a gzip stream says about itself.

/** The arrays one after another, in a new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` on an ArrayBuffer, as Blob and Web Crypto require: itself, or a copy of shared memory. */
export function unshared(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO-HDLC, as zip and PNG use), unsigned. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Thrown by gunzipBounded: the stream inflates past `limit` bytes. */
export class InflateLimitError extends Error {}

/** The gunzipped bytes of `bytes` (all members), or an error past `limit` bytes or on corrupt data. */
export async function gunzipBounded(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  const stream = new Blob([unshared(bytes)]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new InflateLimitError(`decompresses to more than ${limit} bytes`);
    }
    parts.push(value);
  }
  return concatBytes(parts);
}
