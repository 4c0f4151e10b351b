// GEMM tiles tuned per problem and cached per adapter (src/backend/webgpu/autotune.ts,
// tile_cache.ts), on llvmpipe with two candidate shapes and the mini net at batch 2: every GEMM
// op gets the faster candidate, the net still computes what the CPU does with the tuned tiles,
// the cache holds every problem and a second run tunes nothing; the cache file is replaced
// atomically and keeps other adapters' entries; its key names the Dawn version and a problem's
// groups; a damaged cache is said and replaced; a forced shape skips tuning.
import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gemmProblems } from '../src/backend/webgpu/autotune.js';
import { TILES, tileName } from '../src/backend/webgpu/gemm.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { adapterKey, tileCachePath, tuneOnFirstUse } from '../src/backend/webgpu/tile_cache.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { randomArray } from './helpers.js';
import { assertNear, cpu, open, skip } from './webgpu_harness.js';

const candidates = [TILES.square, TILES.narrow];
const arch = architecture('mini');
const input = Float32Array.from(randomArray(2 * 784, 5));

function netOn(backend: WebGpuBackend | typeof cpu) {
  const net = new Net(backend, arch, 2);
  net.initialize({ scheme: 'he', seed: 4 });
  backend.write(net.input, input);
  backend.write(net.labels, Float32Array.of(3, 7));
  return { net, pass: async () => (net.forward(2, 'train', 1, 0), net.backward()) };
}

/** The installed Dawn package's version, read here rather than through tile_cache.ts. */
const dawnVersion = JSON.parse(readFileSync(new URL('../../node_modules/webgpu/package.json', import.meta.url), 'utf8')).version as string;

test("autotune: each GEMM keeps its faster candidate, results stay the CPU's, and the cache makes the next run tune nothing", { skip }, async () => {
  const folder = mkdtempSync(join(tmpdir(), 'alexnet-tiles-'));
  const path = join(folder, 'gemm-tiles.json');
  // Another adapter's entry (another machine sharing the home directory, another driver) is kept.
  const elsewhere = { 'Other | gpu | 0x1234 | another GPU | webgpu 0.0.1': { 'conv_forward fp32 96x729x1200x2': '32x64x32/4x4' } };
  const seeded = JSON.stringify({ format: 'alexnet-ts gemm tiles 1', adapters: elsewhere });
  writeFileSync(path, seeded);
  // A second name for the file as it was: an atomic write replaces the file under `path` (a new
  // inode) and never writes into the old one, which a reader may have open.
  linkSync(path, join(folder, 'before.json'));
  const notices: string[] = [];
  const notice = (line: string) => notices.push(line);
  const gpu = (await open({ autotune: true }))!;
  const { net, pass } = netOn(gpu);
  const problems = await gemmProblems(gpu, pass);
  assert.ok(problems.length >= 9, `${problems.length} GEMM problems in a mini training step`);

  const result = await tuneOnFirstUse(gpu, pass, { notice, path, candidates });
  assert.ok(result, 'tuned');
  assert.match(notices[0], new RegExp(`^tuning GEMM tiles for ${problems.length} new problem\\(s\\) on .* \\(once per adapter; cached in ${path}\\)$`));
  assert.deepEqual(result.candidates, ['64x64x16/4x4', '32x64x32/4x4']);
  for (const op of result.ops) {
    assert.ok(op.ms.every((ms) => Number.isFinite(ms) && ms > 0), `${op.op}: ${op.ms}`);
    assert.equal(op.best, result.candidates[op.ms.indexOf(Math.min(...op.ms))], op.op);
  }
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const cached = file.adapters[adapterKey(gpu)];
  assert.deepEqual(Object.keys(cached).sort(), problems);
  assert.deepEqual(file.adapters, { ...elsewhere, [adapterKey(gpu)]: cached }, "the other adapter's entry is kept as it was");
  assert.equal(readFileSync(join(folder, 'before.json'), 'utf8'), seeded, 'the old cache file was written into, not replaced');
  assert.deepEqual(readdirSync(folder).sort(), ['before.json', 'gemm-tiles.json'], 'no temporary file is left');
  // The tuned tiles are the ones planned, and the net computes what the CPU does with them. A
  // problem's key names op, precision, M, N, K and groups: mini's grouped convs (conv2, 4, 5)
  // are problems of their own.
  for (const [key, spec] of Object.entries(cached)) {
    const m = /^(\S+) fp32 (\d+)x(\d+)x(\d+)x([12])$/.exec(key);
    assert.ok(m, `"${key}" is not "op precision MxNxKxgroups"`);
    const [M, N, K, groups] = m.slice(2).map(Number);
    assert.equal(tileName(gpu.launch.plan(m[1], { M, N, K, groups }, 1).tiles), spec, key);
  }
  assert.ok(Object.keys(cached).some((key) => key.endsWith('x2')), 'a grouped GEMM among the problems');
  assert.notEqual(gpu.launch.gemmKey('conv_forward', { M: 8, N: 9, K: 10, groups: 1 }), gpu.launch.gemmKey('conv_forward', { M: 8, N: 9, K: 10, groups: 2 }), 'one group or two: different problems');
  net.forward(2, 'eval');
  const reference = netOn(cpu).net;
  reference.forward(2, 'eval');
  assertNear('logits with tuned tiles', await net.readLogits(2), await reference.readLogits(2));

  // A new process on the same adapter: everything from the cache, nothing tuned.
  const again = (await open({ autotune: true }))!;
  assert.equal(await tuneOnFirstUse(again, netOn(again).pass, { notice, path, candidates }), null);
  assert.equal(again.launch.tuned.size, problems.length);
  assert.equal(notices.length, 1);
});

