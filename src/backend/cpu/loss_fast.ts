// Softmax cross-entropy on the fast CPU backend: loss.ts's rows split over the pool's threads;
// each row's loss goes to a float64 buffer and the calling thread sums them in row order, so the
// result is loss.ts's to the bit. Tensors are float indices.
import { softmaxCrossEntropyRow } from './loss.js';
import type { Pool, ThreadContext } from './threads.js';

const ROWS_PER_TASK = 16;

export function softmaxLossTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const [batch, classes, logits, labels, dlogits, losses, gradScale] = args;
  const mem = ctx.f32();
  const rowLoss = new Float64Array(mem.buffer, losses, batch);
  const x = mem.subarray(logits, logits + batch * classes);
  const y = mem.subarray(labels, labels + batch);
  const dx = dlogits ? mem.subarray(dlogits, dlogits + batch * classes) : null;
  for (let n = task * ROWS_PER_TASK; n < Math.min(batch, (task + 1) * ROWS_PER_TASK); n++) {
    rowLoss[n] = softmaxCrossEntropyRow(n, batch, classes, x, y, dx, gradScale);
  }
}

/** logits: [N, K]; labels: [N]; dlogits: [N, K] (overwritten, times gradScale) or 0. Returns the mean loss. */
export function softmaxLoss(pool: Pool, batch: number, classes: number, logits: number, labels: number, dlogits: number, gradScale: number): number {
  const losses = pool.sharedBuffer('loss.rows', batch * 8);
  pool.run(softmaxLossTask, [batch, classes, logits, labels, dlogits, losses, gradScale], Math.ceil(batch / ROWS_PER_TASK));
  const rowLoss = new Float64Array(pool.memory.buffer, losses, batch);
  let total = 0;
  for (let n = 0; n < batch; n++) total += rowLoss[n];
  return total / batch;
}
