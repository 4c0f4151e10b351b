// Convolutions and linear layers on WebGPU: each a tiled GEMM (gemm.wgsl with an op part that
// supplies its operands; no im2col in memory), split over the batch or over weight rows where a
// binding would exceed the adapter's limit; weight gradients by split-K with an ordered sum.
import type { ConvGeometry, LinearShape, Tensor } from '../backend.js';
import type { Recorded } from './context.js';
import { grid1d } from './gemm.js';
import { convCommon, WG, type Launcher } from './launch.js';

/** Records the forward convolution; returns its dispatches (a following ReLU may fuse into them). */
export function conv2dForward(l: Launcher, g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): Recorded[] {
  const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
  const records: Recorded[] = [];
  l.byBatch('conv2dForward', g.batch, [xs, ys], (n0, b) => {
    const K = cPerGroup * taps;
    const r = l.gemm(
      `conv2dForward ${y.label}`,
      'conv_forward',
      { M: oPerGroup, N: b * g.outHeight * g.outWidth, K, groups: g.groups },
      1,
      { ...common, has_bias: bias ? 1 : 0, relu: 0 },
      {
        x: { t: x, offset: n0 * xs, count: b * xs },
        w: { t: w, count: g.outChannels * K },
        b: bias ? { t: bias, count: g.outChannels } : { t: l.ctx.dummy(), count: 1 },
        y: { t: y, offset: n0 * ys, count: b * ys, write: true },
      },
    );
    if (r) records.push(r);
  });
  return records;
}

/** One GEMM per stride phase (conv_backward_data.wgsl): each input pixel gets only the taps that reach it. */
export function conv2dBackwardData(l: Launcher, g: ConvGeometry, dy: Tensor, w: Tensor, dx: Tensor): void {
  const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
  const s = g.stride;
  const count = (extent: number, first: number) => Math.max(0, Math.ceil((extent - first) / s));
  l.byBatch('conv2dBackwardData', g.batch, [xs, ys], (n0, b) => {
    for (let py = 0; py < Math.min(s, g.inHeight); py++) {
      for (let px = 0; px < Math.min(s, g.inWidth); px++) {
        const [kyp, kxp] = [(py + g.pad) % s, (px + g.pad) % s];
        const phase = {
          py, px, Hp: count(g.inHeight, py), Wp: count(g.inWidth, px), KHp: count(g.kernelH, kyp), KWp: count(g.kernelW, kxp),
          kyp, kxp, qy: Math.floor((py + g.pad) / s), qx: Math.floor((px + g.pad) / s),
        };
        l.gemm(
          `conv2dBackwardData ${dx.label}`,
          'conv_backward_data',
          // K = 0 (a kernel narrower than the stride misses this phase): the GEMM writes zeros.
          { M: cPerGroup, N: b * phase.Hp * phase.Wp, K: oPerGroup * phase.KHp * phase.KWp, groups: g.groups },
          1,
          { ...common, ...phase },
          {
            dy: { t: dy, offset: n0 * ys, count: b * ys },
            w: { t: w, count: g.outChannels * cPerGroup * taps },
            dx: { t: dx, offset: n0 * xs, count: b * xs, write: true },
          },
        );
      }
    }
  });
}

export function conv2dBackwardFilter(l: Launcher, g: ConvGeometry, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
  const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
  const patch = cPerGroup * taps;
  const wSize = g.outChannels * patch;
  const plane = g.outHeight * g.outWidth;
  // Partial sums of split-K must fit one binding too.
  const maxSplits = Math.max(1, Math.min(l.options.maxSplits, Math.floor((l.ctx.maxBinding - 256) / 4 / wSize)));
  l.byBatch('conv2dBackwardFilter', g.batch, [xs, ys], (n0, b) => {
    const op = `conv2dBackwardFilter ${dw.label}`;
    const problem = { M: oPerGroup, N: patch, K: b * plane, groups: g.groups };
    const splits = l.plan('conv_backward_filter', problem, maxSplits).params.splits;
    const part = splits > 1 ? l.ctx.scratch(splits * wSize) : l.ctx.dummy();
    l.gemm(op, 'conv_backward_filter', problem, maxSplits, common, {
      x: { t: x, offset: n0 * xs, count: b * xs },
      dy: { t: dy, offset: n0 * ys, count: b * ys },
      dw: { t: dw, count: wSize, write: true },
      part: { t: part, count: splits > 1 ? splits * wSize : 1, write: true },
    });
    if (splits > 1) {
      l.run(op, ['sum_splits'], { size: wSize, splits }, {
        part: { t: part, count: splits * wSize },
        out: { t: dw, count: wSize, write: true },
      }, grid1d(wSize, WG, l.ctx.maxGroups));
    }
    if (db) biasGrad(l, `conv2dBackwardFilter ${db.label}`, g.outChannels, plane, b, dy, n0 * ys, db);
  });
}

