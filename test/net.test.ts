// The Net as a whole: a micro AlexNet (every component: grouped convs, ReLU, LRN, overlapping
// pools, dropout, fc layers) gradient-checked end to end in Float64, one SGD step, and the
// fast CPU paths against the reference loops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { convGeometry } from '../src/core/geometry.js';
import { forwardMacs, planLayers } from '../src/nn/plan.js';
import { sgdUpdate } from '../src/backend/cpu/sgd.js';
import { assertClose, micro, numericGradient, randomArray } from './helpers.js';


function microNet(backend: CpuBackend, batch: number) {
  const net = new Net(backend, micro, batch);
  net.initialize({ scheme: 'he', seed: 3 });
  backend.write(net.input, Float32Array.from(randomArray(batch * 3 * 15 * 15, 4)));
  backend.write(net.labels, Float32Array.from({ length: batch }, (_, i) => i % 3));
  return net;
}

test('micro net: every parameter gradient matches Float64 finite differences (train mode, dropout on)', async () => {
  const backend = new CpuBackend({ float64: true });
  const net = microNet(backend, 3);
  const seed = 11;
  const step = 2;
  const loss = () => {
    net.forward(3, 'train', seed, step);
    net.computeLoss();
    return cpuData(net.loss)[0];
  };
  net.forward(3, 'train', seed, step);
  net.backward();
  for (const p of net.parameters) {
    const analytic = Float64Array.from(cpuData(p.grad!));
    const numeric = numericGradient(loss, cpuData(p.value) as Float64Array);
    assertClose(p.name, analytic, numeric, 1e-4, 1e-4);
  }
});

test('micro net: one paper-form SGD step applies v = m v - wd lr w - lr g; w += v and lowers the loss', async () => {
  const backend = new CpuBackend({ float64: true });
  const net = microNet(backend, 3);
  net.forward(3, 'eval');
  net.computeLoss();
  const before = cpuData(net.loss)[0];
  net.forward(3, 'eval');
  net.backward();
  const expected = net.parameters.map((p) => {
    const w = Float64Array.from(cpuData(p.value));
    const v = new Float64Array(w.length);
    sgdUpdate(w.length, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, form: 'paper' }, w, cpuData(p.grad!), v);
    return w;
  });
  net.update({ lr: 0.05, momentum: 0.9, weightDecay: 5e-4, form: 'paper' });
  net.parameters.forEach((p, i) => assertClose(p.name, cpuData(p.value), expected[i], 1e-12));
  net.forward(3, 'eval');
  net.computeLoss();
  assert.ok(cpuData(net.loss)[0] < before, `loss ${cpuData(net.loss)[0]} should fall below ${before}`);
});

test('fast CPU path (im2col + GEMM) equals the reference loops on the micro net', async () => {
  const results: { logits: Float32Array; grads: { name: string; data: Float32Array }[] }[] = [];
  for (const backend of [new CpuBackend({ reference: true }), new CpuBackend()]) {
    const net = microNet(backend, 2);
    net.forward(2, 'train', 5, 1);
    net.backward();
    results.push({ logits: await net.readLogits(2), grads: await net.exportTensors('grad') });
  }
  assertClose('logits', results[1].logits, results[0].logits, 1e-4);
  results[0].grads.forEach((g, i) => assertClose(g.name, results[1].grads[i].data, g.data, 1e-3, 1e-3));
});

test('fast CPU convolution (im2col + GEMM) equals the reference loops over strides, padding and kernels', () => {
  const reference = new CpuBackend({ reference: true });
  const fast = new CpuBackend();
  // [batch, C, H, W, O, kernel, stride, pad, groups]: padding wider than reach, strides that skip
  // the last columns, 1x1 and 11x11 kernels, groups.
  const cases = [
    [2, 3, 9, 11, 4, 3, 1, 1, 1],
    [1, 2, 10, 7, 4, 3, 2, 2, 2],
    [2, 3, 23, 23, 5, 11, 4, 0, 1],
    [1, 4, 8, 8, 6, 5, 3, 2, 2],
    [3, 5, 5, 5, 3, 1, 1, 0, 1],
    [1, 2, 6, 6, 2, 5, 1, 4, 1],
  ];
  for (const [n, c, h, w, o, k, stride, pad, groups] of cases) {
    const g = convGeometry(n, c, h, w, o, k, stride, pad, groups, 'case');
    const what = `${n}x${c}x${h}x${w} -> ${o}, k${k} s${stride} p${pad} g${groups}`;
    const x = Float32Array.from(randomArray(n * c * h * w, 1));
    const wt = Float32Array.from(randomArray((o * c * k * k) / groups, 2));
    const b = Float32Array.from(randomArray(o, 3));
    const dy = Float32Array.from(randomArray(n * o * g.outHeight * g.outWidth, 4));
    const out = [reference, fast].map((be) => {
      const t = (d: Float32Array) => {
        const tensor = be.allocate(what, d.length);
        be.write(tensor, d);
        return tensor;
      };
      const [xt, wtt, bt, dyt] = [x, wt, b, dy].map(t);
      const y = be.allocate('y', dy.length);
      const dx = be.allocate('dx', x.length);
      const dw = t(new Float32Array(wt.length).fill(0.5)); // accumulated into
      const db = be.allocate('db', o);
      be.conv2dForward(g, xt, wtt, bt, y);
      be.conv2dBackwardData(g, dyt, wtt, dx);
      be.conv2dBackwardFilter(g, xt, dyt, dw, db);
      return [y, dx, dw, db].map((tensor) => cpuData(tensor));
    });
    ['y', 'dx', 'dw', 'db'].forEach((name, i) => assertClose(`${what} ${name}`, out[1][i], out[0][i], 1e-4, 1e-2));
  }
});

test('paper architecture: 60,965,224 parameters and 724,406,816 multiply-adds per image', () => {
  const layers = planLayers(architecture('paper'));
  const params = layers.reduce((s, l) => s + (l.weightShape ? l.weightShape.reduce((a, b) => a * b) + l.outShape[0] : 0), 0);
  assert.equal(params, 60_965_224);
  assert.equal(forwardMacs(layers), 724_406_816);
  const shapes = layers.filter((l) => l.spec.kind === 'maxpool').map((l) => l.outShape.join('x'));
  assert.deepEqual(shapes, ['96x27x27', '256x13x13', '256x6x6']);
});

test('every architecture plans; torchvision uses its state_dict keys', () => {
  for (const name of ['paper', 'caffe', 'torchvision', 'd2l', 'mini']) planLayers(architecture(name));
  const net = new Net(new CpuBackend(), architecture('torchvision'), 1);
  assert.deepEqual(
    net.parameters.map((p) => p.name),
    ['features.0', 'features.3', 'features.6', 'features.8', 'features.10', 'classifier.1', 'classifier.4', 'classifier.6'].flatMap(
      (k) => [`${k}.weight`, `${k}.bias`],
    ),
  );
  assert.equal(net.parameterCount, 61_100_840);
});

test('a wrong batch size is a clear error', () => {
  const net = microNet(new CpuBackend(), 2);
  assert.throws(() => net.forward(3, 'eval'), /batch must be an integer in 1\.\.2 \(planned\), found 3/);
});
