// Figure 4 of the paper: images are similar when their fc7 activations (4096-d in the paper
// net, after ReLU) are close in Euclidean distance.
import type { Backend } from '../backend/backend.js';
import type { ImageSet } from '../data/fashion_mnist.js';
import { forEachBatch, type LoadedModel } from './models.js';

/** Activations of `layer` for images `indices`: [indices.length, dims]. */
export async function extractFeatures(
  m: LoadedModel,
  set: ImageSet,
  indices: number[],
  backend: Backend,
  layer = 'fc7',
  batch = 64,
): Promise<{ dims: number; data: Float32Array }> {
  let dims = 0;
  let data = new Float32Array(0);
  await forEachBatch(m, set, indices, backend, batch, async (net, start, count) => {
    const out = await net.readLayerOutput(layer, count);
    if (dims === 0) {
      dims = out.shape.reduce((a, b) => a * b, 1);
      data = new Float32Array(indices.length * dims);
    }
    data.set(out.data, start * dims);
  });
  return { dims, data };
}

/** The `k` rows of `bank` nearest to `query` (squared Euclidean distance), nearest first. */
export function nearest(query: Float32Array, bank: Float32Array, dims: number, k: number): { index: number; distance: number }[] {
  const rows = bank.length / dims;
  const scored: { index: number; distance: number }[] = [];
  for (let r = 0; r < rows; r++) {
    let d = 0;
    for (let i = 0; i < dims; i++) {
      const diff = bank[r * dims + i] - query[i];
      d += diff * diff;
    }
    scored.push({ index: r, distance: Math.sqrt(d) });
  }
  scored.sort((a, b) => a.distance - b.distance);
  return scored.slice(0, k);
}
