// Pooling on the fast CPU backend, split by planes (image, channel) over the pool's threads:
// max-pool with wasm/maxpool.wat, adaptive average pooling with pool.ts's loops. Same contracts
// as pool.ts. Tensors are float indices.
import type { PoolGeometry } from '../../core/geometry.js';
import { adaptiveAvgPoolBackward as avgBackwardLoops, adaptiveAvgPoolForward as avgForwardLoops, type AdaptivePoolGeometry } from './pool.js';
import type { Pool, ThreadContext } from './threads.js';

/** Planes per task: about four tasks per thread. */
const planesPerTask = (pool: Pool, planes: number) => Math.max(1, Math.ceil(planes / (4 * pool.active)));

// Max-pool job arguments: [planes per task, N * C, H, W, OH, OW, size, stride, pad, then the tensors].
function maxArgs(pool: Pool, g: PoolGeometry, ...tensors: number[]): [number[], number] {
  const planes = g.batch * g.channels;
  const per = planesPerTask(pool, planes);
  return [[per, planes, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.size, g.stride, g.pad, ...tensors], Math.ceil(planes / per)];
}

export function maxPoolForwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const [per, planes, H, W, OH, OW, size, stride, pad, x, y] = args;
  const p0 = task * per;
  const count = Math.min(per, planes - p0);
  ctx.kernels.maxpool.maxpool_forward((x + p0 * H * W) * 4, (y + p0 * OH * OW) * 4, count, H, W, OH, OW, size, stride, pad);
}

export function maxPoolBackwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const [per, planes, H, W, OH, OW, size, stride, pad, x, dy, dx] = args;
  const p0 = task * per;
  const count = Math.min(per, planes - p0);
  ctx.kernels.maxpool.maxpool_backward((x + p0 * H * W) * 4, (dy + p0 * OH * OW) * 4, (dx + p0 * H * W) * 4, count, H, W, OH, OW, size, stride, pad);
}

/** x: [N, C, H, W]; y: [N, C, OH, OW] (overwritten). */
export function maxPoolForward(pool: Pool, g: PoolGeometry, x: number, y: number): void {
  const [args, tasks] = maxArgs(pool, g, x, y);
  pool.run(maxPoolForwardTask, args, tasks);
}

/** Routes each dy to its window's max; dx (overwritten) as x. */
export function maxPoolBackward(pool: Pool, g: PoolGeometry, x: number, dy: number, dx: number): void {
  const [args, tasks] = maxArgs(pool, g, x, dy, dx);
  pool.run(maxPoolBackwardTask, args, tasks);
}

/** Planes [p0, p0 + count) of an adaptive pool: its geometry and the views of its tensors. */
function avgSlice(ctx: ThreadContext, args: Float64Array, task: number) {
  const [per, planes, inHeight, inWidth, outHeight, outWidth, from, to] = args;
  const p0 = task * per;
  const count = Math.min(per, planes - p0);
  const g: AdaptivePoolGeometry = { planes: count, inHeight, inWidth, outHeight, outWidth };
  const mem = ctx.f32();
  return {
    g,
    inside: mem.subarray(from + p0 * inHeight * inWidth, from + (p0 + count) * inHeight * inWidth),
    outside: mem.subarray(to + p0 * outHeight * outWidth, to + (p0 + count) * outHeight * outWidth),
  };
}

export function avgPoolForwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const { g, inside, outside } = avgSlice(ctx, args, task);
  avgForwardLoops(g, inside, outside);
}

export function avgPoolBackwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const { g, inside, outside } = avgSlice(ctx, args, task);
  avgBackwardLoops(g, outside, inside);
}

function avgArgs(pool: Pool, g: AdaptivePoolGeometry, from: number, to: number): [number[], number] {
  const per = planesPerTask(pool, g.planes);
  return [[per, g.planes, g.inHeight, g.inWidth, g.outHeight, g.outWidth, from, to], Math.ceil(g.planes / per)];
}

/** x: [N, C, H, W]; y: [N, C, OH, OW] (overwritten). */
export function adaptiveAvgPoolForward(pool: Pool, g: AdaptivePoolGeometry, x: number, y: number): void {
  pool.run(avgPoolForwardTask, ...avgArgs(pool, g, x, y));
}

/** dy: [N, C, OH, OW]; dx: [N, C, H, W] (overwritten). */
export function adaptiveAvgPoolBackward(pool: Pool, g: AdaptivePoolGeometry, dy: number, dx: number): void {
  pool.run(avgPoolBackwardTask, ...avgArgs(pool, g, dx, dy));
}
