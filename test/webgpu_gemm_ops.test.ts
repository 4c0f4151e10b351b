// Every GEMM-backed WebGPU op against the CPU op: convolutions over a table of shapes (odd
// sizes, groups 1, 2 and 3, strides, padding, AlexNet's real layers at batch 1), each tile shape
// forced, the fused ReLU epilogue, linear layers up to fc6's full 9216x4096 weight (over
// llvmpipe's 128 MiB binding limit, so through the split path), and the split paths again on
// small shapes under a 4 KiB binding limit. The limits llvmpipe does not reach by itself, met
// on small shapes: 16 workgroups per grid dimension (GEMM tiles folded into z, 2-D grids), and
// 16 KiB of workgroup memory (the fallback from large tiles, the 16-deep square tiles hardware
// picks). The other ops: test/webgpu_ops.test.ts; the closeness rule: test/webgpu_harness.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { chooseTiles, grid1d, parseTileChoice, TILES, tileProblems } from '../src/backend/webgpu/gemm.js';
import { convGeometry } from '../src/core/geometry.js';
import { f32, gpu, open, parity, skip, split, type Data } from './webgpu_harness.js';

// ---- convolutions -------------------------------------------------------------------------

interface ConvCase {
  name: string;
  g: ReturnType<typeof convGeometry>;
}

const conv = (name: string, n: number, c: number, h: number, w: number, o: number, k: number, s: number, p: number, groups: number): ConvCase => ({
  name,
  g: convGeometry(n, c, h, w, o, k, s, p, groups, name),
});

const CONV_CASES: ConvCase[] = [
  conv('odd 3x7x9 -> 5, k3 s1 p1', 2, 3, 7, 9, 5, 3, 1, 1, 1),
  conv('groups 2, stride 2, pad 1', 2, 4, 11, 10, 6, 3, 2, 1, 2),
  conv('groups 3, no pad', 1, 6, 8, 8, 9, 3, 1, 0, 3),
  conv('conv1-like k11 s4', 2, 3, 23, 23, 8, 11, 4, 0, 1),
  // Stride phases no tap reaches (their input gradient is 0), and a stride over the kernel.
  conv('1x1 kernel, stride 2', 2, 3, 7, 6, 4, 1, 2, 0, 1),
  conv('k2 stride 3 pad 1', 1, 2, 8, 9, 3, 2, 3, 1, 1),
  conv('conv2-like k5 p2 groups 2', 2, 8, 9, 9, 8, 5, 1, 2, 2),
  conv('1x1 kernel, 40 channels', 3, 40, 5, 5, 36, 1, 1, 0, 1),
  conv('split-K (K = 1024)', 4, 3, 16, 16, 4, 3, 1, 1, 1),
  // conv1's backward-data is the image's gradient (saliency): the three conv1s there are.
  conv('paper conv1, batch 1', 1, 3, 227, 227, 96, 11, 4, 0, 1),
  conv('torchvision conv1, batch 1', 1, 3, 224, 224, 64, 11, 4, 2, 1),
  conv('mini conv1, batch 2', 2, 1, 28, 28, 48, 5, 1, 2, 1),
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
  await parity(be, `${tag}conv2dBackwardData ${c.name}`, d, ['dx'], (b, t) => b.conv2dBackwardData(g, t.dy, t.w, t.dx));
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

test('tile plans: hardware takes 16-deep square tiles for mid-size GEMMs, software 32-deep ones; large tiles over the workgroup memory fall back to square', () => {
  const mid = { M: 130, N: 286, K: 54, groups: 1 };
  const big = { M: 256, N: 16384, K: 54, groups: 1 };
  const o = { choice: 'auto' as const, fallback: false, maxGroups: 65535, maxSplits: 1, targetWorkgroups: 1024, workgroupBytes: 32768 };
  assert.deepEqual(chooseTiles(mid, o), TILES.square);
  assert.deepEqual(chooseTiles(big, o), TILES.large);
  assert.deepEqual(chooseTiles(mid, { ...o, fallback: true }), { ...TILES.square, BK: 32 });
  // Large tiles need 17,408 bytes; 16 KiB is WebGPU's default limit, and then square stays 16 deep.
  assert.deepEqual(chooseTiles(big, { ...o, workgroupBytes: 16384 }), TILES.square);
  assert.deepEqual(chooseTiles(mid, { ...o, choice: 'large', fallback: true, workgroupBytes: 16384 }), TILES.square);
});

test('under a 16 KiB workgroup-memory limit, large tiles fall back to square and auto takes 16-deep square tiles; both equal the CPU', { skip }, async () => {
  for (const tiles of ['large', 'auto'] as const) {
    // The device itself is held to 16 KiB (WebGPU's default), so a tile over it would not compile.
    const be = (await open({ tiles, limits: { maxComputeWorkgroupStorageSize: 16384 } }))!;
    try {
      await convParity(be, conv(`${tiles} tiles in 16 KiB`, 2, 6, 13, 11, 130, 3, 1, 1, 1), `${tiles} `);
      await linearParity(be, { name: `${tiles} tiles in 16 KiB, 70x65 -> 133`, batch: 70, inFeatures: 65, outFeatures: 133 }, `${tiles} `);
    } finally {
      be.dispose();
    }
  }
});

test('GEMMs and bias gradients under a 16-workgroup limit per dimension: tiles folded into z, 2-D grids', { skip }, async () => {
  const grid = (await open({ limits: { maxComputeWorkgroupsPerDimension: 16 } }))!;
  try {
    // 1,152 output columns: 18 tiles of 64; one bias-gradient workgroup per channel: 20, then 40.
    await convParity(grid, conv('24x24 -> 20, batch 2', 2, 4, 24, 24, 20, 3, 1, 1, 1), 'grid ');
    await linearParity(grid, { name: '3x50 -> 40', batch: 3, inFeatures: 50, outFeatures: 40 }, 'grid ');
  } finally {
    grid.dispose();
  }
});

test("over 65,535 workgroups, a 2-D grid covers every thread: the paper net's SGD update on llvmpipe", () => {
  // 60,965,224 parameters updated in chunks that fit a 128 MiB binding: 33,554,176 floats, 131,071 workgroups of 256.
  assert.deepEqual(grid1d(33_554_176, 256, 65_535), [43_691, 3, 1]);
  assert.deepEqual(grid1d(65_535 * 256, 256, 65_535), [65_535, 1, 1]);
  assert.throws(() => grid1d(65_536 * 65_535 * 256, 256, 65_535), /need more than 65535\^2 workgroups/);
});

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

