// PyTorch goldens (test/fixtures, made by scripts/make_goldens.py with Debian's PyTorch) pin the
// conventions: grouped conv, both LRN forms and even windows, pooling in floor and ceil mode,
// the softmax-CE gradient, softmax and top-k (also against cases worked by hand), both SGD
// forms, and a reduced-width paper net end to end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { softmax, softmaxCrossEntropy } from '../src/backend/cpu/loss.js';
import { lrnBackward, lrnForward } from '../src/backend/cpu/lrn.js';
import { maxPoolBackward, maxPoolForward } from '../src/backend/cpu/pool.js';
import { sgdUpdate, type SgdForm } from '../src/backend/cpu/sgd.js';
import { convGeometry, poolGeometry } from '../src/core/geometry.js';
import { countTopK } from '../src/eval/metrics.js';
import { paperFamily, PAPER_LRN } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { readSafetensors } from '../src/io/files.js';
import { assertClose } from './helpers.js';

const FIXTURES = new URL('../../test/fixtures/', import.meta.url).pathname;

async function fixture(name: string) {
  const { tensors, metadata } = await readSafetensors(`${FIXTURES}${name}.safetensors`);
  const get = (key: string) => {
    const t = tensors.get(key);
    if (!t) throw new Error(`${name}: no tensor ${key}`);
    return t;
  };
  return { get, data: (key: string) => get(key).data, metadata };
}

for (const [name, stride, pad, groups] of [['conv_grouped', 2, 1, 2], ['conv_groups3', 1, 2, 3]] as const) {
  test(`grouped conv matches PyTorch: ${name}`, async () => {
    const f = await fixture(name);
    const [n, c, h, w] = f.get('x').shape;
    const [o, , k] = f.get('w').shape;
    const g = convGeometry(n, c, h, w, o, k, stride, pad, groups);
    // The loops, and the fast backend (im2col + SIMD GEMM on two threads).
    for (const backend of [new CpuBackend({ reference: true }), new CpuBackend({ host: nodePoolHost, threads: 2 })]) {
      const t = (key: string) => {
        const tensor = backend.allocate(key, f.data(key).length);
        backend.write(tensor, f.data(key));
        return tensor;
      };
      const [x, wt, b, dy] = ['x', 'w', 'b', 'dy'].map(t);
      const [y, dx, dw, db] = ['y', 'dx', 'dw', 'db'].map((key) => backend.allocate(key, f.data(key).length));
      backend.conv2dForward(g, x, wt, b, y);
      backend.conv2dBackwardData(g, dy, wt, dx);
      backend.conv2dBackwardFilter(g, x, dy, dw, db);
      for (const [key, tensor] of [['y', y], ['dx', dx], ['dw', dw], ['db', db]] as const) {
        assertClose(`${backend.device} ${key}`, cpuData(tensor), f.data(key), 1e-4);
      }
      backend.dispose();
    }
  });
}

// The paper's form (alpha undivided, k=2) is PyTorch's LocalResponseNorm(5, alpha=5e-4, k=2).
const lrnCases = [
  { name: 'lrn_paper', p: PAPER_LRN },
  { name: 'lrn_caffe', p: { size: 5, alpha: 1e-4, beta: 0.75, k: 1, alphaDividedBySize: true } },
  { name: 'lrn_size3', p: { size: 3, alpha: 1e-3, beta: 0.75, k: 1, alphaDividedBySize: true } },
  { name: 'lrn_size4', p: { size: 4, alpha: 2e-3, beta: 0.6, k: 1.5, alphaDividedBySize: true } },
];
for (const { name, p } of lrnCases) {
  test(`LRN matches PyTorch: ${name}`, async () => {
    const f = await fixture(name);
    const shape = f.get('x').shape;
    const y = new Float32Array(f.data('y').length);
    lrnForward(p, shape, f.data('x'), y);
    assertClose('y', y, f.data('y'), 1e-5);
    const dx = new Float32Array(y.length);
    lrnBackward(p, shape, f.data('x'), f.data('y'), f.data('dy'), dx);
    assertClose('dx', dx, f.data('dx'), 1e-4);
  });
}

for (const [name, rounding] of [['maxpool', 'floor'], ['maxpool_ceil', 'ceil']] as const) {
  test(`overlapping max-pool matches PyTorch: ${name}`, async () => {
    const f = await fixture(name);
    const [n, c, h, w] = f.get('x').shape;
    const g = poolGeometry(n, c, h, w, 3, 2, 0, rounding);
    const y = new Float32Array(n * c * g.outHeight * g.outWidth);
    maxPoolForward(g, f.data('x'), y);
    assertClose('y', y, f.data('y'), 0);
    const dx = new Float32Array(f.data('dx').length);
    maxPoolBackward(g, f.data('x'), f.data('dy'), dx);
    assertClose('dx', dx, f.data('dx'), 1e-6);
  });
}

