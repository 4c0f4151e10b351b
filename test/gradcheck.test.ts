// Every CPU reference op against Float64 central differences, over every input and parameter.
// Each op's scalar objective is sum(y * r) for a fixed random r, whose gradient wrt y is r.
// Also dropout's keep rate and 1/(1-p) scale, which finite differences cannot see (a copy has
// the gradient of a copy).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { conv2dBackwardData, conv2dBackwardFilter, conv2dForward } from '../src/backend/cpu/conv.js';
import { linearBackwardData, linearBackwardParams, linearForward } from '../src/backend/cpu/linear.js';
import { lrnBackward, lrnForward, type LrnParams } from '../src/backend/cpu/lrn.js';
import { adaptiveAvgPoolBackward, adaptiveAvgPoolForward, maxPoolBackward, maxPoolForward } from '../src/backend/cpu/pool.js';
import { dropoutBackward, dropoutForward, reluBackward, reluForward } from '../src/backend/cpu/activation.js';
import { softmaxCrossEntropy } from '../src/backend/cpu/loss.js';
import { convGeometry, poolGeometry, product } from '../src/core/geometry.js';
import { assertClose, distinctArray, dot, numericGradient, randomArray } from './helpers.js';

// Central differences in Float64 with eps 1e-6 carry ~1e-8 absolute noise on sums of ~100 terms.
const TOL = 1e-5;

const convCases = [
  { name: 'groups 1, stride 1, pad 0', n: 2, c: 3, h: 6, w: 5, o: 4, k: 3, stride: 1, pad: 0, groups: 1 },
  { name: 'groups 2, stride 2, pad 1', n: 2, c: 4, h: 7, w: 7, o: 6, k: 3, stride: 2, pad: 1, groups: 2 },
  { name: 'groups 3, stride 3, pad 2, kernel 5', n: 1, c: 6, h: 9, w: 8, o: 3, k: 5, stride: 3, pad: 2, groups: 3 },
  { name: 'AlexNet conv1-like: kernel 11, stride 4', n: 1, c: 3, h: 19, w: 19, o: 2, k: 11, stride: 4, pad: 0, groups: 1 },
];

for (const cs of convCases) {
  test(`conv2d gradients: ${cs.name}`, () => {
    const g = convGeometry(cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.stride, cs.pad, cs.groups);
    const x = randomArray(cs.n * cs.c * cs.h * cs.w, 1);
    const w = randomArray(cs.o * (cs.c / cs.groups) * cs.k * cs.k, 2);
    const b = randomArray(cs.o, 3);
    const ySize = cs.n * cs.o * g.outHeight * g.outWidth;
    const r = randomArray(ySize, 4);
    const y = new Float64Array(ySize);
    const f = () => (conv2dForward(g, x, w, b, y), dot(y, r));
    const dx = new Float64Array(x.length);
    const dw = new Float64Array(w.length);
    const db = new Float64Array(b.length);
    conv2dBackwardData(g, r, w, dx);
    conv2dBackwardFilter(g, x, r, dw, db);
    assertClose('dx', dx, numericGradient(f, x), TOL);
    assertClose('dw', dw, numericGradient(f, w), TOL);
    assertClose('db', db, numericGradient(f, b), TOL);
  });
}

const lrnCases: { name: string; shape: number[]; p: LrnParams }[] = [
  { name: 'paper form, window narrower than channels', shape: [2, 7, 2, 3], p: { size: 5, alpha: 1e-2, beta: 0.75, k: 2, alphaDividedBySize: false } },
  { name: 'divided form, window wider than channels', shape: [1, 3, 2, 2], p: { size: 7, alpha: 5e-2, beta: 0.75, k: 1, alphaDividedBySize: true } },
  { name: 'even window', shape: [1, 6, 1, 3], p: { size: 4, alpha: 3e-2, beta: 0.6, k: 1.5, alphaDividedBySize: true } },
];

for (const cs of lrnCases) {
  test(`LRN gradients: ${cs.name}`, () => {
    const size = product(cs.shape);
    const x = randomArray(size, 5, 3);
    const r = randomArray(size, 6);
    const y = new Float64Array(size);
    const f = () => (lrnForward(cs.p, cs.shape, x, y), dot(y, r));
    f();
    const dx = new Float64Array(size);
    lrnBackward(cs.p, cs.shape, x, y, r, dx);
    assertClose('dx', dx, numericGradient(f, x), TOL);
  });
}

const poolCases = [
  { name: 'overlapping 3/2, floor', n: 2, c: 2, h: 9, w: 7, size: 3, stride: 2, rounding: 'floor' as const },
  { name: 'overlapping 3/2, ceil (clipped windows)', n: 1, c: 2, h: 8, w: 8, size: 3, stride: 2, rounding: 'ceil' as const },
  { name: 'non-overlapping 2/2', n: 1, c: 3, h: 6, w: 6, size: 2, stride: 2, rounding: 'floor' as const },
];

for (const cs of poolCases) {
  test(`max-pool gradients: ${cs.name}`, () => {
    const g = poolGeometry(cs.n, cs.c, cs.h, cs.w, cs.size, cs.stride, 0, cs.rounding);
    const x = distinctArray(cs.n * cs.c * cs.h * cs.w, 7);
    const r = randomArray(cs.n * cs.c * g.outHeight * g.outWidth, 8);
    const y = new Float64Array(r.length);
    const f = () => (maxPoolForward(g, x, y), dot(y, r));
    const dx = new Float64Array(x.length);
    maxPoolBackward(g, x, r, dx);
    assertClose('dx', dx, numericGradient(f, x, 1e-4), TOL);
  });
}

