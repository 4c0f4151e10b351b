// A minimal PNG encoder (8-bit RGB or RGBA, no interlace) for report figures: fflate's zlib does the
// compression, so this is only chunk framing and the per-row filter byte. No Node module: the
// page draws the same figures.
import { zlibSync } from 'fflate';
import { concatBytes, crc32 } from '../core/bytes.js';

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** pixels: height x width x channels bytes, row-major; channels 3 (RGB) or 4 (RGBA, as a canvas's ImageData). */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 3 | 4 = 3): Uint8Array {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = channels === 4 ? 6 : 2; // colour type: RGBA or RGB
  const row = width * channels;
  const raw = new Uint8Array(height * (1 + row));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + row)] = 0; // filter: none
    raw.set(pixels.subarray(y * row, (y + 1) * row), y * (1 + row) + 1);
  }
  return concatBytes([
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk('IHDR', header),
    chunk('IDAT', zlibSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
