// Decoded pixels to the paper's stored form, the same in Node and in a browser: the shorter side
// resized to `side`, the central side x side square kept, channel planes out (CHW). The host
// only decodes (sharp in Node, createImageBitmap in a page) to 8-bit RGB at the file's own size;
// the resizing is ours, so a PNG gives the same bytes, and the same predictions, in both.
//
// Resizing is PIL's antialiased bilinear (its BILINEAR, what torchvision's Resize uses): a
// triangle filter whose support widens with the reduction, so a downscaled image averages all
// of its pixels instead of sampling some; enlarging is plain bilinear. Weights are normalised
// where the filter leaves the image.

/** For each output coordinate: the first input pixel it reads, and the weights from there. */
interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  /** `taps` weights per output coordinate, zero past `count`. */
  weights: Float64Array;
  taps: number;
}

/**
 * Weights along one axis: `inSize` input pixels resized to `outSize`, of which outputs
 * [start, start + count) are kept.
 */
function axisWeights(inSize: number, outSize: number, start: number, count: number): AxisWeights {
  const scale = inSize / outSize; // input pixels per output pixel
  const support = Math.max(1, scale); // the triangle's half-width, in input pixels
  const taps = Math.ceil(2 * support) + 1;
  const w: AxisWeights = { first: new Int32Array(count), count: new Int32Array(count), weights: new Float64Array(count * taps), taps };
  for (let o = 0; o < count; o++) {
    const centre = (start + o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const v = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
      w.weights[o * taps + i - lo] = v;
      sum += v;
    }
    for (let k = 0; k < hi - lo; k++) w.weights[o * taps + k] /= sum;
    w.first[o] = lo;
    w.count[o] = hi - lo;
  }
  return w;
}

/**
 * rgb: [height, width, 3] bytes (HWC, as decoders give them). Returns [3, side, side] bytes:
 * the shorter side resized to `side`, the centre square kept.
 */
export function storedImage(rgb: Uint8Array, width: number, height: number, side: number): Uint8Array {
  const shorter = Math.min(width, height);
  const outW = width === shorter ? side : Math.max(side, Math.round((width * side) / shorter));
  const outH = height === shorter ? side : Math.max(side, Math.round((height * side) / shorter));
  const wx = axisWeights(width, outW, Math.floor((outW - side) / 2), side);
  const wy = axisWeights(height, outH, Math.floor((outH - side) / 2), side);
  const rows = new Float64Array(height * side); // one channel, resized along x
  const out = new Uint8Array(3 * side * side);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < side; x++) {
        let v = 0;
        const at = (y * width + wx.first[x]) * 3 + c;
        for (let k = 0; k < wx.count[x]; k++) v += wx.weights[x * wx.taps + k] * rgb[at + 3 * k];
        rows[y * side + x] = v;
      }
    }
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let v = 0;
        for (let k = 0; k < wy.count[y]; k++) v += wy.weights[y * wy.taps + k] * rows[(wy.first[y] + k) * side + x];
        out[c * side * side + y * side + x] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return out;
}

/** ITU-R 601 luma weights of R, G and B (PIL's convert('L')). */
export const LUMA = [0.299, 0.587, 0.114] as const;

/** [3, H, W] RGB bytes as [channels, H, W]: itself for 3, ITU-R 601 luma (PIL's convert('L')) for 1. */
export function toChannels(chw: Uint8Array, plane: number, channels: number): Uint8Array {
  if (channels === 3) return chw;
  const grey = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) grey[p] = Math.round((299 * chw[p] + 587 * chw[plane + p] + 114 * chw[2 * plane + p]) / 1000);
  return grey;
}

/** Why bytes that begin so are not an image we read, or null when they may be one. */
export function imageHeaderProblem(head: Uint8Array, size: number): string | null {
  if (size === 0) return 'empty file (0 bytes)';
  if (sniffImageFormat(head) !== null) return null;
  const shown = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `not a JPEG, PNG or WebP image (starts with bytes ${shown})`;
}

/** The format named by a file's first bytes, or null: content decides, not the extension. */
export function sniffImageFormat(head: Uint8Array): 'jpeg' | 'png' | 'webp' | null {
  const at = (offset: number, bytes: number[]) => bytes.every((b, i) => head[offset + i] === b);
  if (at(0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'webp'; // RIFF....WEBP
  return null;
}
