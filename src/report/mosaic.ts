// Pixel mosaics for the report: the conv1 kernels as a grid of colour (or grey) tiles, the
// paper's Figure 3, and rows of images for the retrieval figure, the paper's Figure 4.

export interface Mosaic {
  width: number;
  height: number;
  rgb: Uint8Array; // height x width x 3
  tiles: number;
  tileSize: number; // source pixels per tile side, before scaling
}

const BACKGROUND = 255;

function blank(width: number, height: number): Uint8Array {
  return new Uint8Array(width * height * 3).fill(BACKGROUND);
}

/** The smallest value and the span to the largest (1 where all are equal), for stretching to 0..255. */
export function valueRange(values: Iterable<number>): { min: number; range: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { min, range: max - min || 1 };
}

/**
 * conv1 weights [O, C, k, k] (C = 1 or 3) as tiles, each kernel stretched to 0..255 by its own
 * min and max (as the paper's figure does), `perRow` tiles per row, each source pixel drawn as
 * scale x scale. With `towers` = 2 the two halves of the kernels are separated by a wider gap,
 * one tower (GPU in 2012) per block, as in Figure 3.
 */
export function filterMosaic(weights: Float32Array, shape: number[], towers: number, perRow: number, scale: number): Mosaic {
  const [O, C, k] = shape;
  const gap = scale;
  const towerGap = 4 * scale;
  const perTower = O / towers;
  const rowsPerTower = Math.ceil(perTower / perRow);
  const tile = k * scale;
  const width = perRow * (tile + gap) + gap;
  const height = towers * (rowsPerTower * (tile + gap) + gap) + (towers - 1) * towerGap;
  const rgb = blank(width, height);
  for (let o = 0; o < O; o++) {
    const tower = Math.floor(o / perTower);
    const index = o % perTower;
    const x0 = gap + (index % perRow) * (tile + gap);
    const y0 = tower * (rowsPerTower * (tile + gap) + gap + towerGap) + gap + Math.floor(index / perRow) * (tile + gap);
    const kernel = weights.subarray(o * C * k * k, (o + 1) * C * k * k);
    const { min, range } = valueRange(kernel);
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const pixel = Math.floor(y / scale) * k + Math.floor(x / scale);
        const at = ((y0 + y) * width + x0 + x) * 3;
        for (let ch = 0; ch < 3; ch++) {
          const v = kernel[(C === 3 ? ch : 0) * k * k + pixel];
          rgb[at + ch] = Math.round(((v - min) / range) * 255);
        }
      }
    }
  }
  return { width, height, rgb, tiles: O, tileSize: k };
}

/** Rows of images (each C x H x W bytes, C = 1 or 3), scaled by `scale`, a gap after each row's first. */
export function imageRows(rows: Uint8Array[][], shape: [number, number, number], scale: number): Mosaic {
  const [C, H, W] = shape;
  const gap = 2 * scale;
  const columns = Math.max(...rows.map((r) => r.length));
  const width = columns * (W * scale + gap) + 3 * gap;
  const height = rows.length * (H * scale + gap) + gap;
  const rgb = blank(width, height);
  rows.forEach((row, r) => {
    row.forEach((image, c) => {
      // The query (first column) stands apart from its neighbours.
      const x0 = gap + c * (W * scale + gap) + (c > 0 ? 2 * gap : 0);
      const y0 = gap + r * (H * scale + gap);
      for (let y = 0; y < H * scale; y++) {
        for (let x = 0; x < W * scale; x++) {
          const p = Math.floor(y / scale) * W + Math.floor(x / scale);
          const at = ((y0 + y) * width + x0 + x) * 3;
          for (let ch = 0; ch < 3; ch++) rgb[at + ch] = image[(C === 3 ? ch : 0) * H * W + p];
        }
      }
    });
  });
  return { width, height, rgb, tiles: rows.reduce((s, r) => s + r.length, 0), tileSize: H };
}
