// A trained model run over a batch stream, for any host: its Net made once per backend, each
// batch's outputs handed on, softmax outputs averaged over views and models (the paper's
// ten-crop and ensembles). Loading models from files is models.ts's (Node).
import type { Backend } from '../backend/backend.js';
import { softmax } from '../backend/cpu/loss.js';
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
 * Adds `weight` times `m`'s softmax of each view over `stream` into `result` (so 1 / (models x
 * views) averages), and fills its labels.
 */
export async function addSoftmax(m: LoadedModel, stream: Loader, backend: Backend, batch: number, weight: number, result: Predictions): Promise<void> {
  const classes = result.classes.length;
  const views = stream.views;
  await forEachBatch(m, stream, backend, batch, async (net, labels, start, count) => {
    const p = await net.readLogits(count * views);
    softmax(count * views, classes, p, p);
    for (let i = 0; i < count; i++) {
      for (let v = 0; v < views; v++) {
        for (let c = 0; c < classes; c++) result.probs[(start + i) * classes + c] += p[(i * views + v) * classes + c] * weight;
      }
    }
    result.labels.set(labels, start);
  });
}
