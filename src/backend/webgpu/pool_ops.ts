// Pooling and local response normalisation on WebGPU: one thread per output element (max-pool
// forward records each window's argmax for its backward pass; see the .wgsl files), split over
// the batch where a binding would exceed the adapter's limit.
import type { AdaptivePoolGeometry, LrnParams, PoolGeometry, Tensor } from '../backend.js';
import { lrnScale } from '../cpu/lrn.js';
import { grid1d } from './gemm.js';
import { WG, type Launcher } from './launch.js';

export function maxPoolForward(l: Launcher, g: PoolGeometry, x: Tensor, y: Tensor, indices: Tensor): void {
  const xs = g.channels * g.inHeight * g.inWidth;
  const ys = g.channels * g.outHeight * g.outWidth;
  l.byBatch('maxPoolForward', g.batch, [xs, ys], (n0, b) => {
    l.run(`maxPoolForward ${y.label}`, ['nan', 'maxpool_forward'], { total: b * ys, ...poolParams(g) }, {
      x: { t: x, offset: n0 * xs, count: b * xs },
      y: { t: y, offset: n0 * ys, count: b * ys, write: true },
      indices: { t: indices, offset: n0 * ys, count: b * ys, write: true },
    }, grid1d(b * ys, WG, l.ctx.maxGroups));
  });
}

/** From the argmax the forward pass recorded in `indices` (x is not read again). */
export function maxPoolBackward(l: Launcher, g: PoolGeometry, indices: Tensor, dy: Tensor, dx: Tensor): void {
  const xs = g.channels * g.inHeight * g.inWidth;
  const ys = g.channels * g.outHeight * g.outWidth;
  l.byBatch('maxPoolBackward', g.batch, [xs, ys], (n0, b) => {
    l.run(`maxPoolBackward ${dx.label}`, ['maxpool_backward'], { total: b * xs, ...poolParams(g) }, {
      indices: { t: indices, offset: n0 * ys, count: b * ys },
      dy: { t: dy, offset: n0 * ys, count: b * ys },
      dx: { t: dx, offset: n0 * xs, count: b * xs, write: true },
    }, grid1d(b * xs, WG, l.ctx.maxGroups));
  });
}

export function adaptiveAvgPoolForward(l: Launcher, g: AdaptivePoolGeometry, x: Tensor, y: Tensor): void {
  const xs = g.inHeight * g.inWidth;
  const ys = g.outHeight * g.outWidth;
  l.byBatch('adaptiveAvgPoolForward', g.planes, [xs, ys], (p0, planes) => {
    l.run(`adaptiveAvgPoolForward ${y.label}`, ['avgpool_forward'], { total: planes * ys, H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth }, {
      x: { t: x, offset: p0 * xs, count: planes * xs },
      y: { t: y, offset: p0 * ys, count: planes * ys, write: true },
    }, grid1d(planes * ys, WG, l.ctx.maxGroups));
  });
}

export function adaptiveAvgPoolBackward(l: Launcher, g: AdaptivePoolGeometry, dy: Tensor, dx: Tensor): void {
  const xs = g.inHeight * g.inWidth;
  const ys = g.outHeight * g.outWidth;
  l.byBatch('adaptiveAvgPoolBackward', g.planes, [xs, ys], (p0, planes) => {
    l.run(`adaptiveAvgPoolBackward ${dx.label}`, ['avgpool_backward'], { total: planes * xs, H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth }, {
      dy: { t: dy, offset: p0 * ys, count: planes * ys },
      dx: { t: dx, offset: p0 * xs, count: planes * xs, write: true },
    }, grid1d(planes * xs, WG, l.ctx.maxGroups));
  });
}

export function lrnForward(l: Launcher, p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor): void {
  const [N, C, H, W] = shape;
  const s = C * H * W;
  l.byBatch('lrnForward', N, [s], (n0, b) => {
    l.run(`lrnForward ${y.label}`, ['lrn_forward'], { total: b * s, ...lrnParams(p, C, H * W) }, {
      x: { t: x, offset: n0 * s, count: b * s },
      y: { t: y, offset: n0 * s, count: b * s, write: true },
    }, grid1d(b * s, WG, l.ctx.maxGroups));
  });
}

export function lrnBackward(l: Launcher, p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void {
  const [N, C, H, W] = shape;
  const s = C * H * W;
  l.byBatch('lrnBackward', N, [s], (n0, b) => {
    const range = { offset: n0 * s, count: b * s };
    l.run(`lrnBackward ${dx.label}`, ['lrn_backward'], { total: b * s, ...lrnParams(p, C, H * W) }, {
      x: { t: x, ...range },
      y: { t: y, ...range },
      dy: { t: dy, ...range },
      dx: { t: dx, ...range, write: true },
    }, grid1d(b * s, WG, l.ctx.maxGroups));
  });
}

function poolParams(g: PoolGeometry) {
  return { H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth, size: g.size, stride: g.stride, pad: g.pad };
}

function lrnParams(p: LrnParams, C: number, HW: number) {
  return {
    C,
    HW,
    lo: Math.floor(p.size / 2),
    hi: Math.floor((p.size - 1) / 2),
    beta_is_3_4: p.beta === 0.75 ? 1 : 0,
    a: lrnScale(p),
    k: p.k,
    beta: p.beta,
  };
}
