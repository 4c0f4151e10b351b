// Every WebGPU op against the CPU op over a table of shapes: odd sizes, groups 1, 2 and 3,
// strides, padding, ceil-rounded pools, max-pool ties, AlexNet's real layers at batch 1, fc6's
// full 9216x4096 weight (over llvmpipe's 128 MiB binding limit, so through the split path), and
// every split path again on small shapes under an artificially low binding limit. Dropout
// masks must be identical bit for bit.
//
// Closeness: |gpu - cpu| / max(|cpu|, floor) <= 1e-4 for every element, with floor = 1e-2 times
// the largest |cpu| of the tensor: both sides are float32 sums of up to 9216 products in
// different orders, so an element that cancels to near zero is judged against the tensor's
// scale, not its own (the project's PyTorch check divides by the largest |value| throughout).
// Runs on any adapter, Mesa's llvmpipe included; skipped (with the reason printed) only where
// no adapter exists and CI is unset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, CropGeometry, Tensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import type { LrnParams } from '../src/backend/cpu/lrn.js';
import { parseTileChoice, TILES, tileProblems } from '../src/backend/webgpu/gemm.js';
import { createWebGpuBackend, GpuError, type WebGpuBackend, type WebGpuOptions } from '../src/backend/webgpu/index.js';
import { convGeometry, poolGeometry } from '../src/core/geometry.js';
import { Rng } from '../src/rng/hash.js';
import { randomArray } from './helpers.js';

const TOL = 1e-4;

async function open(options: WebGpuOptions = {}): Promise<WebGpuBackend | null> {
  return createWebGpuBackend(options);
}

const gpu = await open();
const skip = gpu ? false : 'no WebGPU adapter here (DESIGN.md section 5 installs Mesa llvmpipe)';
if (skip) console.log(`webgpu_ops: skipped: ${skip}`);
// In CI the suite must run (on llvmpipe at least): a missing adapter is a failure there.
if (!gpu && process.env.CI) test('a WebGPU adapter exists (required in CI)', () => assert.fail(String(skip)));
if (gpu) console.log(`webgpu_ops: ${gpu.device}`);
/** The same ops under a 4 KiB binding limit: every split and chunk path on small shapes. */
const split = gpu ? await open({ maxBindingBytes: 4096 }) : null;
const cpu = new CpuBackend();

function f32(size: number, seed: number, scale = 1): Float32Array {
  return Float32Array.from(randomArray(size, seed, scale));
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Asserts closeness; the message names the worst element. */
function assertNear(what: string, got: Float32Array, want: Float32Array, tol = TOL): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} vs ${want.length}`);
  const floor = Math.max(1e-2 * maxAbs(want), 1e-30);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: worst relative error ${worst.toExponential(3)} at element ${at} (webgpu ${got[at]}, cpu ${want[at]}), tolerance ${tol}`);
  return worst;
}

type Data = Record<string, Float32Array>;

/**
 * Runs `op` on the CPU and on `be` with the same tensors (inputs and the initial contents of
 * outputs, which are random: overwritten outputs must not depend on them, accumulated ones
 * must add to them) and compares `outputs`.
 */
async function parity(
  be: Backend,
  what: string,
  data: Data,
  outputs: readonly string[],
  op: (b: Backend, t: Record<string, Tensor>) => void,
  tol = TOL,
): Promise<Record<string, number>> {
  const results: Record<string, Float32Array>[] = [];
  for (const b of [cpu, be]) {
    const t: Record<string, Tensor> = {};
    for (const [name, d] of Object.entries(data)) {
      t[name] = b.allocate(`${what}.${name}`, d.length);
      b.write(t[name], d);
    }
    op(b, t);
    const out: Record<string, Float32Array> = {};
    for (const name of outputs) out[name] = await b.read(t[name]);
    results.push(out);
  }
  const worst: Record<string, number> = {};
  for (const name of outputs) worst[name] = assertNear(`${what} ${name}`, results[1][name], results[0][name], tol);
  return worst;
}

// ---- convolutions -------------------------------------------------------------------------

interface ConvCase {
  name: string;
  g: ReturnType<typeof convGeometry>;
  /** Skip backward-data (conv1: the Net never needs the input's gradient). */
  noData?: boolean;
}

const conv = (name: string, n: number, c: number, h: number, w: number, o: number, k: number, s: number, p: number, groups: number, noData = false): ConvCase => ({
  name,
  g: convGeometry(n, c, h, w, o, k, s, p, groups, name),
  noData,
});