function biasGrad(l: Launcher, op: string, O: number, inner: number, batch: number, dy: Tensor, dyOffset: number, db: Tensor): void {
  // Chunks of images, so that a wide conv (conv1: 3,025 pixels x 256 images per channel) keeps
  // the device busy rather than 96 workgroups; a linear layer's columns are short.
  const splits = inner === 1 ? 1 : Math.max(1, Math.min(batch, Math.ceil(l.options.targetWorkgroups / O)));
  const chunk = Math.ceil(batch / splits);
  const part = splits > 1 ? l.ctx.scratch(splits * O) : l.ctx.dummy();
  l.run(op, ['bias_grad'], { O, inner, batch, chunk, splits }, {
    dy: { t: dy, offset: dyOffset, count: batch * O * inner },
    db: { t: db, count: O, write: true },
    part: { t: part, count: splits > 1 ? splits * O : 1, write: true },
  }, grid1d(O * splits, 1, l.ctx.maxGroups));
  if (splits > 1) {
    l.run(op, ['sum_splits'], { size: O, splits }, {
      part: { t: part, count: splits * O },
      out: { t: db, count: O, write: true },
    }, grid1d(O, WG, l.ctx.maxGroups));
  }
}

/** Records the linear layer; returns its dispatches (a following ReLU may fuse into them). */
export function linearForward(l: Launcher, s: LinearShape, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): Recorded[] {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  const records: Recorded[] = [];
  l.byRows('linearForward', O, I, (o0, rows) => {
    const r = l.gemm(`linearForward ${y.label}`, 'linear_forward', { M: N, N: rows, K: I, groups: 1 }, 1, { out_features: O, o0, has_bias: bias ? 1 : 0, relu: 0 }, {
      x: { t: x, count: N * I },
      w: { t: w, offset: o0 * I, count: rows * I },
      b: bias ? { t: bias, count: O } : { t: l.ctx.dummy(), count: 1 },
      y: { t: y, count: N * O, write: true },
    });
    if (r) records.push(r);
  });
  return records;
}

export function linearBackwardData(l: Launcher, s: LinearShape, dy: Tensor, w: Tensor, dx: Tensor): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  l.byRows('linearBackwardData', O, I, (o0, rows) => {
    l.gemm(`linearBackwardData ${dx.label}`, 'linear_backward_data', { M: N, N: I, K: rows, groups: 1 }, 1, { out_features: O, o0, accumulate: o0 > 0 ? 1 : 0 }, {
      dy: { t: dy, count: N * O },
      w: { t: w, offset: o0 * I, count: rows * I },
      dx: { t: dx, count: N * I, write: true },
    });
  });
}

export function linearBackwardParams(l: Launcher, s: LinearShape, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  l.byRows('linearBackwardParams', O, I, (o0, rows) => {
    l.gemm(`linearBackwardParams ${dw.label}`, 'linear_backward_params', { M: rows, N: I, K: N, groups: 1 }, 1, { out_features: O, o0 }, {
      x: { t: x, count: N * I },
      dy: { t: dy, count: N * O },
      dw: { t: dw, offset: o0 * I, count: rows * I, write: true },
    });
  });
  if (db) biasGrad(l, `linearBackwardParams ${db.label}`, O, 1, N, dy, 0, db);
}
