// The fast CPU backend (WebAssembly SIMD kernels split over a pool of threads) against the
// reference loops, op by op, over shapes that cross every blocking boundary of the GEMM (KC, MC,
// NC, ragged register tiles) and of the weight gradient's image chunks; on 3 threads with relaxed
// SIMD and on 1 thread with the baseline kernels. Dropout, SGD, the loss, average pooling and the
// max-pool forward give the loops' results to the bit; the products and LRN to float32 rounding.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Tensor } from '../src/backend/backend.js';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { relaxedSimdSupported } from '../src/backend/cpu/kernels.js';
import type { LrnParams } from '../src/backend/cpu/lrn.js';
import { convGeometry, poolGeometry, product } from '../src/core/geometry.js';
import { assertClose, randomArray } from './helpers.js';

const reference = new CpuBackend({ reference: true });
const fastBackends = [
  new CpuBackend({ host: nodePoolHost, threads: 3 }),
  new CpuBackend({ host: nodePoolHost, threads: 1, relaxedSimd: false }),
];
after(() => fastBackends.forEach((b) => b.dispose()));

type Values = Record<string, Float32Array>;

/**
 * Runs `op` on `be` with tensors holding `inputs` and zero-filled `outputs` (name -> size), and
 * returns every tensor's values afterwards.
 */
function run(be: CpuBackend, inputs: Values, outputs: Record<string, number>, op: (t: Record<string, Tensor>) => void): Values {
  const t: Record<string, Tensor> = {};
  for (const [name, data] of Object.entries(inputs)) {
    t[name] = be.allocate(name, data.length);
    be.write(t[name], data);
  }
  for (const [name, size] of Object.entries(outputs)) t[name] = be.allocate(name, size);
  op(t);
  return Object.fromEntries(Object.entries(t).map(([name, tensor]) => [name, Float32Array.from(cpuData(tensor))]));
}

/** Each fast backend's values next to the reference's. */
function compare(inputs: Values, outputs: Record<string, number>, op: (be: CpuBackend, t: Record<string, Tensor>) => void) {
  const want = run(reference, inputs, outputs, (t) => op(reference, t));
  return fastBackends.map((be) => ({ be, got: run(be, inputs, outputs, (t) => op(be, t)), want }));
}

const random = (size: number, seed: number, scale = 1) => Float32Array.from(randomArray(size, seed, scale));

/**
 * Sums of many products, checked relative to their own size, with a floor at their RMS: float32
 * rounding of a sum is relative to its terms, not to a result that cancels to near zero.
 */
function assertCloseSums(what: string, got: Float32Array, want: Float32Array, tol: number): void {
  const rms = Math.sqrt(want.reduce((s, v) => s + v * v, 0) / want.length);
  assertClose(what, got, want, tol, rms);
}

test('the fast backends: relaxed SIMD where this Node validates it (host_node.ts sets its flag), baseline when asked', () => {
  assert.equal(relaxedSimdSupported(), true, 'Node >= 20 with --experimental-wasm-relaxed-simd validates relaxed SIMD');
  assert.match(fastBackends[0].device, /relaxed FMA, 3 threads/);
  assert.match(fastBackends[1].device, /SIMD, 1 thread/);
  assert.equal(new CpuBackend().threads, 1, 'no host: one thread');
  assert.throws(() => new CpuBackend({ threads: 2 }), /needs a host/);
});

// [batch, C, H, W, O, kernel, stride, pad, groups]
const convCases = [
  [2, 3, 9, 11, 4, 3, 1, 1, 1], // odd sizes
  [1, 2, 10, 7, 4, 3, 2, 2, 2], // padding wider than the reach, groups
  [2, 3, 23, 23, 5, 11, 4, 0, 1], // conv1-like
  [1, 4, 8, 8, 6, 5, 3, 2, 2],
  [3, 5, 5, 5, 3, 1, 1, 0, 1], // 1x1
  [1, 2, 6, 6, 2, 5, 1, 4, 1],
  [9, 6, 7, 7, 10, 3, 1, 1, 2], // more images than the weight gradient's chunks
  [2, 64, 30, 30, 136, 3, 1, 1, 1], // patch 576 > KC, 900 pixels > NC, 136 outputs > MC
  [3, 4, 40, 40, 20, 5, 1, 2, 1], // one image's pixels > KC in the weight gradient
];