const CONV_CASES: ConvCase[] = [
  conv('odd 3x7x9 -> 5, k3 s1 p1', 2, 3, 7, 9, 5, 3, 1, 1, 1),
  conv('groups 2, stride 2, pad 1', 2, 4, 11, 10, 6, 3, 2, 1, 2),
  conv('groups 3, no pad', 1, 6, 8, 8, 9, 3, 1, 0, 3),
  conv('conv1-like k11 s4', 2, 3, 23, 23, 8, 11, 4, 0, 1),
  conv('conv2-like k5 p2 groups 2', 2, 8, 9, 9, 8, 5, 1, 2, 2),
  conv('1x1 kernel, 40 channels', 3, 40, 5, 5, 36, 1, 1, 0, 1),
  conv('split-K (K = 1024)', 4, 3, 16, 16, 4, 3, 1, 1, 1),
  conv('paper conv1, batch 1', 1, 3, 227, 227, 96, 11, 4, 0, 1, true),
  conv('paper conv2, batch 1', 1, 96, 27, 27, 256, 5, 1, 2, 2),
  conv('paper conv3, batch 1', 1, 256, 13, 13, 384, 3, 1, 1, 1),
  conv('paper conv4, batch 1', 1, 384, 13, 13, 384, 3, 1, 1, 2),
  conv('paper conv5, batch 1', 1, 384, 13, 13, 256, 3, 1, 1, 2),
];

function convData(c: ConvCase, seed: number): Data {
  const g = c.g;
  const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
  const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const ws = g.outChannels * (g.inChannels / g.groups) * g.kernelH * g.kernelW;
  return {
    x: f32(xs, seed),
    w: f32(ws, seed + 1, 0.1),
    b: f32(g.outChannels, seed + 2),
    y: f32(ys, seed + 3),
    dy: f32(ys, seed + 4),
    dx: f32(xs, seed + 5),
    dw: f32(ws, seed + 6),
    db: f32(g.outChannels, seed + 7),
  };
}

async function convParity(be: Backend, c: ConvCase, tag = ''): Promise<void> {
  const g = c.g;
  const d = convData(c, 10);
  await parity(be, `${tag}conv2dForward ${c.name}`, d, ['y'], (b, t) => b.conv2dForward(g, t.x, t.w, t.b, t.y));
  await parity(be, `${tag}conv2dForward (no bias) ${c.name}`, d, ['y'], (b, t) => b.conv2dForward(g, t.x, t.w, null, t.y));
  if (!c.noData) await parity(be, `${tag}conv2dBackwardData ${c.name}`, d, ['dx'], (b, t) => b.conv2dBackwardData(g, t.dy, t.w, t.dx));
  await parity(be, `${tag}conv2dBackwardFilter ${c.name}`, d, ['dw', 'db'], (b, t) => b.conv2dBackwardFilter(g, t.x, t.dy, t.dw, t.db));
  await parity(be, `${tag}conv2dBackwardFilter (no bias) ${c.name}`, d, ['dw'], (b, t) => b.conv2dBackwardFilter(g, t.x, t.dy, t.dw, null));
}

for (const c of CONV_CASES) {
  test(`conv ${c.name}: forward, backward-data, backward-filter equal the CPU's`, { skip }, async () => {
    await convParity(gpu!, c);
  });
}

test('conv under a 4 KiB binding limit: batch chunks at unaligned offsets', { skip }, async () => {
  await convParity(split!, conv('chunked', 5, 4, 6, 7, 5, 3, 1, 1, 1), 'split ');
  await convParity(split!, conv('chunked, groups 2, stride 2', 3, 4, 7, 6, 4, 3, 2, 1, 2), 'split ');
});

test('every named tile shape, and its deeper llvmpipe variant, meets the GEMM kernel\'s rules', () => {
  for (const [name, t] of Object.entries(TILES)) {
    assert.deepEqual(tileProblems(t), [], name);
    assert.deepEqual(tileProblems({ ...t, BK: 32 }), [], `${name} with BK 32`);
  }
  assert.ok(tileProblems({ BM: 64, BN: 64, BK: 16, TM: 2, TN: 4 }).length > 0, 'TM 2 is refused');
});