test('autotune: a damaged cache is said and rewritten; a forced shape or a software adapter skips tuning', { skip }, async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'alexnet-tiles-')), 'gemm-tiles.json');
  const notices: string[] = [];
  const notice = (line: string) => notices.push(line);
  writeFileSync(path, '{"format": "something else"}');
  const gpu = (await open({ autotune: true }))!;
  assert.ok(await tuneOnFirstUse(gpu, netOn(gpu).pass, { notice, path, candidates: [TILES.square] }));
  assert.match(notices[0], new RegExp(`^GEMM tile cache ignored: ${path}: expected "format": "alexnet-ts gemm tiles 1"; it is rewritten after tuning$`));
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).format, 'alexnet-ts gemm tiles 1');

  // An entry naming a shape the kernel cannot run is refused, said, and tuned over.
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const key = adapterKey(gpu);
  const [first] = Object.keys(file.adapters[key]);
  file.adapters[key][first] = '64x64x16/3x4';
  writeFileSync(path, JSON.stringify(file));
  const other = (await open({ autotune: true }))!;
  notices.length = 0;
  assert.ok(await tuneOnFirstUse(other, netOn(other).pass, { notice, path, candidates: [TILES.square] }));
  assert.match(notices[0], /^GEMM tile cache entry ignored: .*tiles "64x64x16\/3x4" break the kernel's rules: TM and TN are multiples of 4/);

  const before = readFileSync(path, 'utf8');
  const forced = (await open({ tiles: 'square', autotune: true }))!;
  assert.equal(await tuneOnFirstUse(forced, netOn(forced).pass, { notice, path }), null);
  const fresh = (await open())!;
  assert.equal(fresh.autotuneOnFirstUse, false, 'a software adapter is not tuned unless asked');
  assert.equal(await tuneOnFirstUse(fresh, netOn(fresh).pass, { notice, path: join(path, '..', 'unused.json') }), null);
  assert.equal(readFileSync(path, 'utf8'), before);
});

test("the tile cache's adapter key names the adapter and the Dawn package's version (a new driver tunes again)", { skip }, async () => {
  const gpu = (await open({ autotune: true }))!;
  const key = adapterKey(gpu);
  const a = gpu.adapter;
  assert.equal(key, `${a.vendor} | ${a.architecture} | ${a.device} | ${a.description} | webgpu ${dawnVersion}`);
});

test('the tile cache lives under ALEXNET_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.equal(tileCachePath({ ALEXNET_CACHE_DIR: '/a' }), '/a/gemm-tiles.json');
  assert.equal(tileCachePath({ XDG_CACHE_HOME: '/x' }), '/x/alexnet-ts/gemm-tiles.json');
  assert.match(tileCachePath({}), /\/\.cache\/alexnet-ts\/gemm-tiles\.json$/);
});
