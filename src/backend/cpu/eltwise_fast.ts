// Elementwise ops of the fast CPU backend (ReLU, dropout, the SGD update) with the kernels of
// wasm/eltwise.wat, in chunks of CHUNK floats, one task each. Same contracts as activation.ts
// and sgd.ts; dropout and SGD give their results bit for bit. Tensors are float indices into the
// backend's memory.
import { dropThreshold } from '../../rng/hash.js';
import type { DropoutParams } from './activation.js';
import type { SgdParams } from './sgd.js';
import type { Pool, ThreadContext } from './threads.js';

/** Floats per task (64 KiB), an even number (the SGD kernel works in pairs). */
const CHUNK = 16384;

/** First element and length of chunk t of n. */
function chunk(t: number, n: number): [number, number] {
  const first = t * CHUNK;
  return [first, Math.min(CHUNK, n - first)];
}

const tasks = (n: number) => Math.ceil(n / CHUNK);

export function reluTask(ctx: ThreadContext, args: Float64Array, t: number): void {
  const [n, x, y] = args;
  const [i, len] = chunk(t, n);
  ctx.kernels.eltwise.relu((x + i) * 4, (y + i) * 4, len);
}

export function reluBackwardTask(ctx: ThreadContext, args: Float64Array, t: number): void {
  const [n, y, dy, dx] = args;
  const [i, len] = chunk(t, n);
  ctx.kernels.eltwise.relu_backward((y + i) * 4, (dy + i) * 4, (dx + i) * 4, len);
}

export function dropoutTask(ctx: ThreadContext, args: Float64Array, t: number): void {
  const [n, src, dst, seed, stream, threshold, scale, offset] = args;
  const [i, len] = chunk(t, n);
  ctx.kernels.eltwise.dropout((src + i) * 4, (dst + i) * 4, offset + i, len, seed, stream, threshold, scale);
}

export function sgdTask(ctx: ThreadContext, args: Float64Array, t: number): void {
  const [n, w, g, v, lr, m, wd, pytorch, gradScale] = args;
  const [i, len] = chunk(t, n);
  ctx.kernels.eltwise.sgd((w + i) * 4, (g + i) * 4, (v + i) * 4, len, lr, m, wd, pytorch, gradScale);
}

/** y = x <= 0 ? 0 : x over `count` elements; y may be x. */
export function relu(pool: Pool, count: number, x: number, y: number): void {
  pool.run(reluTask, [count, x, y], tasks(count));
}

/** dx = y <= 0 ? 0 : dy, with y the forward output; dx may be dy. */
export function reluBackward(pool: Pool, count: number, y: number, dy: number, dx: number): void {
  pool.run(reluBackwardTask, [count, y, dy, dx], tasks(count));
}

/** dst = src * mask / (1 - p), the mask of activation.ts (forward and backward alike); dst may be src. */
export function dropout(pool: Pool, count: number, d: DropoutParams, src: number, dst: number): void {
  pool.run(dropoutTask, [count, src, dst, d.seed >>> 0, d.stream >>> 0, dropThreshold(d.p), 1 / (1 - d.p), d.offset ?? 0], tasks(count));
}

/** sgd.ts's update of w and v from g over `count` elements. */
export function sgd(pool: Pool, count: number, h: SgdParams, w: number, g: number, v: number): void {
  pool.run(sgdTask, [count, w, g, v, h.lr, h.momentum, h.weightDecay, h.form === 'pytorch' ? 1 : 0, h.gradScale ?? 1], tasks(count));
}