test('tile choices from text: names, BMxBNxBK/TMxTN specs, and clear refusals', () => {
  assert.equal(parseTileChoice('wide', 'T'), 'wide');
  assert.deepEqual(parseTileChoice('128x128x8/8x8', 'T'), { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 });
  assert.throws(() => parseTileChoice('64x64x16/4x4/flat', 'T'), /expected auto/);
  assert.deepEqual(parseTileChoice('64x64x16/4x4', 'T'), TILES.square);
  assert.throws(() => parseTileChoice('huge', 'ALEXNET_GEMM_TILES'), /ALEXNET_GEMM_TILES: expected auto, skinny, .* found "huge"/);
  assert.throws(() => parseTileChoice('64x64x16/2x4', 'T'), /T: tiles "64x64x16\/2x4" break the kernel's rules: TM and TN are multiples of 4/);
});

// Each tile shape forced on every GEMM (conv and linear, A or B contiguous along K, row and
// column counts that leave partial vec4 groups and partial tiles): the auto choice uses only
// some of them on a given adapter.
// Two tuning specs besides: BK 8, and BK 32 with 128-row tiles.
for (const name of [...Object.keys(TILES), '128x128x8/8x8', '128x64x32/8x4']) {
  test(`GEMMs with ${name} tiles forced equal the CPU`, { skip }, async () => {
    const be = await open({ tiles: parseTileChoice(name, 'test') });
    try {
      await convParity(be!, conv(`${name} tiles`, 2, 6, 13, 11, 130, 3, 1, 1, 1), `${name} `);
      await linearParity(be!, { name: `${name} tiles, 21x70 -> 133`, batch: 21, inFeatures: 70, outFeatures: 133 }, `${name} `);
    } finally {
      be?.dispose();
    }
  });
}

test('a ReLU in place on a conv or linear output just computed is fused into its epilogue, with the same result', { skip }, async () => {
  const c = conv('fused', 2, 4, 11, 10, 6, 3, 2, 1, 2);
  const d = convData(c, 44);
  const count = d.y.length;
  const before = gpu!.fusedRelus;
  await parity(gpu!, 'conv2dForward + reluForward in place', d, ['y'], (b, t) => {
    b.conv2dForward(c.g, t.x, t.w, t.b, t.y);
    b.reluForward(count, t.y, t.y);
  });
  const s = { batch: 3, inFeatures: 20, outFeatures: 30 };
  const l: Data = { x: f32(60, 45), w: f32(600, 46, 0.2), b: f32(30, 47), y: f32(90, 48), z: f32(90, 49) };
  await parity(gpu!, 'linearForward + reluForward in place', l, ['y'], (b, t) => {
    b.linearForward(s, t.x, t.w, t.b, t.y);
    b.reluForward(90, t.y, t.y);
  });
  assert.equal(gpu!.fusedRelus - before, 2, 'both ReLUs fused');
  // Not fusable: another output, part of the output, or another op in between.
  await parity(gpu!, 'linearForward + reluForward elsewhere', l, ['y', 'z'], (b, t) => {
    b.linearForward(s, t.x, t.w, t.b, t.y);
    b.reluForward(90, t.y, t.z);
    b.reluForward(45, t.y, t.y);
  });
  await parity(gpu!, 'linearForward + fill + reluForward', l, ['y', 'z'], (b, t) => {
    b.linearForward(s, t.x, t.w, t.b, t.y);
    b.fill(t.z, 2);
    b.reluForward(90, t.y, t.y);
  });
  assert.equal(gpu!.fusedRelus - before, 2, 'no other fusion');
});

// ---- linear -------------------------------------------------------------------------------

const LINEAR_CASES = [
  { name: '3x7 -> 5', batch: 3, inFeatures: 7, outFeatures: 5 },
  { name: '1x33 -> 70', batch: 1, inFeatures: 33, outFeatures: 70 },
  { name: '20x100 -> 130', batch: 20, inFeatures: 100, outFeatures: 130 },
  { name: '70x65 -> 40', batch: 70, inFeatures: 65, outFeatures: 40 },
  { name: 'paper fc7, batch 2', batch: 2, inFeatures: 4096, outFeatures: 4096 },
  { name: 'paper fc8, batch 1', batch: 1, inFeatures: 4096, outFeatures: 1000 },
];

async function linearParity(be: Backend, s: (typeof LINEAR_CASES)[number], tag = '', seed = 20): Promise<void> {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  const d: Data = {
    x: f32(N * I, seed),
    w: f32(O * I, seed + 1, 0.05),
    b: f32(O, seed + 2),
    y: f32(N * O, seed + 3),
    dy: f32(N * O, seed + 4),
    dx: f32(N * I, seed + 5),
    dw: f32(O * I, seed + 6),
    db: f32(O, seed + 7),
  };
  await parity(be, `${tag}linearForward ${s.name}`, d, ['y'], (b, t) => b.linearForward(s, t.x, t.w, t.b, t.y));
  await parity(be, `${tag}linearForward (no bias) ${s.name}`, d, ['y'], (b, t) => b.linearForward(s, t.x, t.w, null, t.y));
  await parity(be, `${tag}linearBackwardData ${s.name}`, d, ['dx'], (b, t) => b.linearBackwardData(s, t.dy, t.w, t.dx));
  await parity(be, `${tag}linearBackwardParams ${s.name}`, d, ['dw', 'db'], (b, t) => b.linearBackwardParams(s, t.x, t.dy, t.dw, t.db));
}

for (const s of LINEAR_CASES) {
  test(`linear ${s.name}: forward, backward-data, backward-params equal the CPU's`, { skip }, async () => {
    await linearParity(gpu!, s);
  });
}

test('linear under a 4 KiB binding limit: blocks of weight rows', { skip }, async () => {
  await linearParity(split!, { name: '3x50 -> 40 in 19-row blocks', batch: 3, inFeatures: 50, outFeatures: 40 }, 'split ');
});

test("fc6's full 9216x4096 weight (151 MB) at batch 1, split where the adapter's binding limit requires", { skip }, async () => {
  const s = { batch: 1, inFeatures: 9216, outFeatures: 4096 };
  const limit = gpu!.limits.maxStorageBufferBindingSize;
  console.log(`fc6 weight ${9216 * 4096 * 4} bytes, binding limit ${limit}: ${9216 * 4096 * 4 > limit ? 'split' : 'one binding'}`);
  const d: Data = {
    x: f32(9216, 30),
    w: f32(9216 * 4096, 31, 0.01),
    b: f32(4096, 32),
    y: new Float32Array(4096),
    dy: f32(4096, 33),
    dx: new Float32Array(9216),
    dw: new Float32Array(9216 * 4096),
    db: new Float32Array(4096),
  };
  await parity(gpu!, 'fc6 linearForward', d, ['y'], (b, t) => b.linearForward(s, t.x, t.w, t.b, t.y));
  await parity(gpu!, 'fc6 linearBackwardData', d, ['dx'], (b, t) => b.linearBackwardData(s, t.dy, t.w, t.dx));
  await parity(gpu!, 'fc6 linearBackwardParams', d, ['dw', 'db'], (b, t) => b.linearBackwardParams(s, t.x, t.dy, t.dw, t.db));
});

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
    const d: Data = { x, y: f32(ys, 52), dy: f32(ys, 53), dx: f32(xs, 54) };
    await parity(be, `${tag}maxPoolForward ${c.name} (${kind})`, d, ['y'], (b, t) => b.maxPoolForward(g, t.x, t.y), 0);
    await parity(be, `${tag}maxPoolBackward ${c.name} (${kind})`, d, ['dx'], (b, t) => b.maxPoolBackward(g, t.x, t.dy, t.dx), 0);
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
  { name: 'RGB 35x35, ten 31-pixel views', g: { images: 3, views: 10, channels: 3, height: 35, width: 35, crop: 31, scale: 1 / 64 } },
  { name: 'grey 28x28, one view each', g: { images: 5, views: 1, channels: 1, height: 28, width: 28, crop: 28, scale: 0.5 } },
  { name: 'RGB 9x13 (not square), 7-pixel crops', g: { images: 4, views: 2, channels: 3, height: 9, width: 13, crop: 7, scale: 1 } },
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
  const g: CropGeometry = { images: 1, views: 1, channels: 1, height: 8, width: 8, crop: 6, scale: 1 };
  for (const b of [cpu, gpu!]) {
    const mean = b.allocate('mean', 64);
    const out = b.allocate('out', 36);
    assert.throws(() => b.writeCrops(g, new Uint8Array(64), Float32Array.of(3, 0, 0, 0, 0, 0), mean, out), /crop 0: \(x 3, y 0, flip 0\)/);
    assert.throws(() => b.writeCrops(g, new Uint8Array(63), new Float32Array(6), mean, out), /pixels: 1 images of 64 bytes need 64, found 63/);
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

test('a shader that does not compile is a GpuError naming the op, file, line and column; later calls fail too', { skip }, async () => {
  const broken = (await open())!;
  try {
    const y = broken.allocate('y', 64);
    const kernel = broken.ctx.kernel('brokenOp', { files: ['conv_forward', 'gemm'], consts: { TM: '4.5.u' } });
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
