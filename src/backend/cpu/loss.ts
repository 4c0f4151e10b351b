// Softmax cross-entropy (multinomial logistic regression), averaged over the batch.
import type { Arr } from './types.js';

/**
 * logits: [N, K]; labels: [N] class indices; dlogits: [N, K] (overwritten) or null.
 * Returns the mean loss; dlogits = (softmax(logits) - onehot(labels)) / N * gradScale.
 */
export function softmaxCrossEntropy(batch: number, classes: number, logits: Arr, labels: ArrayLike<number>, dlogits: Arr | null, gradScale = 1): number {
  let total = 0;
  for (let n = 0; n < batch; n++) total += softmaxCrossEntropyRow(n, batch, classes, logits, labels, dlogits, gradScale);
  return total / batch;
}

/** Row n of softmaxCrossEntropy: returns its loss and writes its row of dlogits (if any). */
export function softmaxCrossEntropyRow(n: number, batch: number, classes: number, logits: Arr, labels: ArrayLike<number>, dlogits: Arr | null, gradScale: number): number {
  const row = n * classes;
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]);
  let sum = 0;
  for (let k = 0; k < classes; k++) sum += Math.exp(logits[row + k] - max);
  const label = labels[n];
  const loss = Math.log(sum) + max - logits[row + label];
  if (dlogits) {
    for (let k = 0; k < classes; k++) {
      const prob = Math.exp(logits[row + k] - max) / sum;
      dlogits[row + k] = ((prob - (k === label ? 1 : 0)) / batch) * gradScale;
    }
  }
  return loss;
}

/** Row-wise softmax. logits, probs: [N, K] (probs overwritten; may be logits). */
export function softmax(batch: number, classes: number, logits: Arr, probs: Arr): void {
  for (let n = 0; n < batch; n++) {
    const row = n * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[row + k] - max);
    for (let k = 0; k < classes; k++) probs[row + k] = Math.exp(logits[row + k] - max) / sum;
  }
}
