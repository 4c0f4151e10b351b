// Augmentation and statistics on synthetic images: crop geometry, mirroring, the ten views,
// mean subtraction, the eigensolver, and PCA lighting's distribution over many draws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  augmentBatch, augmentInto, centreView, lightingColour, makePlan, cropGeometry, tenViews, trainDraw, PARAMS_PER_CROP,
} from '../src/data/augment.js';
import { MemoryDataset, sharedBytes } from '../src/data/dataset.js';
import { computeStats, symmetricEigen, type ImageStats } from '../src/data/stats.js';
import { Rng } from '../src/rng/hash.js';
import { cropImages } from '../src/backend/cpu/crops.js';

/** Images whose pixel (c, y, x) of image n is (n + 7c + 3y + x) mod 256: positions are legible. */
function positional(count: number, shape: [number, number, number]): MemoryDataset {
  const [C, H, W] = shape;
  const images = sharedBytes(count * C * H * W);
  let k = 0;
  for (let n = 0; n < count; n++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) images[k++] = (n + 7 * c + 3 * y + x) & 255;
  return new MemoryDataset('positional', 'train', shape, ['a', 'b'], ['a', 'b'], images, Int32Array.from({ length: count }, (_, n) => n % 2));
}

test('symmetricEigen: A v = lambda v, orthonormal vectors, values descending', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const m = Array.from({ length: 3 }, () => [rng.normal(), rng.normal(), rng.normal()]);
    const a = m.map((row, i) => row.map((_, j) => m[i][j] + m[j][i]));
    const { values, vectors } = symmetricEigen(a);
    assert.ok(values[0] >= values[1] && values[1] >= values[2]);
    for (let i = 0; i < 3; i++) {
      for (let r = 0; r < 3; r++) {
        const av = a[r][0] * vectors[i][0] + a[r][1] * vectors[i][1] + a[r][2] * vectors[i][2];
        assert.ok(Math.abs(av - values[i] * vectors[i][r]) < 1e-10, `trial ${trial}: (A v)_${r} = ${av}, lambda v = ${values[i] * vectors[i][r]}`);
      }
      for (let j = 0; j < 3; j++) {
        const d = vectors[i].reduce((s, v, k) => s + v * vectors[j][k], 0);
        assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-12);
      }
    }
  }
});

test('computeStats: mean image, channel means and covariance match direct formulas', () => {
  const shape: [number, number, number] = [3, 4, 5];
  const set = positional(6, shape);
  const s = computeStats(set);
  const pixel = new Uint8Array(60);
  const mean = new Float64Array(60);
  const values: number[][] = [];
  for (let n = 0; n < 6; n++) {
    set.readImage(n, pixel);
    pixel.forEach((v, k) => (mean[k] += v / 6));
    for (let p = 0; p < 20; p++) values.push([pixel[p], pixel[20 + p], pixel[40 + p]].map((v) => v / 255));
  }
  mean.forEach((m, k) => assert.ok(Math.abs(s.meanImage[k] - m) < 1e-4));
  const mu = [0, 1, 2].map((c) => values.reduce((a, v) => a + v[c], 0) / values.length);
  mu.forEach((m, c) => assert.ok(Math.abs(s.channelMean[c] / 255 - m) < 1e-12));
  for (let c = 0; c < 3; c++) {
    for (let d = 0; d < 3; d++) {
      const cov = values.reduce((a, v) => a + (v[c] - mu[c]) * (v[d] - mu[d]), 0) / values.length;
      assert.ok(Math.abs(s.covariance[c][d] - cov) < 1e-12, `cov[${c}][${d}] ${s.covariance[c][d]} vs ${cov}`);
    }
  }
});

const stats = (shape: [number, number, number]): ImageStats => computeStats(positional(4, shape));

test('crop geometry and mirroring: the patch at (x, y), rows reversed when mirrored', () => {
  const shape: [number, number, number] = [3, 12, 10];
  const set = positional(1, shape);
  const src = new Uint8Array(360);
  set.readImage(0, src);
  const plan = makePlan(shape, computeStats(set), { mode: 'centre', seed: 1, crop: 6, mean: 'none' });
  const out = new Float32Array(3 * 6 * 6);
  for (const flip of [false, true]) {
    augmentInto(src, 0, plan, { x: 3, y: 5, flip }, [0, 0, 0], out, 0);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 6; x++) {
          const sx = 3 + (flip ? 5 - x : x);
          assert.equal(out[c * 36 + y * 6 + x], (7 * c + 3 * (5 + y) + sx) & 255, `flip ${flip} c ${c} y ${y} x ${x}`);
        }
      }
    }
  }
});

test('the centre and ten views of 227 in 256: corners, centre at 14, then the five mirrored', () => {
  const shape = [3, 256, 256];
  assert.deepEqual(centreView(shape, 227), { x: 14, y: 14, flip: false });
  const five = [[0, 0], [29, 0], [0, 29], [29, 29], [14, 14]];
  assert.deepEqual(tenViews(shape, 227), [...five.map(([x, y]) => ({ x, y, flip: false })), ...five.map(([x, y]) => ({ x, y, flip: true }))]);
  assert.deepEqual(tenViews([1, 32, 40], 28).slice(0, 5).map((v) => [v.x, v.y]), [[0, 0], [12, 0], [0, 4], [12, 4], [6, 2]]);
});

