// A trained model on the user's own image files: top-k classes with probabilities, and the
// training images nearest to each (the paper's Figure 4). Files are decoded and preprocessed as
// the model's training images were: stored at the training set's size (shorter side resized,
// centre square), grey for grey sets, the training mean subtracted, the centre crop.
import type { Backend } from '../backend/backend.js';
import { softmax } from '../backend/cpu/loss.js';
import { DataError } from '../core/errors.js';
import { MemoryDataset, sharedBytes, type Dataset } from '../data/dataset.js';
import { toChannels } from '../data/pixels.js';
import { batchOutputFor } from '../train/feed.js';
import type { TrainingData } from '../train/data.js';
import { extractFeatures, nearest } from './features.js';
import { modelInput, testData } from './models.js';
import { forEachBatch, type LoadedModel } from './run.js';
import { loadWithSharp } from '../data/load_sharp.js';

/** The model's training data (statistics, stored shape, class names); close it after use. */
export function trainingDataOf(m: LoadedModel, backend: Backend, batch = 64): Promise<TrainingData> {
  return testData(m.model.data, { ...modelInput(m.model), batch, output: batchOutputFor(backend) });
}

/**
 * Decodes `files` to images of `shape` ([1 or 3, side, side]) as the training set stores them.
 * A file that cannot be used is an error naming it: the user asked about each one.
 */
export async function decodeFiles(files: readonly string[], shape: readonly [number, number, number]): Promise<MemoryDataset> {
  // Imported here so that sharp (libvips) loads only when files must be decoded: the CLI runs
  // without it (e.g. on GPU machines that get node_modules without sharp).
  const { decodeImage } = await loadWithSharp(() => import('../data/decode.js'));
  const [C, side] = shape;
  const plane = side * side;
  const images = sharedBytes(files.length * C * plane);
  for (const [i, file] of files.entries()) {
    const r = await decodeImage(file, side);
    if (!r.ok) throw new DataError(`${file}: ${r.reason}`);
    images.set(toChannels(r.pixels, plane, C), i * C * plane);
  }
  return new MemoryDataset('files', 'test', [C, side, side], [], [], images, new Int32Array(files.length), [], files);
}

export interface ClassScore {
  class: number;
  name: string;
  probability: number;
}

export interface FilePrediction {
  file: string;
  top: ClassScore[];
}

/** The `k` most probable classes of each file. */
export async function predictFiles(m: LoadedModel, files: readonly string[], backend: Backend, k = 5): Promise<FilePrediction[]> {
  const data = await trainingDataOf(m, backend);
  try {
    const images = await decodeFiles(files, data.sets.train.shape);
    const classes = m.model.classes.length;
    const out: FilePrediction[] = [];
    await forEachBatch(m, data.centreStream(images, [...images.files!.keys()]), backend, 64, async (net, _labels, start, count) => {
      const p = await net.readLogits(count);
      softmax(count, classes, p, p);
      for (let i = 0; i < count; i++) {
        const row = Array.from(p.subarray(i * classes, (i + 1) * classes), (probability, c) => ({ class: c, name: m.model.classes[c], probability }));
        row.sort((a, b) => b.probability - a.probability);
        out.push({ file: files[start + i], top: row.slice(0, Math.min(k, classes)) });
      }
    });
    return out;
  } finally {
    await data.close();
  }
}

export interface Neighbour {
  index: number;
  label: number;
  name: string;
  distance: number;
}

export interface Similar {
  /** Per query, its nearest training images, nearest first. */
  neighbours: Neighbour[][];
  /** The query images (images `queryIndices` of `queries`) and the training set, for pictures. */
  queries: Dataset;
  queryIndices: number[];
  bank: Dataset;
  /** The class names of the searched data's labels. */
  classes: string[];
}

export interface SimilarOptions {
  /** Query image files; when absent, the test images `testQueries` picks. */
  files?: readonly string[];
  testQueries?: (test: Dataset) => number[];
  /** Neighbours per query, and how many training images (the first ones) are searched. */
  k: number;
  bankSize: number;
  /** Whose activations are compared: fc7 (the paper's) by default. */
  layer?: string;
}

/** The `k` training images whose `layer` activations are nearest to each query's (Euclidean). */
export async function similarImages(m: LoadedModel, backend: Backend, o: SimilarOptions): Promise<Similar> {
  const data = await trainingDataOf(m, backend);
  try {
    const { train, test } = data.sets;
    const files = o.files ?? [];
    const queries = files.length > 0 ? await decodeFiles(files, train.shape) : test;
    const queryIndices = files.length > 0 ? [...files.keys()] : (o.testQueries ?? firstOfEachClass)(test);
    const bankIndices = Array.from({ length: Math.min(o.bankSize, train.count) }, (_, i) => i);
    const q = await extractFeatures(m, data.centreStream(queries, queryIndices), backend, o.layer);
    const b = await extractFeatures(m, data.centreStream(train, bankIndices), backend, o.layer);
    const neighbours = queryIndices.map((_, r) =>
      nearest(q.data.subarray(r * q.dims, (r + 1) * q.dims), b.data, b.dims, o.k).map((n) => {
        const label = train.label(n.index);
        return { index: n.index, label, name: data.classes[label], distance: n.distance };
      }),
    );
    return { neighbours, queries, queryIndices, bank: train, classes: data.classes };
  } finally {
    await data.close();
  }
}

/** The first image of each class (in class order) of `set`, at most `max` of them. */
export function firstOfEachClass(set: Dataset, max = 10): number[] {
  const first = new Map<number, number>();
  for (let i = 0; i < set.count && first.size < set.classes.length; i++) if (!first.has(set.label(i))) first.set(set.label(i), i);
  return [...first.entries()].sort((a, b) => a[0] - b[0]).slice(0, max).map((e) => e[1]);
}

/** The pixels of image `i` of `set`. */
export function imageOf(set: Dataset, i: number): Uint8Array {
  const pixels = new Uint8Array(set.shape[0] * set.shape[1] * set.shape[2]);
  set.readImage(i, pixels);
  return pixels;
}

/** Queries and their neighbours as rows of images, for a picture. */
export function similarRows(s: Similar): Uint8Array[][] {
  return s.queryIndices.map((qi, r) => [imageOf(s.queries, qi), ...s.neighbours[r].map((n) => imageOf(s.bank, n.index))]);
}
