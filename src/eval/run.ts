// A trained model run over a batch stream, for any host: its Net made once per backend, each
// batch's outputs handed on, softmax outputs averaged over views and models (the paper's
// ten-crop and ensembles). Loading models from files is models.ts's (Node).
import type { Backend } from '../backend/backend.js';
import { softmax } from '../backend/cpu/loss.js';
import { DataError } from '../core/errors.js';
import type { Loader } from '../data/loader.js';
import type { NamedTensor } from '../io/safetensors.js';
import { architecture } from '../nn/architectures.js';
import { Net } from '../nn/net.js';
import { feedBatch } from '../train/feed.js';
import type { SavedModel } from '../train/loop.js';

export interface LoadedModel {
  source: string;
  model: SavedModel;
  weights: Map<string, NamedTensor>;
  weightsPath: string;
}

/** The last Net made for each model, reused while the backend is the same and its batch suffices. */
const nets = new WeakMap<LoadedModel, { backend: Backend; net: Net }>();

/** `m` as a Net on `backend` for batches up to `batch`: made once, not per call (GPU memory). */
function netFor(m: LoadedModel, backend: Backend, batch: number): Net {
  const cached = nets.get(m);
  if (cached && cached.backend === backend && cached.net.maxBatch >= batch) return cached.net;
  const net = new Net(backend, architecture(m.model.arch, m.model.input, m.model.classes.length), batch);
  net.importTensors(m.weights, m.weightsPath);
  nets.set(m, { backend, net });
  return net;
}

/**
 * Runs `m` in evaluation mode over `stream`, calling `use` after each batch of `count` images
 * (`count * views` crops, image-major).
 */
export async function forEachBatch(
  m: LoadedModel,
  stream: Loader,
  backend: Backend,
  batch: number,
  use: (net: Net, labels: Float32Array, start: number, count: number) => Promise<void>,
): Promise<void> {
  const net = netFor(m, backend, batch * stream.views);
  let start = 0;
  for await (const b of stream.epoch(0)) {
    feedBatch(net, stream.plan, b);
    net.forward(b.count * b.views, 'eval');
    await use(net, b.labels, start, b.count);
    start += b.count;
  }
}

export interface Predictions {
  /** [n, classes] averaged softmax. */
  probs: Float32Array;
  labels: Float32Array;
  n: number;
  classes: string[];
}

/**
 * Where each of a model's classes is among the data's: column `columns[c]` of the data's
 * classes is the model's class c. The identity when the lists are equal; a permutation when they
 * hold the same names in another order (mapped by name). A model is never scored on data of
 * other classes: a DataError names the model, the data and a class that differs.
 */
export function classColumns(source: string, model: readonly string[], spec: string, data: readonly string[]): Int32Array {
  const at = new Map(data.map((name, i) => [name, i]));
  const columns = Int32Array.from(model, (name) => at.get(name) ?? -1);
  if (model.length === data.length && new Set(columns).size === data.length && !columns.includes(-1)) return columns;
  const list = (names: readonly string[]) => `${names.slice(0, 5).map((n) => `"${n}"`).join(', ')}${names.length > 5 ? ', ...' : ''}`;
  const missing = model.find((name) => !at.has(name)) ?? data.find((name) => !model.includes(name));
  throw new DataError(
    `${source}: its model was trained on ${model.length} classes (${list(model)}), ${spec} has ${data.length} (${list(data)})` +
      `${missing === undefined ? '' : `; "${missing}" is in one list only`}: a model is scored only on data with its own classes`,
  );
}

/**
 * Adds `weight` times `m`'s softmax of each view over `stream` into `result` (so 1 / (models x
 * views) averages), and fills its labels. `columns` (classColumns) puts the model's class c
 * in column columns[c] of `result`; by default column c.
 */
export async function addSoftmax(
  m: LoadedModel, stream: Loader, backend: Backend, batch: number, weight: number, result: Predictions, columns?: Int32Array,
): Promise<void> {
  const classes = result.classes.length;
  const column = columns ?? Int32Array.from({ length: classes }, (_, c) => c);
  const views = stream.views;
  await forEachBatch(m, stream, backend, batch, async (net, labels, start, count) => {
    const p = await net.readLogits(count * views);
    softmax(count * views, classes, p, p);
    for (let i = 0; i < count; i++) {
      for (let v = 0; v < views; v++) {
        for (let c = 0; c < classes; c++) result.probs[(start + i) * classes + column[c]] += p[(i * views + v) * classes + c] * weight;
      }
    }
    result.labels.set(labels, start);
  });
}
