// The Net as a whole: a micro AlexNet (every component: grouped convs, ReLU, LRN, overlapping
// pools, dropout, fc layers) gradient-checked end to end in Float64, one SGD step, and the
// fast CPU paths against the reference loops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
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
    const analytic = Float64Array.from(cpuData(p.grad));
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
    sgdUpdate(w.length, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, form: 'paper' }, w, cpuData(p.grad), v);
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
