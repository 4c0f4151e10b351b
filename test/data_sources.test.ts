// Data sources on fixtures built at run time: image folders (JPEG, PNG, WebP; grey, alpha, CMYK,
// 16-bit; zero-byte, truncated, mislabelled and stray files), the ImageNet layout, CIFAR-10 and
// IDX files; the shard cache (equal to decoding in memory, resumable); inspect and the CLI.
import assert from 'node:assert/strict';
import { nodeLoaderThread } from '../src/data/loader_node.js';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import sharp, { type Sharp } from 'sharp';
import { registerDataCommands } from '../src/cli/data.js';
import { DataError, FormatError } from '../src/core/errors.js';
import { type Dataset } from '../src/data/dataset.js';
import { openDataset } from '../src/data/open.js';
import { inspectSpec } from '../src/data/inspect.js';
import { Loader } from '../src/data/loader.js';
import { prepareCache } from '../src/data/prepare.js';
import { mergeParts, preparePart } from '../src/data/prepare_parts.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'alexnet-data-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

type Colour = { r: number; g: number; b: number; alpha?: number };
const solid = (width: number, height: number, c: Colour, channels: 3 | 4 = 3) => sharp({ create: { width, height, channels, background: c } });

async function put(path: string, data: Sharp | string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  if (typeof data === 'string' || Buffer.isBuffer(data)) await writeFile(path, data);
  else await data.toFile(path);
}

const RED = { r: 200, g: 30, b: 60 };

/** Three classes: 7 + 5 + 2 good images, and 4 files to skip. */
async function pets(root: string): Promise<void> {
  const jpeg = await solid(90, 60, RED).jpeg().toBuffer();
  await Promise.all([
    put(join(root, 'cat/red.png'), solid(300, 200, RED).png()),
    put(join(root, 'cat/grey.png'), solid(50, 70, { r: 100, g: 100, b: 100 }).toColourspace('b-w').png()),
    put(join(root, 'cat/alpha.png'), solid(40, 40, { r: 10, g: 20, b: 30, alpha: 0.5 }, 4).png()),
    put(join(root, 'cat/deep.png'), solid(40, 30, RED).toColourspace('rgb16').png()),
    put(join(root, 'cat/photo.JPG'), jpeg),
    put(join(root, 'cat/cmyk.jpg'), solid(40, 30, RED).toColourspace('cmyk').jpeg()),
    put(join(root, 'cat/blue.webp'), solid(40, 30, { r: 0, g: 0, b: 255 }).webp({ lossless: true })),
    put(join(root, 'cat/zero.jpg'), ''),
    put(join(root, 'cat/notes.jpg'), 'these are not pixels'),
    put(join(root, 'cat/cut.jpg'), jpeg.subarray(0, jpeg.length >> 1)),
    put(join(root, 'cat/README.txt'), 'cats'),
    // 64 x 32, left half black, right half white: the centre crop keeps the middle 32 x 32.
    put(join(root, 'dog/halves.png'), sharp(Buffer.from(Array.from({ length: 64 * 32 }, (_, i) => (i % 64 < 32 ? 0 : 255))), { raw: { width: 64, height: 32, channels: 1 } }).png()),
    ...[1, 2, 3].map((i) => put(join(root, `dog/d${i}.jpg`), solid(30 + i, 40, { r: 20 * i, g: 90, b: 9 }).jpeg())),
    put(join(root, 'dog/more/nested.png'), solid(20, 20, { r: 1, g: 2, b: 3 }).png()),
    put(join(root, 'emu/e1.png'), solid(20, 30, { r: 5, g: 200, b: 5 }).png()),
    put(join(root, 'emu/e2.jpeg'), solid(30, 20, { r: 5, g: 100, b: 5 }).jpeg()),
  ]);
}

