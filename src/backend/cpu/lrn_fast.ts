// Local response normalization on the fast CPU backend: wasm/lrn.wat for beta = 0.75 (the
// paper's and Caffe's), lrn.ts's loops for any other beta; tasks are blocks of pixels of one
// image (every channel of them). Same contract as lrn.ts. Tensors are float indices.
import { lrnBackward as lrnBackwardLoops, lrnForward as lrnForwardLoops, lrnScale, type LrnParams } from './lrn.js';
import type { Pool, ThreadContext } from './threads.js';

/** Pixels (of every channel) per task when the kernel runs. */
const PIXELS = 256;

/** The job arguments: shape and parameters, then the tensors. */
function encode(p: LrnParams, shape: readonly number[], ...tensors: number[]): number[] {
  return [...shape, p.size, p.alpha, p.beta, p.k, p.alphaDividedBySize ? 1 : 0, ...tensors];
}

function decode(args: Float64Array) {
  const [N, C, H, W, size, alpha, beta, k, divided] = args;
  const p: LrnParams = { size, alpha, beta, k, alphaDividedBySize: divided === 1 };
  const pixels = H * W;
  const kernel = beta === 0.75;
  return { p, N, C, H, W, pixels, kernel, blocks: kernel ? Math.ceil(pixels / PIXELS) : 1 };
}

/** Image, first pixel and pixel count of a task. */
function place(d: ReturnType<typeof decode>, task: number): [number, number, number] {
  const q0 = (task % d.blocks) * PIXELS;
  return [Math.floor(task / d.blocks), q0, Math.min(d.kernel ? PIXELS : d.pixels, d.pixels - q0)];
}

/** The task's image of each tensor as a Float32Array (for the loops). */
function images(ctx: ThreadContext, d: ReturnType<typeof decode>, n: number, tensors: number[]): Float32Array[] {
  const size = d.C * d.pixels;
  return tensors.map((t) => ctx.f32().subarray(t + n * size, t + (n + 1) * size));
}

export function lrnForwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const [x, y] = args.subarray(9);
  const [n, q0, count] = place(d, task);
  if (!d.kernel) {
    const [xi, yi] = images(ctx, d, n, [x, y]);
    lrnForwardLoops(d.p, [1, d.C, d.H, d.W], xi, yi);
    return;
  }
  const at = (n * d.C * d.pixels + q0) * 4;
  const [before, after] = [Math.floor(d.p.size / 2), Math.floor((d.p.size - 1) / 2)];
  ctx.kernels.lrn.lrn_forward(x * 4 + at, y * 4 + at, d.C, d.pixels, count, d.p.k, lrnScale(d.p), before, after, ctx.scratch());
}

export function lrnBackwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const [x, y, dy, dx] = args.subarray(9);
  const [n, q0, count] = place(d, task);
  if (!d.kernel) {
    const [xi, yi, dyi, dxi] = images(ctx, d, n, [x, y, dy, dx]);
    lrnBackwardLoops(d.p, [1, d.C, d.H, d.W], xi, yi, dyi, dxi);
    return;
  }
  const at = (n * d.C * d.pixels + q0) * 4;
  const [before, after] = [Math.floor(d.p.size / 2), Math.floor((d.p.size - 1) / 2)];
  const a = lrnScale(d.p);
  ctx.kernels.lrn.lrn_backward(x * 4 + at, y * 4 + at, dy * 4 + at, dx * 4 + at, d.C, d.pixels, count, d.p.k, a, 2 * a * d.p.beta, before, after, ctx.scratch());
}

const taskCount = (p: LrnParams, shape: readonly number[]) =>
  shape[0] * (p.beta === 0.75 ? Math.ceil((shape[2] * shape[3]) / PIXELS) : 1);

/** x, y: [N, C, H, W] (y overwritten). */
export function lrnForward(pool: Pool, p: LrnParams, shape: readonly number[], x: number, y: number): void {
  pool.scratch(4 * (shape[1] + p.size) * 16);
  pool.run(lrnForwardTask, encode(p, shape, x, y), taskCount(p, shape));
}

/** x, y (the forward output), dy, dx: [N, C, H, W] (dx overwritten; may not alias dy). */
export function lrnBackward(pool: Pool, p: LrnParams, shape: readonly number[], x: number, y: number, dy: number, dx: number): void {
  pool.scratch(4 * (shape[1] + p.size) * 16);
  pool.run(lrnBackwardTask, encode(p, shape, x, y, dy, dx), taskCount(p, shape));
}
