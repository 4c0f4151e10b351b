// Every other WebGPU op against the CPU op: ceil-rounded and overlapping pools with ties,
// average pooling, both LRN forms, ReLU, dropout (masks identical bit for bit), fill, SGD,
// softmax cross-entropy and the uint8 crop path; each again under a 4 KiB binding limit, and
// under a 16-workgroup limit per grid dimension (2-D grids); then the machinery: views, partial
// reads, buffers over maxBufferSize, shader errors, a lost device. The GEMM-backed ops:
// test/webgpu_gemm_ops.test.ts; the closeness rule: test/webgpu_harness.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, CropGeometry } from '../src/backend/backend.js';
import type { LrnParams } from '../src/backend/cpu/lrn.js';
import { GpuError } from '../src/backend/webgpu/index.js';
import { poolGeometry } from '../src/core/geometry.js';
import { Rng } from '../src/rng/hash.js';
import { Net } from '../src/nn/net.js';
import { micro, randomArray } from './helpers.js';
import { assertNear, cpu, f32, gpu, open, parity, skip, split, type Data } from './webgpu_harness.js';

// ---- pooling ------------------------------------------------------------------------------

const POOL_CASES = [
  { name: '3x9x9, 3/2', g: poolGeometry(2, 3, 9, 9, 3, 2) },
  { name: '3x10x10, 3/2 ceil (overhanging windows)', g: poolGeometry(2, 3, 10, 10, 3, 2, 0, 'ceil') },
  { name: '2x8x7, 2/2 pad 1', g: poolGeometry(1, 2, 8, 7, 2, 2, 1) },
  { name: '4x7x7, 3/1', g: poolGeometry(2, 4, 7, 7, 3, 1) },
  { name: 'paper pool1, batch 1', g: poolGeometry(1, 96, 55, 55, 3, 2) },
  { name: 'paper pool2, batch 1', g: poolGeometry(1, 256, 27, 27, 3, 2) },
  { name: 'paper pool5, batch 2', g: poolGeometry(2, 256, 13, 13, 3, 2) },
];

async function poolParity(be: Backend, c: (typeof POOL_CASES)[number], tag = ''): Promise<void> {
  const g = c.g;
  const xs = g.batch * g.channels * g.inHeight * g.inWidth;
  const ys = g.batch * g.channels * g.outHeight * g.outWidth;
  for (const [kind, x] of [
    ['distinct', f32(xs, 50)],
    // Values from {0, 1, 2}: many ties, which the first maximum must win on both sides.
    ['ties', Float32Array.from(randomArray(xs, 51), (v) => Math.min(2, Math.max(0, Math.round(v + 1))))],
  ] as const) {
    const d: Data = { x, y: f32(ys, 52), dy: f32(ys, 53), dx: f32(xs, 54), indices: new Float32Array(ys) };
    await parity(be, `${tag}maxPoolForward ${c.name} (${kind})`, d, ['y'], (b, t) => b.maxPoolForward(g, t.x, t.y, t.indices), 0);
    // The backward pass routes by what its forward pass recorded in `indices`.
    await parity(be, `${tag}maxPoolBackward ${c.name} (${kind})`, d, ['dx'], (b, t) => {
      b.maxPoolForward(g, t.x, t.y, t.indices);
      b.maxPoolBackward(g, t.x, t.indices, t.dy, t.dx);
    }, 0);
  }
}

for (const c of POOL_CASES) {
  test(`max-pool ${c.name}: forward and backward equal the CPU's exactly`, { skip }, async () => {
    await poolParity(gpu!, c);
  });
}

const AVG_CASES = [
  { name: '13x13 -> 6x6', g: { planes: 6, inHeight: 13, inWidth: 13, outHeight: 6, outWidth: 6 } },
  { name: '5x7 -> 3x2', g: { planes: 4, inHeight: 5, inWidth: 7, outHeight: 3, outWidth: 2 } },
  { name: '6x6 -> 6x6 (identity)', g: { planes: 3, inHeight: 6, inWidth: 6, outHeight: 6, outWidth: 6 } },
  { name: '2x3 -> 6x6 (upsampling)', g: { planes: 2, inHeight: 2, inWidth: 3, outHeight: 6, outWidth: 6 } },
  { name: 'torchvision 256x6x6, batch 2', g: { planes: 512, inHeight: 6, inWidth: 6, outHeight: 6, outWidth: 6 } },
];