for (const [n, c, h, w, o, k, stride, pad, groups] of convCases) {
  const g = convGeometry(n, c, h, w, o, k, stride, pad, groups, 'case');
  test(`conv: fast equals the loops, ${n}x${c}x${h}x${w} -> ${o}, k${k} s${stride} p${pad} g${groups}`, () => {
    const ySize = n * o * g.outHeight * g.outWidth;
    const wSize = (o * c * k * k) / groups;
    const inputs = { x: random(n * c * h * w, 1), w: random(wSize, 2), b: random(o, 3), dy: random(ySize, 4), dw: new Float32Array(wSize).fill(0.5), db: new Float32Array(o).fill(0.25) };
    const results = compare(inputs, { y: ySize, dx: n * c * h * w }, (be, t) => {
      be.conv2dForward(g, t.x, t.w, t.b, t.y);
      be.conv2dBackwardData(g, t.dy, t.w, t.dx);
      be.conv2dBackwardFilter(g, t.x, t.dy, t.dw, t.db); // accumulates into 0.5 and 0.25
    });
    for (const { be, got, want } of results) {
      for (const key of ['y', 'dx', 'dw']) assertCloseSums(`${be.device} ${key}`, got[key], want[key], 1e-5);
      assert.deepEqual(got.db, want.db, `${be.device} db: summed in the loops' order`);
    }
  });
}

test('conv + ReLU: the ReLU that follows in place folds into the conv; any other op runs the conv first', () => {
  const g = convGeometry(2, 3, 9, 9, 8, 3, 1, 1, 1);
  const ySize = 2 * 8 * 81;
  const inputs = { x: random(2 * 3 * 81, 5), w: random(8 * 27, 6), b: random(8, 7) };
  const results = compare(inputs, { y: ySize, y2: ySize, z: ySize }, (be, t) => {
    be.conv2dForward(g, t.x, t.w, t.b, t.y);
    be.reluForward(ySize, t.y, t.y); // folded
    be.conv2dForward(g, t.x, t.w, t.b, t.y2);
    be.reluForward(ySize, t.y2, t.z); // not in place: the conv runs first, then this ReLU
  });
  for (const { be, got, want } of results) {
    assertCloseSums(`${be.device} conv + ReLU`, got.y, want.y, 1e-5);
    assertCloseSums(`${be.device} conv, then ReLU elsewhere`, got.z, want.z, 1e-5);
    assertCloseSums(`${be.device} conv alone`, got.y2, want.y2, 1e-5);
    assert.ok(got.y.every((v) => v >= 0) && got.y2.some((v) => v < 0));
  }
});

// [batch, in, out]
for (const [N, I, O] of [[3, 5, 7], [133, 300, 530], [32, 384, 512], [2, 1100, 10]]) {
  test(`linear: fast equals the loops, ${N} x ${I} -> ${O} (bias, fused ReLU, accumulated gradients)`, () => {
    const s = { batch: N, inFeatures: I, outFeatures: O };
    const inputs = { x: random(N * I, 8), w: random(O * I, 9, 0.1), b: random(O, 10), dy: random(N * O, 11), dw: new Float32Array(O * I).fill(0.5), db: new Float32Array(O).fill(0.25) };
    const results = compare(inputs, { y: N * O, r: N * O, dx: N * I }, (be, t) => {
      be.linearForward(s, t.x, t.w, t.b, t.y);
      be.linearForward(s, t.x, t.w, t.b, t.r);
      be.reluForward(N * O, t.r, t.r);
      be.linearBackwardData(s, t.dy, t.w, t.dx);
      be.linearBackwardParams(s, t.x, t.dy, t.dw, t.db);
    });
    for (const { be, got, want } of results) {
      for (const key of ['y', 'r', 'dx', 'dw']) assertCloseSums(`${be.device} ${key}`, got[key], want[key], 1e-5);
      assert.deepEqual(got.db, want.db, `${be.device} db: summed in the loops' order`);
    }
  });
}

