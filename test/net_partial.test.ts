// Parts of a net: a frozen front (fine-tuning trains only the layers from trainableFrom on, with
// learning-rate multipliers), a forward pass that starts at a layer whose input was kept, and
// the gradient of a score with respect to the image or a layer's output (saliency, Grad-CAM).
// Checked in Float64 against the whole net and against finite differences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { sgdUpdate } from '../src/backend/cpu/sgd.js';
import { product } from '../src/core/geometry.js';
import { Net, type TrainableOptions } from '../src/nn/net.js';
import { assertClose, micro, numericGradient, randomArray } from './helpers.js';

// The micro net's layers: conv1 0, relu 1, lrn 2, pool 3, conv2 4, ..., conv5 12, relu 13,
// pool 14, flatten 15, fc6 16, relu 17, dropout 18, fc7 19, relu 20, dropout 21, fc8 22.
const FC6 = 16;
const FC8 = 22;
const CONV5_RELU_OUT = 14; // the pool after conv5's ReLU reads A = conv5's output after ReLU
const SGD = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, form: 'paper' } as const;

function microNet(batch: number, trainable: TrainableOptions = {}) {
  const backend = new CpuBackend({ float64: true });
  const net = new Net(backend, micro, batch, trainable);
  net.initialize({ scheme: 'he', seed: 3 });
  backend.write(net.input, Float32Array.from(randomArray(batch * product(micro.input), 4)));
  backend.write(net.labels, Float32Array.from({ length: batch }, (_, i) => i % 3));
  return { backend, net };
}

const values = (net: Net) => net.parameters.map((p) => Float64Array.from(cpuData(p.value)));

test('a frozen front: the trained layers get the whole net\'s gradients, the frozen ones none, and no momentum', () => {
  const whole = microNet(3).net;
  const tuned = microNet(3, { trainableFrom: FC6 }).net;
  for (const net of [whole, tuned]) {
    net.forward(3, 'train', 7, 2); // dropout is after fc6 and fc7: the frozen front has none
    net.backward();
  }
  for (const [i, p] of tuned.parameters.entries()) {
    if (p.layer < FC6) {
      assert.equal(p.grad, null, `${p.name} is frozen: no gradient`);
      assert.equal(p.velocity, null, `${p.name} is frozen: no velocity`);
    } else assert.deepEqual(cpuData(p.grad!), cpuData(whole.parameters[i].grad!), `${p.name}: the same gradient as the whole net's`);
  }
});

test('a frozen front stays bit-identical over 20 SGD steps; only trained layers have momenta to save', async () => {
  const { net } = microNet(3, { trainableFrom: FC6 });
  const before = values(net);
  for (let step = 0; step < 20; step++) {
    net.forward(3, 'train', 7, step);
    net.backward();
    net.update(SGD);
  }
  const after = values(net);
  net.parameters.forEach((p, i) => {
    if (p.layer < FC6) assert.deepEqual(after[i], before[i], `${p.name} changed`);
    else assert.notDeepEqual(after[i], before[i], `${p.name} did not train`);
  });
  const momenta = await net.exportTensors('velocity');
  assert.deepEqual(momenta.map((t) => t.name), ['fc6.weight', 'fc6.bias', 'fc7.weight', 'fc7.bias', 'fc8.weight', 'fc8.bias']);
});

test('dropout inside a frozen front is off (it is a fixed feature extractor); after it, on', () => {
  // Frozen up to fc7: dropout 18 (after fc6) is in the front, dropout 21 (before fc8) is not.
  const frozen = microNet(2, { trainableFrom: FC8 }).net;
  assert.equal(frozen.frozenBefore, 21, 'the front ends before the dropout that feeds fc8');
  const evalFront = microNet(2).net;
  frozen.forward(2, 'train', 9, 1);
  evalFront.forward(2, 'eval');
  // fc7's input is fc6's output after its ReLU and dropout 18, which works in place.
  assert.deepEqual(cpuData(frozen.inputOf(19)).subarray(0, 2 * 5), cpuData(evalFront.inputOf(19)).subarray(0, 2 * 5), 'fc6 features as at evaluation');
  const trainedLogits = cpuData(frozen.logits).slice(0, 6);
  evalFront.forward(2, 'eval');
  assert.notDeepEqual(trainedLogits, cpuData(evalFront.logits).slice(0, 6), 'the dropout before fc8 still drops in training');
});

test('learning-rate multipliers: fc8 at 10x the rate, the rest at the base rate, in one step', () => {
  const { net } = microNet(3, { trainableFrom: FC6, lrMultipliers: new Map([[FC8, 10]]) });
  net.forward(3, 'eval');
  net.backward();
  const expected = net.parameters.map((p) => {
    const w = Float64Array.from(cpuData(p.value));
    if (!p.grad) return w;
    const lr = SGD.lr * (p.layer === FC8 ? 10 : 1);
    sgdUpdate(w.length, { ...SGD, lr }, w, cpuData(p.grad), new Float64Array(w.length));
    return w;
  });
  net.update(SGD);
  net.parameters.forEach((p, i) => assertClose(p.name, cpuData(p.value), expected[i], 1e-12));
});

test('forward from a layer whose input was kept gives the whole pass\'s logits', () => {
  const a = microNet(2).net;
  const b = microNet(2).net;
  a.forward(2, 'eval');
  (cpuData(b.inputOf(FC6)) as Float64Array).set(cpuData(a.inputOf(FC6)));
  b.backend.fill(b.input, 0); // the image is not read
  b.forward(2, 'eval', 0, 0, 0, FC6);
  assert.deepEqual(cpuData(b.logits), cpuData(a.logits));
});

test('inputGradient: d(score) / d(image) and / d(conv5 after ReLU) match Float64 finite differences', async () => {
  const { net } = microNet(2, { trainableFrom: Infinity });
  assert.equal(await net.exportTensors('grad').then((g) => g.length), 0, 'a net that is only looked into holds no gradients');
  const dLogits = Float32Array.from([0, 1, 0, 0.5, 0, -2]); // score = logit 1 of image 0 + 0.5 logit 0 - 2 logit 2 of image 1
  const score = (from: number) => {
    net.forward(2, 'eval', 0, 0, 0, from);
    const logits = cpuData(net.logits);
    return dLogits.reduce((s, d, i) => s + d * logits[i], 0);
  };
  for (const layer of [0, CONV5_RELU_OUT]) {
    score(0);
    const analytic = await net.inputGradient(layer, dLogits);
    const x = cpuData(net.inputOf(layer)) as Float64Array;
    const numeric = numericGradient(() => score(layer), x.subarray(0, analytic.length));
    assertClose(`gradient at the input of layer ${layer}`, analytic, numeric, 1e-4, 1e-4);
    assert.ok(analytic.some((g) => g !== 0), 'a gradient that is not all zero');
  }
});

test('inputGradient refuses a gradient of the wrong size and a layer the net does not have', async () => {
  const { net } = microNet(2, { trainableFrom: Infinity });
  net.forward(2, 'eval');
  await assert.rejects(net.inputGradient(0, new Float32Array(3)), /dLogits holds 3 floats, expected 2 x 3/);
  await assert.rejects(net.inputGradient(99, new Float32Array(6)), /micro has no layer 99 \(it has 23\)/);
});
