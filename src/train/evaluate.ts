// Evaluation of a Net over a batch stream: top-1, top-5 and mean loss, in evaluation mode.
import type { Loader } from '../data/loader.js';
import { countTopK } from '../eval/metrics.js';
import type { Network } from '../nn/network.js';
import { feedBatch } from './feed.js';

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  n: number;
}

export async function evaluate(net: Network, stream: Loader): Promise<EvalResult> {
  const classes = net.arch.classes;
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  let n = 0;
  for await (const b of stream.epoch(0)) {
    feedBatch(net, stream.plan, b);
    await net.forward(b.count, 'eval');
    await net.computeLoss();
    const logits = await net.readLogits(b.count);
    top1 += countTopK(logits, b.labels, b.count, classes, 1);
    top5 += countTopK(logits, b.labels, b.count, classes, Math.min(5, classes));
    lossSum += (await net.readLoss()) * b.count;
    n += b.count;
  }
  return { top1: top1 / n, top5: top5 / n, loss: lossSum / n, n };
}