const lrnCases: { shape: number[]; p: LrnParams }[] = [
  { shape: [2, 7, 2, 3], p: { size: 5, alpha: 1e-2, beta: 0.75, k: 2, alphaDividedBySize: false } },
  { shape: [3, 48, 28, 28], p: { size: 5, alpha: 1e-4, beta: 0.75, k: 2, alphaDividedBySize: false } }, // the mini's LRN1
  { shape: [1, 3, 5, 5], p: { size: 7, alpha: 5e-2, beta: 0.75, k: 1, alphaDividedBySize: true } }, // window wider than channels
  { shape: [2, 6, 3, 3], p: { size: 4, alpha: 3e-2, beta: 0.6, k: 1.5, alphaDividedBySize: true } }, // even window; beta: the loops
];

for (const { shape, p } of lrnCases) {
  test(`LRN: fast equals the loops, ${shape.join('x')} size ${p.size} beta ${p.beta}`, () => {
    const size = product(shape);
    const results = compare({ x: random(size, 12, 3), dy: random(size, 13) }, { y: size, dx: size }, (be, t) => {
      be.lrnForward(p, shape, t.x, t.y);
      be.lrnBackward(p, shape, t.x, t.y, t.dy, t.dx);
    });
    for (const { be, got, want } of results) {
      assertClose(`${be.device} y`, got.y, want.y, 1e-5);
      assertClose(`${be.device} dx`, got.dx, want.dx, 1e-4);
    }
  });
}

// [batch, C, H, W, size, stride, pad, rounding]
for (const [n, c, h, w, size, stride, pad, rounding] of [[2, 3, 13, 13, 3, 2, 0, 'floor'], [1, 5, 8, 11, 3, 2, 1, 'ceil'], [3, 4, 28, 28, 3, 2, 0, 'floor'], [1, 2, 6, 7, 2, 2, 0, 'ceil']] as const) {
  test(`max-pool: fast equals the loops, ${n}x${c}x${h}x${w} size ${size} stride ${stride} pad ${pad} ${rounding}`, () => {
    const g = poolGeometry(n, c, h, w, size, stride, pad, rounding);
    // Few distinct values: ties decide which element gets the gradient.
    const x = Float32Array.from(randomArray(n * c * h * w, 14), (v) => Math.round(v * 2));
    const ySize = n * c * g.outHeight * g.outWidth;
    const results = compare({ x, dy: random(ySize, 15) }, { y: ySize, dx: x.length, indices: ySize }, (be, t) => {
      be.maxPoolForward(g, t.x, t.y, t.indices);
      be.maxPoolBackward(g, t.x, t.indices, t.dy, t.dx);
    });
    for (const { be, got, want } of results) {
      assert.deepEqual(got.y, want.y, `${be.device} y`);
      assert.deepEqual(got.dx, want.dx, `${be.device} dx`);
    }
  });
}

