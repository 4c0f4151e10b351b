// Pictures of what explain.ts computes, as RGBA bytes: a page puts them on a canvas (ImageData),
// Node writes them as PNG (pictureToPng, the report's encoder). A heat map over the image, a
// layer's feature maps as a grid, and each unit's strongest image patches (Zeiler & Fergus's
// Figure 2).
import { encodePng } from '../report/png.js';
import type { Activation, HeatMap, TopImages } from './explain.js';

export interface Picture {
  width: number;
  height: number;
  /** height x width x 4 bytes, row-major, alpha 255. */
  rgba: Uint8Array;
}

export function pictureToPng(p: Picture): Uint8Array {
  return encodePng(p.width, p.height, p.rgba, 4);
}

function blank(width: number, height: number, grey: number): Picture {
  const rgba = new Uint8Array(width * height * 4).fill(grey);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
  return { width, height, rgba };
}

function setGrey(p: Picture, x: number, y: number, grey: number): void {
  const at = (y * p.width + x) * 4;
  p.rgba.fill(grey, at, at + 3);
}

/** Copies pixel p of a [C, H, W] image (C = 1 or 3) into `rgba` at byte `at`. */
function putPixel(rgba: Uint8Array, at: number, image: Uint8Array, C: number, plane: number, p: number): void {
  for (let ch = 0; ch < 3; ch++) rgba[at + ch] = image[(C === 3 ? ch : 0) * plane + p];
}

/** The map's value at input pixel (y, x) (fractional), bilinear between cell centres, held at the edges. */
export function sampleMap(map: HeatMap, y: number, x: number): number {
  const axis = (v: number, origin: number, step: number, cells: number): [number, number, number] => {
    const f = Math.min(cells - 1, Math.max(0, (v - origin) / step));
    const i = Math.min(cells - 2, Math.floor(f));
    return i < 0 ? [0, 0, 0] : [i, i + 1, f - i];
  };
  const [r0, r1, fy] = axis(y, map.origin[0], map.step[0], map.rows);
  const [c0, c1, fx] = axis(x, map.origin[1], map.step[1], map.cols);
  const at = (r: number, c: number) => map.data[r * map.cols + c];
  return (1 - fy) * ((1 - fx) * at(r0, c0) + fx * at(r0, c1)) + fy * ((1 - fx) * at(r1, c0) + fx * at(r1, c1));
}

/** The map at every pixel of an H x W image (Grad-CAM's display resolution), bilinear. */
export function upsample(map: HeatMap, height: number, width: number): Float32Array {
  const out = new Float32Array(height * width);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = sampleMap(map, y, x);
  return out;
}

// Jet: dark blue (low) through cyan, yellow and red to dark red (high).
const PALETTE: [number, [number, number, number]][] = [
  [0, [0, 0, 128]], [0.125, [0, 0, 255]], [0.375, [0, 255, 255]], [0.625, [255, 255, 0]], [0.875, [255, 0, 0]], [1, [128, 0, 0]],
];

/** The colour of t in [0, 1]. */
export function heatColour(t: number): [number, number, number] {
  let i = 1;
  while (i < PALETTE.length - 1 && t > PALETTE[i][0]) i++;
  const [t0, a] = PALETTE[i - 1];
  const [t1, b] = PALETTE[i];
  const f = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k]))) as [number, number, number];
}

/** `pixels` ([C, H, W] bytes, C = 1 or 3) as a picture, each pixel drawn as scale x scale. */
export function imagePicture(pixels: Uint8Array, shape: readonly [number, number, number], scale = 1): Picture {
  const [C, H, W] = shape;
  const p = blank(W * scale, H * scale, 0);
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) putPixel(p.rgba, (y * p.width + x) * 4, pixels, C, H * W, Math.floor(y / scale) * W + Math.floor(x / scale));
  }
  return p;
}

export interface OverlayOptions {
  /** Output pixels per image pixel (default 1). */
  scale?: number;
  /** Weight of the colour over the image (default 0.5). */
  opacity?: number;
  /** The value drawn at full heat (default: the map's largest); values <= 0 are drawn cold. */
  max?: number;
}

/**
 * `map` over `pixels` ([C, H, W] bytes, C = 1 or 3: what the net sees), each image pixel drawn
 * as scale x scale, the map sampled bilinearly at every output pixel and coloured (jet).
 */