const SKIPPED = [
  ['cat/README.txt', /not an image file \(extension "\.txt"/],
  // libvips words a truncated JPEG differently from run to run ("premature end of JPEG file",
  // "Input buffer has corrupt header"): the reason is ours, the parenthesis the decoder's.
  ['cat/cut.jpg', /^cannot decode \(.+\)$/],
  ['cat/notes.jpg', /not a JPEG, PNG or WebP image \(starts with bytes 74 68 65 73/],
  ['cat/zero.jpg', /empty file \(0 bytes\)/],
] as const;

function assertSkipped(skipped: readonly { file: string; reason: string }[], expected: readonly (readonly [string, RegExp])[]) {
  const sorted = [...skipped].sort((a, b) => (a.file < b.file ? -1 : 1));
  assert.deepEqual(sorted.map((s) => s.file), expected.map(([f]) => f));
  sorted.forEach((s, i) => assert.match(s.reason, expected[i][1], s.file));
}

function pixel(d: Dataset, i: number, y: number, x: number): number[] {
  const [, H, W] = d.shape;
  const img = new Uint8Array(3 * H * W);
  d.readImage(i, img);
  return [0, 1, 2].map((c) => img[c * H * W + y * W + x]);
}

function assertNear(actual: number[], expected: number[], tol: number, what: string) {
  assert.ok(actual.every((v, c) => Math.abs(v - expected[c]) <= tol), `${what}: ${actual} vs ${expected} (+-${tol})`);
}

let petsDir: string;
test('folder: labels by class folder, conversions to 8-bit RGB, centre crop, and a skip report', async () => {
  petsDir = join(tmp, 'pets');
  await pets(petsDir);
  const data = await openDataset(`folder:${petsDir}`, { side: 64, holdOut: false });
  const train = data.train;
  assert.deepEqual(train.shape, [3, 64, 64]);
  assert.deepEqual(train.classes, ['cat', 'dog', 'emu']);
  assert.equal(train.count, 14);
  assert.deepEqual(train.files, [
    'cat/alpha.png', 'cat/blue.webp', 'cat/cmyk.jpg', 'cat/deep.png', 'cat/grey.png', 'cat/photo.JPG', 'cat/red.png',
    'dog/d1.jpg', 'dog/d2.jpg', 'dog/d3.jpg', 'dog/halves.png', 'dog/more/nested.png', 'emu/e1.png', 'emu/e2.jpeg',
  ]);
  assert.deepEqual(Array.from({ length: 14 }, (_, i) => train.label(i)), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
  assertSkipped(train.skipped, SKIPPED);
  const at = (file: string) => train.files!.indexOf(file);
  assertNear(pixel(train, at('cat/red.png'), 10, 50), [200, 30, 60], 1, 'RGB PNG');
  assertNear(pixel(train, at('cat/grey.png'), 30, 30), [100, 100, 100], 1, 'greyscale');
  assertNear(pixel(train, at('cat/alpha.png'), 5, 5), [10, 20, 30], 1, 'alpha dropped');
  assertNear(pixel(train, at('cat/deep.png'), 63, 0), [200, 30, 60], 1, '16-bit');
  assertNear(pixel(train, at('cat/blue.webp'), 0, 63), [0, 0, 255], 1, 'WebP');
  assertNear(pixel(train, at('cat/photo.JPG'), 32, 32), [200, 30, 60], 6, 'JPEG');
  assertNear(pixel(train, at('cat/cmyk.jpg'), 32, 32), [200, 30, 60], 40, 'CMYK JPEG');
  // halves: scaled 2x to 128 x 64, columns 32..95 kept: black then white, edge in the middle.
  assert.deepEqual(pixel(train, at('dog/halves.png'), 20, 10), [0, 0, 0]);
  assert.deepEqual(pixel(train, at('dog/halves.png'), 40, 53), [255, 255, 255]);
  // Mean image and channel means over the 14 training images.
  const sum = [0, 0, 0];
  for (let i = 0; i < 14; i++) pixel(train, i, 7, 9).forEach((v, c) => (sum[c] += v / 14));
  assert.ok(sum.every((m, c) => Math.abs(data.stats.meanImage[c * 64 * 64 + 7 * 64 + 9] - m) < 1e-4));
  assert.equal(data.stats.images, 14);
});

test('folder with train/val/test splits: the training classes label every split', async () => {
  const root = join(tmp, 'splits');
  await Promise.all([
    ...['a', 'b'].flatMap((c, k) => [0, 1].map((i) => put(join(root, `train/${c}/${i}.png`), solid(8, 8, { r: 50 * k, g: i, b: 0 }).png()))),
    put(join(root, 'val/b/v.png'), solid(8, 8, RED).png()),
    put(join(root, 'val/zebra/z.png'), solid(8, 8, RED).png()),
    put(join(root, 'test/a/t.png'), solid(8, 8, RED).png()),
  ]);
  // A link into the data set is not followed: here it would score training images as test ones.
  await symlink(join(root, 'train/a'), join(root, 'test/linked'));
  const data = await openDataset(`folder:${root}`, { side: 8 });
  assert.equal(data.train.count, 4);
  assert.equal(data.val!.count, 1);
  assert.equal(data.val!.label(0), 1);
  assertSkipped(data.val!.skipped, [['val/zebra/z.png', /class "zebra" is not among the training classes/]]);
  assertSkipped(data.test!.skipped, [['test/linked', /^symbolic link to train\/a, a folder of this data set: not followed$/]]);
  assert.equal(data.test!.count, 1);
  assert.equal(data.test!.label(0), 0);
});

test('folder errors: a missing directory, an empty class folder, a single class', async () => {
  const rejects = (spec: string, pattern: RegExp) => assert.rejects(openDataset(spec), (e: unknown) => e instanceof DataError && pattern.test(e.message));
  await rejects(`folder:${join(tmp, 'nowhere')}`, /image folder .*nowhere does not exist/);
  const empty = join(tmp, 'empty');
  await put(join(empty, 'a/x.png'), solid(8, 8, RED).png());
  await put(join(empty, 'b/notes.txt'), 'nothing here');
  await rejects(`folder:${empty}`, /class folder .*empty\/b has no usable images \(none of its files is named \.jpg, \.jpeg, \.png, \.webp\)/);
  const one = join(tmp, 'one');
  await put(join(one, 'only/x.png'), solid(8, 8, RED).png());
  await rejects(`folder:${one}`, /one class folder \("only"\): classification needs at least two/);
});

test('imagenet: wnid folders, synset names, validation ground truth (CSV, plain list, folders)', async () => {
  const root = join(tmp, 'imagenet');
  const wnids = ['n01440764', 'n01443537', 'n01484850'];
  await Promise.all([
    ...wnids.flatMap((w, k) => [0, 1].map((i) => put(join(root, `train/${w}/${w}_${i}.JPEG`), solid(12, 10, { r: 80 * k, g: i, b: 3 }).jpeg()))),
    ...[1, 2, 3, 4, 5].map((i) => put(join(root, `val/ILSVRC2012_val_0000000${i}.JPEG`), solid(10, 12, RED).jpeg())),
    put(join(root, 'LOC_synset_mapping.txt'), 'n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01484850 great white shark\nn09999999 not trained\n'),
    put(join(root, 'LOC_val_solution.csv'), [
      'ImageId,PredictionString',
      'ILSVRC2012_val_00000001,n01443537 1 2 3 4 n01443537 5 6 7 8',
      'ILSVRC2012_val_00000002,n01484850 1 2 3 4',
      'ILSVRC2012_val_00000003,n01440764 1 2 3 4',
      'ILSVRC2012_val_00000004,n09999999 1 2 3 4',
    ].join('\n')),
  ]);
  const data = await openDataset(`imagenet:${root}`, { side: 8 });
  assert.deepEqual(data.train.classIds, wnids);
  assert.deepEqual(data.train.classes, ['tench, Tinca tinca', 'goldfish, Carassius auratus', 'great white shark']);
  assert.equal(data.train.count, 6);
  assert.deepEqual(Array.from({ length: 3 }, (_, i) => data.val!.label(i)), [1, 2, 0]);
  assertSkipped(data.val!.skipped, [
    ['val/ILSVRC2012_val_00000004.JPEG', /class n09999999 is not among the training classes/],
    ['val/ILSVRC2012_val_00000005.JPEG', /no entry in .*LOC_val_solution\.csv/],
  ]);

  await rm(join(root, 'LOC_val_solution.csv'));
  await assert.rejects(openDataset(`imagenet:${root}`, { side: 8 }), /val has no ground truth: expected one of LOC_val_solution\.csv, val_labels\.txt/);
  await put(join(root, 'val_labels.txt'), 'ILSVRC2012_val_00000005.JPEG n01484850\n');
  const listed = await openDataset(`imagenet:${root}`, { side: 8 });
  assert.equal(listed.val!.count, 1);
  assert.equal(listed.val!.label(0), 2);

  const folders = join(tmp, 'imagenet-folders');
  await Promise.all([
    ...wnids.slice(0, 2).map((w) => put(join(folders, `train/${w}/a.JPEG`), solid(8, 8, RED).jpeg())),
    put(join(folders, `val/${wnids[1]}/v.JPEG`), solid(8, 8, RED).jpeg()),
  ]);
  const byFolder = await openDataset(`imagenet:${folders}`, { side: 8 });
  assert.deepEqual(byFolder.train.classes, wnids.slice(0, 2), 'no synset file: the wnids are the names');
  assert.equal(byFolder.val!.label(0), 1);
});

test('cifar10: binary batches, class names from batches.meta.txt, malformed files refused', async () => {
  const dir = join(tmp, 'cifar/cifar-10-batches-bin');
  const record = (label: number, seed: number) => Buffer.from([label, ...Array.from({ length: 3072 }, (_, k) => (k * seed) & 255)]);
  await Promise.all([
    ...[1, 2, 3, 4, 5].map((b) => put(join(dir, `data_batch_${b}.bin`), Buffer.concat([record(b, b), record(9 - b, b + 10)]))),
    put(join(dir, 'test_batch.bin'), Buffer.concat([record(0, 3), record(1, 4), record(2, 5)])),
    put(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n'),
  ]);
  const data = await openDataset(`cifar10:${join(tmp, 'cifar')}`);
  assert.deepEqual(data.train.shape, [3, 32, 32]);
  assert.equal(data.train.count, 10);
  assert.equal(data.test!.count, 3);
  assert.deepEqual(Array.from({ length: 10 }, (_, i) => data.train.label(i)), [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
  assert.equal(data.train.classes[9], 'truck');
  const img = new Uint8Array(3072);
  data.train.readImage(3, img); // second record of batch 2: seed 12
  assert.deepEqual(Buffer.from(img), record(7, 12).subarray(1));
  await put(join(dir, 'test_batch.bin'), Buffer.alloc(3073 + 5));
  await assert.rejects(openDataset(`cifar10:${dir}`), (e: unknown) => e instanceof FormatError && /3078 bytes is not a whole number of 3073-byte records/.test(e.message));
});

test('fashion-mnist:DIR wraps the IDX files as in-memory datasets', async () => {
  const dir = join(tmp, 'fashion');
  const idx = (dims: number[], body: number[]) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head.set([0, 0, 8, dims.length]);
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([head, Buffer.from(body)]);
  };
  const images = (n: number) => Array.from({ length: n * 784 }, (_, k) => k % 251);
  await Promise.all([
    put(join(dir, 'train-images-idx3-ubyte'), idx([4, 28, 28], images(4))),
    put(join(dir, 'train-labels-idx1-ubyte'), idx([4], [3, 1, 4, 1])),
    put(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], images(2))),
    put(join(dir, 't10k-labels-idx1-ubyte'), idx([2], [5, 9])),
  ]);
  const data = await openDataset(`fashion-mnist:${dir}`);
  assert.deepEqual(data.train.shape, [1, 28, 28]);
  assert.deepEqual([data.train.count, data.test!.count, data.train.label(2), data.test!.label(1)], [4, 2, 4, 9]);
  const img = new Uint8Array(784);
  data.train.readImage(1, img);
  assert.deepEqual(Array.from(img), images(4).slice(784, 1568));
  assert.equal(data.stats.eigenvalues.length, 1);
});

test('cache: equals decoding in memory; resumes after an interruption; refuses another source', async () => {
  const memory = await openDataset(`folder:${petsDir}`, { side: 32, holdOut: false });
  const out = join(tmp, 'cache');
  const abort = new AbortController();
  await assert.rejects(
    prepareCache(`folder:${petsDir}`, out, { side: 32, imagesPerShard: 4, signal: abort.signal, onProgress: (p) => p.done === 9 && abort.abort() }),
    /abort/i,
  );
  // 9 files handled: cat's 7 images + 2 skips fill shard 0 (4 images) and part of shard 1.
  assert.ok(existsSync(join(out, 'train/shard-00000.json')) && !existsSync(join(out, 'train/shard-00001.json')));
  await assert.rejects(openDataset(`cache:${out}`), /cache .* is incomplete: run `alexnet data prepare folder:.* --out .*` again/);
  const first = statSync(join(out, 'train/shard-00000.u8')).mtimeMs;
  let resumedFrom = -1;
  await prepareCache(`folder:${petsDir}`, out, { side: 32, imagesPerShard: 4, onProgress: (p) => resumedFrom < 0 && (resumedFrom = p.done) });
  assert.ok(resumedFrom > 4, `resumed after the finished shards (first progress at ${resumedFrom})`);
  assert.equal(statSync(join(out, 'train/shard-00000.u8')).mtimeMs, first, 'finished shards are kept');

  const cached = await openDataset(`cache:${out}`, { holdOut: false });
  for (const [a, b] of [[cached.train, memory.train]]) {
    assert.equal(a.count, 14);
    assert.deepEqual(a.files, b.files);
    assertSkipped(a.skipped, SKIPPED);
    const x = new Uint8Array(3 * 32 * 32);
    const y = new Uint8Array(3 * 32 * 32);
    for (let i = 0; i < a.count; i++) {
      a.readImage(i, x);
      b.readImage(i, y);
      assert.deepEqual(x, y, `image ${i}`);
      assert.equal(a.label(i), b.label(i));
    }
  }
  assert.deepEqual(cached.stats, memory.stats);
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
  assert.deepEqual(index.splits.train.perClass, [7, 5, 2]);
  assert.equal(index.splits.train.shards, 4);
  assert.equal(index.stats.eigenvalues.length, 3);

  // Same batches from the cache (read by workers) as from memory.
  const hashes = async (d: Dataset, workers: number) => {
    const loader = new Loader(d, memory.stats, { batch: 5, seed: 2, mode: 'train', crop: 28, workers, startThread: nodeLoaderThread });
    const all: number[] = [];
    for await (const b of loader.epoch(3)) all.push(...b.input.subarray(0, 50));
    await loader.close();
    return all;
  };
  assert.deepEqual(await hashes(cached.train, 2), await hashes(memory.train, 0));
  cached.train.close();

  // A cache damaged after opening fails loudly, as a DataError from the worker, and still closes.
  const damaged = await openDataset(`cache:${out}`, { holdOut: false });
  await rm(join(out, 'train/shard-00002.u8'));
  const loader = new Loader(damaged.train, damaged.stats, { batch: 14, seed: 1, mode: 'centre', crop: 28, workers: 1, startThread: nodeLoaderThread });
  await assert.rejects(loader.epoch(0).next(), (e: unknown) => e instanceof DataError && /data loader worker: .*shard-00002\.u8/.test(e.message));
  await loader.close();

  await assert.rejects(prepareCache(`folder:${petsDir}`, out, { side: 16, imagesPerShard: 4 }), /holds a different cache \(its shape, recordBytes differ\)/);
  await assert.rejects(openDataset(`cache:${out}`), /shard-00002\.u8: missing, expected 4 images of 3072 bytes/);
  const viaOption = await openDataset(`folder:${petsDir}`, { side: 32, cache: join(tmp, 'cache-option'), holdOut: false });
  assert.match(viaOption.origin, /^cache .*cache-option \(prepared from folder:/);
  assert.deepEqual(viaOption.train.files, memory.train.files);
  viaOption.train.close();
});

test('cache in parts (one per array task), then merged: the same files, byte for byte, as one prepare', async () => {
  const options = { side: 32, imagesPerShard: 4 };
  const whole = join(tmp, 'cache-whole');
  await prepareCache(`folder:${petsDir}`, whole, options);
  const merged = join(tmp, 'cache-parts');
  // Three parts of 5-6 files each (images and skipped files): shards of 4 span the parts' edges.
  for (const part of [2, 0]) await preparePart(`folder:${petsDir}`, merged, part, 3, options);
  await assert.rejects(mergeParts(`folder:${petsDir}`, merged, 3, options), /part 1 of 3 is not finished: run alexnet data prepare folder:.* --out .* --part 1\/3/);
  await preparePart(`folder:${petsDir}`, merged, 1, 3, options);
  await mergeParts(`folder:${petsDir}`, merged, 3, options);
  const files = async (dir: string): Promise<string[]> => (await readdir(dir, { recursive: true })).filter((f) => statSync(join(dir, f)).isFile()).sort();
  assert.deepEqual(await files(merged), await files(whole), 'the same files (the parts removed)');
  for (const f of await files(whole)) assert.ok((await readFile(join(whole, f))).equals(await readFile(join(merged, f))), `${f} differs`);
  assert.ok((await files(whole)).filter((f) => f.endsWith('.u8')).length >= 4);
  await assert.rejects(preparePart(`folder:${petsDir}`, merged, 3, 3, options), /--part: expected i\/N with 0 <= i < N/);
});


test('inspect: header checks find zero-byte and mislabelled files; decoding also finds truncated ones', async () => {
  const quick = await inspectSpec(`folder:${petsDir}`);
  assert.equal(quick.checked, 'header');
  assert.deepEqual(quick.splits.train!.perClass, { cat: 8, dog: 5, emu: 2 });
  assertSkipped(quick.splits.train!.skipped, SKIPPED.filter(([f]) => f !== 'cat/cut.jpg'));
  const full = await inspectSpec(`folder:${petsDir}`, { decode: true });
  assert.deepEqual(full.splits.train!.perClass, { cat: 7, dog: 5, emu: 2 });
  assert.equal(full.images, 14);
  assertSkipped(full.splits.train!.skipped, SKIPPED);
});

test('CLI: data prepare writes a cache and prints its inspection; data inspect --json', async () => {
  const run = async (...args: string[]) => {
    const program = new Command('alexnet').exitOverride();
    registerDataCommands(program);
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      await program.parseAsync(['node', 'alexnet', ...args]);
    } finally {
      console.log = log;
    }
    return lines.join('\n');
  };
  const out = join(tmp, 'cli-cache');
  const prepared = JSON.parse(await run('data', 'prepare', `folder:${petsDir}`, '--out', out, '--side', '24', '--json'));
  assert.deepEqual([prepared.images, prepared.skipped, prepared.shape, prepared.complete], [14, 4, [3, 24, 24], true]);
  const report = JSON.parse(await run('data', 'inspect', `cache:${out}`, '--json'));
  assert.deepEqual(report.classes, ['cat', 'dog', 'emu']);
  assertSkipped(report.splits.train.skipped, SKIPPED);
  const text = await run('data', 'inspect', `folder:${petsDir}`);
  assert.match(text, /^folder:.*: 15 images, 3 classes, 3 files skipped \(checked: header\)/);
  await assert.rejects(run('data', 'prepare', 'cifar10:/x', '--out', out), /needs no preparation/);
});