test('adaptive average pooling, ReLU, dropout, SGD and the loss: fast equals the loops to the bit', () => {
  const ag = { planes: 6, inHeight: 13, inWidth: 13, outHeight: 6, outWidth: 6 };
  const count = 40_003; // more than two chunks, odd
  const [batch, classes] = [37, 11];
  const drop = { p: 0.3, seed: 7, stream: 12345 };
  const inputs = {
    a: random(6 * 169, 16), ady: random(6 * 36, 17),
    x: random(count, 18), ry: random(count, 19), rdy: random(count, 20),
    w: random(count, 21), g: random(count, 22), v: random(count, 23), w2: random(count, 21), v2: random(count, 23),
    logits: random(batch * classes, 24, 3), labels: Float32Array.from({ length: batch }, (_, i) => (i * 7) % classes),
  };
  const results = compare(inputs, { ay: 6 * 36, adx: 6 * 169, r: count, rdx: count, d: count, ddx: count, loss: 1, dlogits: batch * classes }, (be, t) => {
    be.adaptiveAvgPoolForward(ag, t.a, t.ay);
    be.adaptiveAvgPoolBackward(ag, t.ady, t.adx);
    be.reluForward(count, t.x, t.r);
    be.reluBackward(count, t.ry, t.rdy, t.rdx);
    be.dropoutForward(count, drop, t.x, t.d);
    be.dropoutBackward(count, drop, t.rdy, t.ddx);
    be.sgdUpdate(count, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, form: 'paper' }, t.w, t.g, t.v);
    be.sgdUpdate(count, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, form: 'pytorch' }, t.w2, t.g, t.v2);
    be.softmaxCrossEntropy(batch, classes, t.logits, t.labels, t.loss, t.dlogits);
  });
  for (const { be, got, want } of results) {
    for (const key of ['ay', 'adx', 'r', 'rdx', 'd', 'ddx', 'w', 'v', 'w2', 'v2', 'loss', 'dlogits']) {
      assert.deepEqual(got[key], want[key], `${be.device} ${key}`);
    }
  }
});

// Plane counts that the tasks do not divide: each task takes ceil(planes / (4 threads)) planes,
// so the last task is short, and the task count must round up to reach it.
for (const planes of [13, 37]) {
  test(`adaptive average pooling over ${planes} planes (a short last task): fast equals the loops to the bit`, () => {
    const ag = { planes, inHeight: 7, inWidth: 5, outHeight: 3, outWidth: 2 };
    const results = compare({ x: random(planes * 35, 40 + planes), dy: random(planes * 6, 41 + planes) }, { y: planes * 6, dx: planes * 35 }, (be, t) => {
      be.adaptiveAvgPoolForward(ag, t.x, t.y);
      be.adaptiveAvgPoolBackward(ag, t.dy, t.dx);
    });
    for (const { be, got, want } of results) {
      assert.deepEqual(got.y, want.y, `${be.device}: pooled outputs of ${planes} planes`);
      assert.deepEqual(got.dx, want.dx, `${be.device}: input gradients of ${planes} planes`);
    }
  });
}

test('NaN, infinities and -0 through ReLU, dropout and max-pool: the loops\' results to the bit (PyTorch\'s rules)', () => {
  const special = [Number.NaN, Infinity, -Infinity, -0, 0, -1.5, 2.5, 1e-40];
  const values = (size: number, seed: number) => Float32Array.from(randomArray(size, seed), (v, i) => (i % 3 === 0 ? special[(i / 3) % special.length] : v));
  const count = 9_999;
  const drop = { p: 0.4, seed: 5, stream: 77 };
  // Windows holding one NaN, several, or none; ties of -0 and 0.
  const g = poolGeometry(2, 3, 13, 13, 3, 2, 0, 'floor');
  const px = values(2 * 3 * 169, 31);
  const ySize = 2 * 3 * 36;
  const results = compare(
    { x: values(count, 32), y: values(count, 33), dy: values(count, 34), px, pdy: random(ySize, 35) },
    { r: count, rdx: count, d: count, ddx: count, py: ySize, pdx: px.length, pix: ySize },
    (be, t) => {
      be.reluForward(count, t.x, t.r);
      be.reluBackward(count, t.y, t.dy, t.rdx);
      be.dropoutForward(count, drop, t.x, t.d);
      be.dropoutBackward(count, drop, t.dy, t.ddx);
      be.maxPoolForward(g, t.px, t.py, t.pix);
      be.maxPoolBackward(g, t.px, t.pix, t.pdy, t.pdx);
    },
  );
  for (const { be, got, want } of results) {
    for (const key of ['r', 'rdx', 'd', 'ddx', 'py', 'pdx']) assert.deepEqual(got[key], want[key], `${be.device} ${key}`);
    assert.ok(got.py.some(Number.isNaN) && got.d.some(Number.isNaN) && got.r.some(Number.isNaN));
  }
});
