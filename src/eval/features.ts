// Figure 4 of the paper: images are similar when their fc7 activations (4096-d in the paper
// net, after ReLU) are close in Euclidean distance.
import type { Backend } from '../backend/backend.js';
import type { Loader } from '../data/loader.js';
import { forEachBatch, type LoadedModel } from './run.js';

/** Activations of `layer` for every image of `stream`: [images, dims]. */
export async function extractFeatures(m: LoadedModel, stream: Loader, backend: Backend, layer = 'fc7', batch = 64) {
  const chunks: Float32Array[] = [];
  let dims = 0;
  await forEachBatch(m, stream, backend, batch, async (net, _labels, _start, count) => {
    const out = await net.readLayerOutput(layer, count);
    dims = out.shape.reduce((a, b) => a * b, 1);
    chunks.push(out.data);
  });
  const data = new Float32Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { dims, data };
}

/** The `k` rows of `bank` nearest to `query` (Euclidean distance), nearest first. */
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