async function avgParity(be: Backend, c: (typeof AVG_CASES)[number], tag = ''): Promise<void> {
  const g = c.g;
  const xs = g.planes * g.inHeight * g.inWidth;
  const ys = g.planes * g.outHeight * g.outWidth;
  const d: Data = { x: f32(xs, 60), y: f32(ys, 61), dy: f32(ys, 62), dx: f32(xs, 63) };
  await parity(be, `${tag}adaptiveAvgPoolForward ${c.name}`, d, ['y'], (b, t) => b.adaptiveAvgPoolForward(g, t.x, t.y));
  await parity(be, `${tag}adaptiveAvgPoolBackward ${c.name}`, d, ['dx'], (b, t) => b.adaptiveAvgPoolBackward(g, t.dy, t.dx));
}

for (const c of AVG_CASES) {
  test(`adaptive average pool ${c.name}: forward and backward equal the CPU's`, { skip }, async () => {
    await avgParity(gpu!, c);
  });
}

test('pools under a 4 KiB binding limit: chunks of the batch and of the planes', { skip }, async () => {
  await poolParity(split!, { name: 'chunked 3x9x9, 3/2', g: poolGeometry(5, 3, 9, 9, 3, 2) }, 'split ');
  await avgParity(split!, { name: 'chunked 13x13 -> 6x6', g: { planes: 11, inHeight: 13, inWidth: 13, outHeight: 6, outWidth: 6 } }, 'split ');
});

// ---- LRN ----------------------------------------------------------------------------------

const PAPER_LRN: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 2, alphaDividedBySize: false };
const LRN_CASES: { name: string; p: LrnParams; shape: [number, number, number, number]; scale: number }[] = [
  { name: 'paper (n 5, alpha 1e-4, k 2), 7 channels', p: PAPER_LRN, shape: [2, 7, 5, 3], scale: 30 },
  { name: 'micro (n 3, alpha 0.05)', p: { size: 3, alpha: 0.05, beta: 0.75, k: 2, alphaDividedBySize: false }, shape: [2, 4, 3, 3], scale: 2 },
  { name: 'caffe (alpha / n, k 1)', p: { size: 5, alpha: 1e-4, beta: 0.75, k: 1, alphaDividedBySize: true }, shape: [1, 9, 4, 4], scale: 30 },
  { name: 'even size 4, beta 0.6 (pow path)', p: { size: 4, alpha: 0.01, beta: 0.6, k: 1.5, alphaDividedBySize: false }, shape: [2, 6, 3, 5], scale: 3 },
  { name: 'size larger than channels', p: { size: 7, alpha: 0.02, beta: 0.75, k: 2, alphaDividedBySize: false }, shape: [1, 3, 4, 4], scale: 3 },
  { name: 'paper lrn1, batch 1', p: PAPER_LRN, shape: [1, 96, 55, 55], scale: 30 },
  { name: 'paper lrn2, batch 1', p: PAPER_LRN, shape: [1, 256, 27, 27], scale: 30 },
];

async function lrnParity(be: Backend, c: (typeof LRN_CASES)[number], tag = ''): Promise<void> {
  const n = c.shape.reduce((a, b) => a * b);
  // y is the forward output, as the Net passes it to the backward op.
  const x = f32(n, 70, c.scale);
  const y = new Float32Array(n);
  const tx = cpu.allocate('x', n);
  const ty = cpu.allocate('y', n);
  cpu.write(tx, x);
  cpu.lrnForward(c.p, c.shape, tx, ty);
  y.set(await cpu.read(ty));
  const d: Data = { x, y, out: f32(n, 71), dy: f32(n, 72), dx: f32(n, 73) };
  await parity(be, `${tag}lrnForward ${c.name}`, d, ['out'], (b, t) => b.lrnForward(c.p, c.shape, t.x, t.out));
  await parity(be, `${tag}lrnBackward ${c.name}`, d, ['dx'], (b, t) => b.lrnBackward(c.p, c.shape, t.x, t.y, t.dy, t.dx));
}

for (const c of LRN_CASES) {
  test(`LRN ${c.name}: forward and backward equal the CPU's`, { skip }, async () => {
    await lrnParity(gpu!, c);
  });
}

test('LRN under a 4 KiB binding limit: chunks of the batch', { skip }, async () => {
  await lrnParity(split!, { name: 'chunked', p: PAPER_LRN, shape: [6, 5, 7, 3], scale: 30 }, 'split ');
});

// ---- element-wise, loss, SGD --------------------------------------------------------------