test('softmax cross-entropy loss and gradient match PyTorch', async () => {
  const f = await fixture('softmax_ce');
  const [n, k] = f.get('logits').shape;
  const dlogits = new Float32Array(n * k);
  const loss = softmaxCrossEntropy(n, k, f.data('logits'), f.data('labels'), dlogits);
  assertClose('loss', [loss], f.data('loss'), 1e-6);
  assertClose('dlogits', dlogits, f.data('dlogits'), 1e-5);
});

test('softmax matches PyTorch, also on a row 1000 above another', async () => {
  const f = await fixture('softmax_topk');
  const [n, k] = f.get('logits').shape;
  const probs = new Float64Array(n * k);
  softmax(n, k, f.data('logits'), probs);
  assertClose('probabilities', probs, f.data('probabilities'), 1e-5);
  // In place, as evaluation calls it.
  const inPlace = Float32Array.from(f.data('logits'));
  softmax(n, k, inPlace, inPlace);
  assertClose('probabilities in place', inPlace, f.data('probabilities'), 1e-5);
});

test('softmax by hand: [0, ln 2, ln 3] gives [1/6, 2/6, 3/6], equal logits share evenly', () => {
  const p = Float64Array.of(0, Math.log(2), Math.log(3), 7, 7, 7, 7, 7, 7);
  softmax(3, 3, p, p);
  assertClose('probabilities', p, [1 / 6, 2 / 6, 3 / 6, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3], 1e-12);
});

test('top-1 and top-5 hits match torch.topk row by row', async () => {
  const f = await fixture('softmax_topk');
  const [n, k] = f.get('logits').shape;
  const logits = f.data('logits');
  const labels = f.data('labels');
  for (const [top, key] of [[1, 'in_top1'], [5, 'in_top5']] as const) {
    const want = f.data(key);
    for (let i = 0; i < n; i++) {
      assert.equal(countTopK(logits.subarray(i * k, (i + 1) * k), [labels[i]], 1, k, top), want[i], `row ${i}, top-${top}`);
    }
    assert.equal(countTopK(logits, labels, n, k, top), want.reduce((s, v) => s + v, 0), `top-${top} over the batch`);
  }
});

test("top-k by hand: the label's rank decides, and ties with lower classes count against it", () => {
  // Ranks: class 3 (0.9), 1, 5, 4, 2 (0.2), 0 (0.1), 6 (0.0).
  const row = [0.1, 0.5, 0.2, 0.9, 0.3, 0.4, 0.0];
  const hits = (label: number, top: number) => countTopK(row, [label], 1, 7, top);
  assert.deepEqual([1, 2, 4, 5, 6, 7].map((top) => hits(3, top)), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual([1, 4, 5, 6].map((top) => hits(2, top)), [0, 0, 1, 1]);
  assert.deepEqual([5, 6, 7].map((top) => hits(6, top)), [0, 0, 1]);
  // A constant output ranks the label after every lower class: not every row a hit.
  const flat = [1, 1, 1];
  assert.deepEqual([0, 1, 2].map((label) => countTopK(flat, [label], 1, 3, 2)), [1, 1, 0]);
});

for (const form of ['paper', 'pytorch'] as SgdForm[]) {
  test(`SGD, ${form} form: two steps with a learning-rate change match PyTorch`, async () => {
    const f = await fixture('sgd');
    const w = Float32Array.from(f.data('w'));
    const v = new Float32Array(w.length);
    const h = { momentum: 0.9, weightDecay: 5e-4, form };
    sgdUpdate(w.length, { ...h, lr: 0.1 }, w, f.data('g1'), v);
    assertClose('w1', w, f.data(`${form}_w1`), 1e-5);
    sgdUpdate(w.length, { ...h, lr: 0.01 }, w, f.data('g2'), v);
    assertClose('w2', w, f.data(`${form}_w2`), 1e-5);
  });
}

test('reduced-width paper net: logits, loss and every gradient match PyTorch (flatten order C,H,W)', async () => {
  const f = await fixture('paper_small');
  const arch = paperFamily({
    name: 'paper_small', input: [3, 227, 227], classes: 10, conv: [12, 32, 48, 48, 32], conv1Kernel: 11,
    conv1Stride: 4, conv1Pad: 0, conv2Kernel: 5, hidden: 64, lrn: PAPER_LRN, groups: 2, rounding: 'floor',
    dropout: 0.5, convBiasInit: 1, fcBiasInit: 1,
  });
  const backend = new CpuBackend();
  const net = new Net(backend, arch, 2);
  const tensors = new Map(net.parameters.map((p) => [p.name, f.get(p.name)]));
  net.importTensors(tensors, 'paper_small.safetensors');
  backend.write(net.input, f.data('input'));
  backend.write(net.labels, f.data('labels'));
  net.forward(2, 'eval');
  assertClose('logits', await net.readLogits(2), f.data('logits'), 1e-4);
  net.backward();
  assertClose('loss', [cpuData(net.loss)[0]], f.data('loss'), 1e-5);
  // Near-zero gradient elements carry float32 noise: compare relative to 1e-3 of each tensor's scale.
  for (const p of net.parameters) {
    const want = f.data(`grad.${p.name}`);
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose(`grad ${p.name}`, cpuData(p.grad!), want, 1e-3, 1e-2 * scale);
  }
});