test('adaptive average pool gradients (7x5 -> 3x2)', () => {
  const g = { planes: 2, inHeight: 7, inWidth: 5, outHeight: 3, outWidth: 2 };
  const x = randomArray(2 * 35, 9);
  const r = randomArray(2 * 6, 10);
  const y = new Float64Array(r.length);
  const f = () => (adaptiveAvgPoolForward(g, x, y), dot(y, r));
  const dx = new Float64Array(x.length);
  adaptiveAvgPoolBackward(g, r, dx);
  assertClose('dx', dx, numericGradient(f, x), TOL);
});

test('linear gradients', () => {
  const s = { batch: 3, inFeatures: 5, outFeatures: 4 };
  const x = randomArray(15, 11);
  const w = randomArray(20, 12);
  const b = randomArray(4, 13);
  const r = randomArray(12, 14);
  const y = new Float64Array(12);
  const f = () => (linearForward(s, x, w, b, y), dot(y, r));
  const dx = new Float64Array(15);
  const dw = new Float64Array(20);
  const db = new Float64Array(4);
  linearBackwardData(s, r, w, dx);
  linearBackwardParams(s, x, r, dw, db);
  assertClose('dx', dx, numericGradient(f, x), TOL);
  assertClose('dw', dw, numericGradient(f, w), TOL);
  assertClose('db', db, numericGradient(f, b), TOL);
});

test('ReLU gradients (inputs away from the kink)', () => {
  const x = randomArray(40, 15).map((v) => (Math.abs(v) < 0.05 ? v + 0.2 : v));
  const r = randomArray(40, 16);
  const y = new Float64Array(40);
  const f = () => (reluForward(40, x, y), dot(y, r));
  f();
  const dx = new Float64Array(40);
  reluBackward(40, y, r, dx);
  assertClose('dx', dx, numericGradient(f, x), TOL);
});

test('dropout gradients use the forward mask', () => {
  const d = { p: 0.5, seed: 42, stream: 7 };
  const x = randomArray(64, 17);
  const r = randomArray(64, 18);
  const y = new Float64Array(64);
  const f = () => (dropoutForward(64, d, x, y), dot(y, r));
  const dx = new Float64Array(64);
  dropoutBackward(64, d, r, dx);
  assertClose('dx', dx, numericGradient(f, x), TOL);
});

test('CPU dropout keeps 1 - p of the elements, scales them by 1 / (1 - p), and drops the same ones going back', async () => {
  const backend = new CpuBackend();
  const count = 100_000;
  const x = Float32Array.from({ length: count }, (_, i) => 1 + (i % 7));
  const masks: boolean[][] = [];
  for (const p of [0.5, 0.25, 0.9, 0]) {
    const d = { p, seed: 11, stream: 3 };
    const t = { x: backend.allocate('x', count), y: backend.allocate('y', count), d: backend.allocate('d', count) };
    backend.write(t.x, x);
    backend.write(t.d, new Float32Array(count).fill(1));
    backend.dropoutForward(count, d, t.x, t.y);
    backend.dropoutBackward(count, d, t.d, t.d);
    const [y, dx] = [await backend.read(t.y), await backend.read(t.d)];
    const kept = y.map((v) => (v !== 0 ? 1 : 0)).reduce((a, b) => a + b, 0) / count;
    // Four standard deviations of the kept fraction (at most 0.0016 here).
    assert.ok(Math.abs(kept - (1 - p)) <= 4 * Math.sqrt((p * (1 - p)) / count), `p ${p}: kept ${kept}`);
    for (let i = 0; i < count; i++) {
      const want = y[i] === 0 ? 0 : x[i] / (1 - p);
      assert.ok(Math.abs(y[i] - want) <= 1e-6 * want, `p ${p}, element ${i}: ${y[i]}, expected 0 or ${x[i] / (1 - p)}`);
      assert.equal(dx[i], y[i] === 0 ? 0 : Math.fround(1 / (1 - p)), `p ${p}, gradient ${i}`);
    }
    masks.push(Array.from(y, (v) => v !== 0));
  }
  // Another stream (layer or step) draws another mask.
  const t = backend.allocate('x, in place', count);
  backend.write(t, x);
  backend.dropoutForward(count, { p: 0.5, seed: 11, stream: 4 }, t, t);
  const other = await backend.read(t);
  const differ = masks[0].filter((k, i) => k !== (other[i] !== 0)).length / count;
  assert.ok(Math.abs(differ - 0.5) < 0.01, `masks of two streams differ at ${differ} of the elements`);
});

test('softmax cross-entropy gradient', () => {
  const logits = randomArray(4 * 6, 19, 3);
  const labels = [0, 5, 2, 2];
  const dlogits = new Float64Array(24);
  softmaxCrossEntropy(4, 6, logits, labels, dlogits);
  const f = () => softmaxCrossEntropy(4, 6, logits, labels, null);
  assertClose('dlogits', dlogits, numericGradient(f, logits), TOL);
});