async function elementwiseParity(be: Backend, count: number, tag = ''): Promise<void> {
  const size = count + 100; // ops must leave elements past `count` alone
  const d: Data = { x: f32(size, 80), y: f32(size, 81), dy: f32(size, 82), dx: f32(size, 83) };
  await parity(be, `${tag}reluForward ${count}`, d, ['y'], (b, t) => b.reluForward(count, t.x, t.y), 0);
  await parity(be, `${tag}reluForward in place ${count}`, d, ['x'], (b, t) => b.reluForward(count, t.x, t.x), 0);
  await parity(be, `${tag}reluBackward ${count}`, d, ['dx'], (b, t) => b.reluBackward(count, t.y, t.dy, t.dx), 0);
  await parity(be, `${tag}reluBackward in place ${count}`, d, ['dy'], (b, t) => b.reluBackward(count, t.y, t.dy, t.dy), 0);
  for (const p of [0.5, 0.3]) {
    const drop = { p, seed: 1234567, stream: 0x9e3779b9 };
    const tol = p === 0.5 ? 0 : 1e-6; // scale 2 is exact; 1/0.7 rounds once more on the GPU
    await parity(be, `${tag}dropoutForward p=${p} ${count}`, d, ['y'], (b, t) => b.dropoutForward(count, drop, t.x, t.y), tol);
    await parity(be, `${tag}dropoutForward in place p=${p} ${count}`, d, ['x'], (b, t) => b.dropoutForward(count, drop, t.x, t.x), tol);
    await parity(be, `${tag}dropoutBackward p=${p} ${count}`, d, ['dx'], (b, t) => b.dropoutBackward(count, drop, t.dy, t.dx), tol);
    await parity(be, `${tag}dropoutBackward in place p=${p} ${count}`, d, ['dy'], (b, t) => b.dropoutBackward(count, drop, t.dy, t.dy), tol);
  }
  await parity(be, `${tag}fill ${count}`, d, ['x'], (b, t) => b.fill(t.x, 0.25, count), 0);
  for (const form of ['paper', 'pytorch'] as const) {
    const h = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, form };
    await parity(be, `${tag}sgdUpdate ${form} ${count}`, { w: f32(size, 84), g: f32(size, 85), v: f32(size, 86, 0.01) }, ['w', 'v'], (b, t) => b.sgdUpdate(count, h, t.w, t.g, t.v));
    // Gradients scaled up 1024x by loss scaling, scaled back by the update.
    const scaled = { ...h, gradScale: 1 / 1024 };
    await parity(be, `${tag}sgdUpdate ${form} gradScale ${count}`, { w: f32(size, 84), g: f32(size, 85, 1024), v: f32(size, 86, 0.01) }, ['w', 'v'], (b, t) => b.sgdUpdate(count, scaled, t.w, t.g, t.v));
  }
  // The overflow check: untouched when every value is finite, 1 for an inf or a NaN anywhere.
  const flagged = async (b: Backend, x: Float32Array): Promise<number> => {
    const t = b.allocate('x', x.length);
    const flag = b.allocate('flag', 1);
    b.write(t, x);
    b.flagNonFinite(count, t, flag);
    return (await b.read(flag))[0];
  };
  const finite = f32(size, 87);
  for (const b of [cpu, be]) {
    assert.equal(await flagged(b, finite), 0, `${tag}flagNonFinite ${b.name} ${count}: all finite`);
    for (const [bad, at] of [[Infinity, count - 1], [-Infinity, 0], [NaN, count >> 1], [Infinity, count]] as const) {
      const x = finite.slice();
      x[at] = bad;
      const want = at < count ? 1 : 0; // past `count` is not looked at
      assert.equal(await flagged(b, x), want, `${tag}flagNonFinite ${b.name} ${count}: ${bad} at ${at}`);
    }
  }
}

test('ReLU, dropout (identical masks), fill and SGD over odd counts, in place and not', { skip }, async () => {
  for (const count of [1, 255, 257, 1000]) await elementwiseParity(gpu!, count);
});

test('dropout masks are the CPU masks bit for bit (zeros in the same places)', { skip }, async () => {
  const count = 100_003;
  const drop = { p: 0.5, seed: 42, stream: 7 };
  const ones = new Float32Array(count).fill(1);
  const t = gpu!.allocate('ones', count);
  gpu!.write(t, ones);
  gpu!.dropoutForward(count, drop, t, t);
  const got = await gpu!.read(t);
  const c = cpu.allocate('ones', count);
  cpu.write(c, ones);
  cpu.dropoutForward(count, drop, c, c);
  const want = await cpu.read(c);
  let kept = 0;
  for (let i = 0; i < count; i++) {
    assert.equal(got[i], want[i], `element ${i}`);
    if (want[i] !== 0) kept++;
  }
  assert.ok(Math.abs(kept / count - 0.5) < 0.01, `kept fraction ${kept / count}`);
});

