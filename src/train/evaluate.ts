// Evaluation of a Net over a set of images: top-1, top-5 and mean loss, in evaluation mode.
import type { ImageSet } from '../data/fashion_mnist.js';
import { fillBatch, type Preprocessing } from '../data/batches.js';
import { countTopK } from '../eval/metrics.js';
import type { Net } from '../nn/net.js';

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  n: number;
}

export async function evaluate(net: Net, set: ImageSet, indices: ArrayLike<number>, pre: Preprocessing): Promise<EvalResult> {
  const B = net.maxBatch;
  const shape = net.arch.input;
  const input = new Float32Array(B * shape[0] * shape[1] * shape[2]);
  const labels = new Float32Array(B);
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  for (let start = 0; start < indices.length; start += B) {
    const batch = Math.min(B, indices.length - start);
    fillBatch(set, Array.prototype.slice.call(indices, start, start + batch), shape, pre, input, labels);
    net.backend.write(net.input, input.subarray(0, batch * shape[0] * shape[1] * shape[2]));
    net.backend.write(net.labels, labels.subarray(0, batch));
    net.forward(batch, 'eval');
    net.computeLoss();
    const logits = await net.readLogits(batch);
    top1 += countTopK(logits, labels, batch, net.arch.classes, 1);
    top5 += countTopK(logits, labels, batch, net.arch.classes, Math.min(5, net.arch.classes));
    lossSum += (await net.readLoss()) * batch;
  }
  const n = indices.length;
  return { top1: top1 / n, top5: top5 / n, loss: lossSum / n, n };
}