test('training draws: deterministic in (seed, epoch, index), in range, mirrored about half the time', () => {
  const plan = makePlan([3, 256, 256], stats([3, 256, 256]), { mode: 'train', seed: 5 });
  let flips = 0;
  const xs = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const d = trainDraw(plan, 3, i);
    assert.deepEqual(trainDraw(plan, 3, i), d);
    assert.ok(d.view.x >= 0 && d.view.x <= 29 && d.view.y >= 0 && d.view.y <= 29);
    xs.add(d.view.x);
    flips += d.view.flip ? 1 : 0;
  }
  assert.equal(xs.size, 30, 'every horizontal offset 0..29 occurs');
  assert.ok(flips > 900 && flips < 1100, `${flips} of 2000 mirrored`);
  assert.notDeepEqual(trainDraw(plan, 4, 0), trainDraw(plan, 3, 0));
  assert.notDeepEqual(trainDraw({ ...plan, seed: 6 }, 3, 0), trainDraw(plan, 3, 0));
});

test('mean subtraction: the mean image at the source position, channel means, or none; times scale', () => {
  const shape: [number, number, number] = [3, 12, 10];
  const set = positional(4, shape);
  const s = computeStats(set);
  const src = new Uint8Array(360);
  set.readImage(2, src);
  const out = new Float32Array(3 * 36);
  const view = { x: 2, y: 4, flip: true };
  for (const mean of ['image', 'channel', 'none'] as const) {
    const plan = makePlan(shape, s, { mode: 'centre', seed: 1, crop: 6, mean, scale: 0.5 });
    augmentInto(src, 0, plan, view, [1, 2, 3], out, 0);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 6; x++) {
          const at = c * 120 + (4 + y) * 10 + 2 + (5 - x);
          const m = mean === 'image' ? s.meanImage[at] : mean === 'channel' ? Math.fround(s.channelMean[c]) : 0;
          assert.equal(out[c * 36 + y * 6 + x], Math.fround((src[at] - m + c + 1) * 0.5));
        }
      }
    }
  }
});

test('PCA lighting: added colour has mean ~0 and, in the eigenbasis, covariance ~ 0.01 * lambda_i^2', () => {
  const s = stats([3, 8, 8]);
  // A colour covariance like ImageNet's (pixels / 255): one strong luminance component.
  const { values, vectors } = symmetricEigen([[0.07, 0.06, 0.05], [0.06, 0.065, 0.055], [0.05, 0.055, 0.07]]);
  const plan = makePlan(s.shape, { ...s, eigenvalues: values, eigenvectors: vectors }, { mode: 'train', seed: 9, crop: 4 });
  const N = 40000;
  const sum = [0, 0, 0];
  const sq = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < N; i++) {
    const colour = lightingColour(plan, trainDraw(plan, 1, i).alpha).map((v) => v / 255);
    const z = vectors.map((p) => p[0] * colour[0] + p[1] * colour[1] + p[2] * colour[2]);
    for (let a = 0; a < 3; a++) {
      sum[a] += z[a];
      for (let b = 0; b < 3; b++) sq[a][b] += z[a] * z[b];
    }
  }
  for (let a = 0; a < 3; a++) {
    const sd = 0.1 * values[a];
    assert.ok(Math.abs(sum[a] / N) < (5 * sd) / Math.sqrt(N), `component ${a}: mean ${sum[a] / N}, sd ${sd}`);
    for (let b = 0; b < 3; b++) {
      const expected = a === b ? 0.01 * values[a] ** 2 : 0;
      const tol = a === b ? 0.05 * expected : 0.05 * 0.01 * values[a] * values[b];
      assert.ok(Math.abs(sq[a][b] / N - expected) <= tol, `cov[${a}][${b}] = ${sq[a][b] / N}, expected ${expected}`);
    }
  }
});

test('a uint8 batch (stored images and params) finished by cropImages equals the float batch', () => {
  const shape: [number, number, number] = [3, 20, 20];
  const set = positional(5, shape);
  const s = computeStats(set);
  for (const mode of ['train', 'ten-crop'] as const) {
    const options = { mode, seed: 4, crop: 16 };
    const floatPlan = makePlan(shape, s, options);
    const bytePlan = makePlan(shape, s, { ...options, output: 'uint8' });
    const views = mode === 'train' ? 1 : 10;
    const crops = 5 * views;
    const size = crops * 3 * 16 * 16;
    const a = { input: new Float32Array(size), pixels: new Uint8Array(0), params: new Float32Array(crops * PARAMS_PER_CROP) };
    const b = { input: new Float32Array(0), pixels: new Uint8Array(5 * 3 * 20 * 20), params: new Float32Array(crops * PARAMS_PER_CROP) };
    augmentBatch(set, floatPlan, 2, [4, 0, 3, 1, 2], a);
    augmentBatch(set, bytePlan, 2, [4, 0, 3, 1, 2], b);
    assert.deepEqual(b.params, a.params);
    const finished = new Float32Array(size);
    cropImages(cropGeometry(bytePlan, 5), b.pixels, b.params, bytePlan.mean, finished);
    assert.deepEqual(Buffer.from(finished.buffer), Buffer.from(a.input.buffer), mode);
  }
});