test('element-wise ops under a 4 KiB binding limit: chunks of elements', { skip }, async () => {
  await elementwiseParity(split!, 3000, 'split ');
});

test('softmax cross-entropy: mean loss and dlogits equal the CPU', { skip }, async () => {
  for (const [batch, classes] of [
    [3, 10],
    [1, 1],
    [300, 7], // more rows than the kernel's threads
    [2, 1000],
  ]) {
    const labels = Float32Array.from({ length: batch }, (_, i) => (i * 7 + 3) % classes);
    const d: Data = { logits: f32(batch * classes, 90, 3), labels, loss: new Float32Array(1), dl: f32(batch * classes, 91) };
    const what = `softmaxCrossEntropy ${batch}x${classes}`;
    await parity(gpu!, what, d, ['loss', 'dl'], (b, t) => b.softmaxCrossEntropy(batch, classes, t.logits, t.labels, t.loss, t.dl));
    await parity(gpu!, `${what} (gradScale 2^15)`, d, ['loss', 'dl'], (b, t) => b.softmaxCrossEntropy(batch, classes, t.logits, t.labels, t.loss, t.dl, 2 ** 15));
    await parity(gpu!, `${what} (loss only)`, d, ['loss'], (b, t) => b.softmaxCrossEntropy(batch, classes, t.logits, t.labels, t.loss, null));
  }
});

// ---- network input from uint8 images ------------------------------------------------------

interface CropCase {
  name: string;
  g: CropGeometry;
}

const CROP_CASES: CropCase[] = [
  // 3 x 35 x 35 = 3,675 bytes: images start mid-word, so the byte unpacking is exercised.
  { name: 'RGB 35x35, ten 31-pixel views', g: { images: 3, views: 10, channels: 3, height: 35, width: 35, crop: 31, scale: [1 / 58.4, 1 / 57.1, 1 / 57.4] } }, // ImageNet's std per channel
  { name: 'grey 28x28, one view each', g: { images: 5, views: 1, channels: 1, height: 28, width: 28, crop: 28, scale: [0.5] } },
  { name: 'RGB 9x13 (not square), 7-pixel crops', g: { images: 4, views: 2, channels: 3, height: 9, width: 13, crop: 7, scale: [1, 2, 0.25] } },
];

async function cropParity(be: Backend, c: CropCase, seed: number): Promise<void> {
  const g = c.g;
  const imageSize = g.channels * g.height * g.width;
  const crops = g.images * g.views;
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: g.images * imageSize }, () => Math.floor(rng.uniform() * 256));
  const params = new Float32Array(crops * 6);
  for (let k = 0; k < crops; k++) {
    const colour = [0, 1, 2].map((ch) => (ch < g.channels ? Math.fround(20 * (rng.uniform() - 0.5)) : 0));
    params.set([Math.floor(rng.uniform() * (g.width - g.crop + 1)), Math.floor(rng.uniform() * (g.height - g.crop + 1)), k % 2, ...colour], k * 6);
  }
  const mean = f32(imageSize, seed + 1, 128);
  const results: Float32Array[] = [];
  for (const b of [cpu, be]) {
    const m = b.allocate(`${c.name}.mean`, imageSize);
    b.write(m, mean);
    const out = b.allocate(`${c.name}.out`, crops * g.channels * g.crop * g.crop + 5);
    b.writeCrops(g, pixels, params, m, out);
    results.push(await b.read(out));
  }
  assertNear(`writeCrops ${c.name}`, results[1], results[0]);
}

for (const [i, c] of CROP_CASES.entries()) {
  test(`writeCrops ${c.name}: crops, mirrors, mean, colour and scale equal the CPU's`, { skip }, async () => {
    await cropParity(gpu!, c, 300 + i);
    // Chunks of images under a 4 KiB binding limit, where one image's crops fit in it.
    if (c.g.views * c.g.channels * c.g.crop ** 2 * 4 <= 4096 - 256) await cropParity(split!, c, 310 + i);
  });
}

test('writeCrops refuses params that place a crop outside its image, and a short pixel array', { skip }, async () => {
  const g: CropGeometry = { images: 1, views: 1, channels: 1, height: 8, width: 8, crop: 6, scale: [1] };
  for (const b of [cpu, gpu!]) {
    const mean = b.allocate('mean', 64);
    const out = b.allocate('out', 36);
    assert.throws(() => b.writeCrops(g, new Uint8Array(64), Float32Array.of(3, 0, 0, 0, 0, 0), mean, out), /crop 0: \(x 3, y 0, flip 0\)/);
    assert.throws(() => b.writeCrops(g, new Uint8Array(63), new Float32Array(6), mean, out), /pixels: 1 images of 64 bytes need 64, found 63/);
  }
});