export function heatMapOverlay(pixels: Uint8Array, shape: readonly [number, number, number], map: HeatMap, o: OverlayOptions = {}): Picture {
  const scale = o.scale ?? 1;
  const opacity = o.opacity ?? 0.5;
  const max = o.max ?? map.data.reduce((m, v) => Math.max(m, v), 0);
  const p = imagePicture(pixels, shape, scale);
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const at = (y * p.width + x) * 4;
      const v = sampleMap(map, (y + 0.5) / scale - 0.5, (x + 0.5) / scale - 0.5);
      const colour = heatColour(max > 0 ? Math.min(1, Math.max(0, v / max)) : 0);
      for (let ch = 0; ch < 3; ch++) p.rgba[at + ch] = Math.round((1 - opacity) * p.rgba[at + ch] + opacity * colour[ch]);
    }
  }
  return p;
}

/**
 * A layer's activation for one image, [C, h, w], as a grid of grey tiles (black 0, white the
 * largest value of the layer), `perRow` tiles a row (default: a square grid), each value drawn
 * as scale x scale, a one-`scale` gap between tiles.
 */
export function featureMapGrid(a: Activation, o: { scale?: number; perRow?: number } = {}): Picture {
  if (a.shape.length !== 3) throw new RangeError(`${a.name}: feature maps need a [C, H, W] activation, found [${a.shape.join(', ')}]`);
  const [C, h, w] = a.shape;
  const scale = o.scale ?? 1;
  const perRow = o.perRow ?? Math.ceil(Math.sqrt(C));
  const gap = scale;
  const p = blank(perRow * (w * scale + gap) + gap, Math.ceil(C / perRow) * (h * scale + gap) + gap, 255);
  const max = a.data.reduce((m, v) => Math.max(m, v), 0) || 1;
  for (let c = 0; c < C; c++) {
    const x0 = gap + (c % perRow) * (w * scale + gap);
    const y0 = gap + Math.floor(c / perRow) * (h * scale + gap);
    for (let y = 0; y < h * scale; y++) {
      for (let x = 0; x < w * scale; x++) {
        const v = a.data[(c * h + Math.floor(y / scale)) * w + Math.floor(x / scale)];
        setGrey(p, x0 + x, y0 + y, Math.round(Math.min(1, Math.max(0, v / max)) * 255));
      }
    }
  }
  return p;
}

/**
 * One row per unit: its strongest images, strongest first, each cut to the receptive box of its
 * strongest position (the whole image for a fully connected layer) and centred in a tile as
 * large as the largest box, on grey. `pixelsOf(image)` gives what the net saw of an image:
 * [C, H, W] bytes of `shape`.
 */
export function topImagesGrid(t: TopImages, pixelsOf: (image: number) => Uint8Array, shape: readonly [number, number, number], o: { scale?: number } = {}): Picture {
  const [C, H, W] = shape;
  const scale = o.scale ?? 1;
  const boxes = t.top.flat().map((e) => e.box ?? { top: 0, left: 0, height: H, width: W });
  const tile = Math.max(1, ...boxes.map((b) => Math.max(b.height, b.width))) * scale;
  const gap = Math.max(2, scale);
  const columns = Math.max(1, ...t.top.map((row) => row.length));
  const p = blank(columns * (tile + gap) + gap, t.top.length * (tile + gap) + gap, 255);
  t.top.forEach((row, r) => {
    row.forEach((e, c) => {
      const box = e.box ?? { top: 0, left: 0, height: H, width: W };
      const image = pixelsOf(e.image);
      const x0 = gap + c * (tile + gap);
      const y0 = gap + r * (tile + gap);
      for (let y = 0; y < tile; y++) for (let x = 0; x < tile; x++) setGrey(p, x0 + x, y0 + y, 128);
      const dy = y0 + Math.floor((tile - box.height * scale) / 2);
      const dx = x0 + Math.floor((tile - box.width * scale) / 2);
      for (let y = 0; y < box.height * scale; y++) {
        for (let x = 0; x < box.width * scale; x++) {
          putPixel(p.rgba, ((dy + y) * p.width + dx + x) * 4, image, C, H * W, (box.top + Math.floor(y / scale)) * W + box.left + Math.floor(x / scale));
        }
      }
    });
  });
  return p;
}