// ---- over 65,535 workgroups ----------------------------------------------------------------

test('ops over more than 16 workgroups under a 16-per-dimension limit: 2-D grids give the CPU results', { skip }, async () => {
  // The paper net's SGD update needs 131,071 workgroups of 256 on llvmpipe; the same 2-D grids
  // here on small shapes.
  const grid = (await open({ limits: { maxComputeWorkgroupsPerDimension: 16 } }))!;
  try {
    await elementwiseParity(grid, 5000, 'grid '); // 20 workgroups: 10 x 2
    await poolParity(grid, { name: '16x33x33, 3/2, batch 2', g: poolGeometry(2, 16, 33, 33, 3, 2) }, 'grid ');
    await avgParity(grid, { name: '200 planes 13x13 -> 6x6', g: { planes: 200, inHeight: 13, inWidth: 13, outHeight: 6, outWidth: 6 } }, 'grid ');
    await lrnParity(grid, { name: '2x8x20x20', p: PAPER_LRN, shape: [2, 8, 20, 20], scale: 30 }, 'grid ');
    await cropParity(grid, CROP_CASES[0], 320); // 2,790 rows of crops in workgroups of 64
  } finally {
    grid.dispose();
  }
});

// ---- the machinery ------------------------------------------------------------------------

test('views, writes at an offset and partial reads', { skip }, async () => {
  const t = gpu!.allocate('block', 300);
  const v = gpu!.view(t, 128, 100, 'window');
  gpu!.write(v, Float32Array.from({ length: 10 }, (_, i) => i + 1), 5);
  gpu!.fill(gpu!.view(t, 64, 10, 'head'), -1);
  const all = await gpu!.read(t);
  assert.deepEqual([...all.slice(64, 75)], [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0]);
  assert.deepEqual([...all.slice(133, 143)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual([...(await gpu!.read(v, 7))], [0, 0, 0, 0, 0, 1, 2]);
  assert.throws(() => gpu!.view(t, 256, 100, 'past the end'), /outside block/);
  assert.throws(() => gpu!.write(v, new Float32Array(101)), /do not fit/);
});

test('a buffer over maxBufferSize is refused with a GpuError naming it; the backend goes on working', { skip }, async () => {
  const small = (await open({ limits: { maxBufferSize: 1 << 20 } }))!;
  try {
    assert.throws(() => small.allocate('big', 300_000), (e: Error) => e instanceof GpuError && /^big: 1200128 bytes exceed this adapter's maxBufferSize \(1048576\)$/.test(e.message));
    assert.throws(() => new Net(small, micro, 400), /input: 1080064 bytes exceed this adapter's maxBufferSize \(1048576\)/);
    const t = small.allocate('fits', 262_144);
    small.fill(t, 3);
    assert.deepEqual([...(await small.read(t, 2))], [3, 3]);
  } finally {
    small.dispose();
  }
});

test('a shader that does not compile is a GpuError naming the op, file, line and column; later calls fail too', { skip }, async () => {
  const broken = (await open())!;
  try {
    const y = broken.allocate('y', 64);
    const kernel = broken.ctx.kernel('brokenOp', { files: ['nan', 'conv_forward', 'gemm'], consts: { TM: '4.5.u' } });
    assert.ok(kernel);
    await assert.rejects(broken.read(y), (e: Error) => {
      assert.ok(e instanceof GpuError, `${e}`);
      assert.match(e.message, /brokenOp: WGSL does not compile/);
      assert.match(e.message, /gemm\.wgsl:\d+:\d+: error/);
      return true;
    });
    assert.throws(() => broken.fill(y, 1), GpuError);
  } finally {
    broken.dispose();
  }
});

test('a lost device makes every later call throw a GpuError', { skip }, async () => {
  const lost = (await open())!;
  const y = lost.allocate('y', 64);
  lost.ctx.device.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.throws(() => lost.fill(y, 1), (e: Error) => e instanceof GpuError && /device was lost/.test(e.message));
  lost.dispose();
});

test('an in-place call the kernels cannot do is refused clearly', { skip }, async () => {
  const t = gpu!.allocate('t', 512);
  const a = gpu!.view(t, 0, 256, 'a');
  const b = gpu!.view(t, 64, 256, 'b');
  assert.throws(() => gpu!.reluForward(256, a, b), /overlap .* cannot run in place/);
});
