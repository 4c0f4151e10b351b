// A flipped byte is refused by name, never trained on: in a checkpoint's weights or momenta
// (SHA-256 recorded in state.json), in a data cache's shard (CRC-32 per image record) or its
// mean image (SHA-256 in index.json).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { openDataset } from '../src/data/open.js';
import { prepareCache } from '../src/data/prepare.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { checkpointDir, latestCheckpoint } from '../src/train/checkpoint.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-checksums-'));

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Flips one bit of the byte `fromEnd` bytes before the end of `path` (in the data, not a header). */
function flipByte(path: string, fromEnd = 100): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - fromEnd] ^= 0x10;
  writeFileSync(path, bytes);
}

test('a flipped byte in a checkpoint\'s weights or momenta: resume and eval refuse, naming the file', async () => {
  const run = join(root, 'run');
  const first = alexnet('train', '--arch', 'mini', '--data', `fashion-mnist:${BUNDLED_FASHION_MNIST}`, '--limit', '120', '--val', '20',
    '--batch', '50', '--epochs', '1', '--backend', 'cpu', '--no-report', '--json', '--out', run);
  assert.equal(first.code, 0, first.stderr);
  for (const file of ['weights.safetensors', 'optimizer.safetensors']) {
    const copy = join(root, `flipped-${file}`);
    cpSync(run, copy, { recursive: true });
    const damaged = join(await latestCheckpoint(checkpointDir(copy)), file);
    flipByte(damaged);
    const resumed = alexnet('train', '--resume', copy, '--epochs', '2', '--no-report', '--backend', 'cpu');
    assert.equal(resumed.code, 1, resumed.stderr);
    const line = resumed.stderr.trim();
    assert.ok(line.startsWith(`alexnet: ${damaged}: corrupt: `), line);
    assert.match(line, /does not match|recorded .* when it was written; refusing to use it/);
    if (file === 'weights.safetensors') {
      const evaluated = alexnet('eval', '--checkpoint', copy, '--data', `fashion-mnist:${BUNDLED_FASHION_MNIST}`, '--backend', 'cpu');
      assert.equal(evaluated.code, 1);
      assert.ok(evaluated.stderr.startsWith(`alexnet: ${damaged}: corrupt: `), evaluated.stderr);
    }
  }
  // The undamaged run still resumes.
  assert.equal(alexnet('train', '--resume', run, '--epochs', '2', '--no-report', '--backend', 'cpu').code, 0);
});

test('a flipped byte in a cache shard or its mean image is refused, naming the file', async () => {
  const images = join(root, 'images');
  for (const [cls, colour] of [['red', { r: 200, g: 10, b: 10 }], ['blue', { r: 10, g: 10, b: 200 }]] as const) {
    await mkdir(join(images, cls), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 20 + i, height: 20, channels: 3, background: { ...colour, g: 40 * i } } }).png().toFile(join(images, cls, `${i}.png`));
    }
  }
  const cache = join(root, 'cache');
  await prepareCache(`folder:${images}`, cache, { side: 16, imagesPerShard: 2 });
  const image = new Uint8Array(3 * 16 * 16);

  const shard = join(cache, 'train/shard-00001.u8');
  const pristine = readFileSync(shard);
  flipByte(shard, 5);
  const data = await openDataset(`cache:${cache}`, { holdOut: false });
  data.train.readImage(0, image); // shard 0 is intact
  assert.throws(
    () => data.train.readImage(3, image),
    (e: Error) => e.message.startsWith(`${shard}: corrupt: image 3 `) && /CRC-32 recorded when the cache was prepared/.test(e.message),
  );
  data.train.close();
  writeFileSync(shard, pristine);

  const mean = join(cache, 'mean.f32');
  flipByte(mean, 8);
  await assert.rejects(openDataset(`cache:${cache}`, { holdOut: false }), (e: Error) => e.message.startsWith(`${mean}: corrupt: its SHA-256 does not match`));
});

/** Rewrites the JSON file `path` after `change` (a label edited by hand, or by a flipped bit that still parses). */
function editJson(path: string, change: (value: { [key: string]: any }) => void): void {
  const value = JSON.parse(readFileSync(path, 'utf8'));
  change(value);
  writeFileSync(path, JSON.stringify(value) + '\n');
}

test("a label changed in a cache's index or in a part's shard record is refused, naming the file (before: accepted and \"checked\")", async () => {
  const images = join(root, 'images'); // written by the test above: red/ and blue/, 3 images each
  const spec = `folder:${images}`;
  const cache = join(root, 'labels-cache');
  assert.equal(alexnet('data', 'prepare', spec, '--out', cache, '--side', '16', '--shard-images', '2').code, 0);
  const index = join(cache, 'index.json');
  editJson(index, (i) => (i.splits.train.labels[0] = 1 - i.splits.train.labels[0]));
  const inspected = alexnet('data', 'inspect', `cache:${cache}`, '--decode');
  assert.equal(inspected.stdout, '');
  assert.equal(
    inspected.stderr,
    `alexnet: ${index}: corrupt: its contents (labels, file names, checksums) do not match the SHA-256 recorded in it when it was written; ` +
      `prepare the source again (alexnet data prepare ${spec} --out ${cache})\n`,
  );
  assert.equal(inspected.code, 1);
  const trained = alexnet('train', '--arch', 'mini', '--data', `cache:${cache}`, '--batch', '2', '--val', '1', '--epochs', '1', '--backend', 'cpu', '--out', join(root, 'labels-run'));
  assert.equal(trained.code, 1);
  assert.ok(trained.stderr.endsWith(`alexnet: ${index}: corrupt: its contents (labels, file names, checksums) do not match the SHA-256 recorded in it when it was written; prepare the source again (alexnet data prepare ${spec} --out ${cache})\n`), trained.stderr);

  const parts = join(root, 'labels-parts');
  for (const part of ['0/2', '1/2']) assert.equal(alexnet('data', 'prepare', spec, '--out', parts, '--side', '16', '--part', part).code, 0);
  const record = join(parts, 'parts', 'part-0-of-2', 'train', 'shard-00000.json');
  editJson(record, (r) => (r.labels[0] = 1 - r.labels[0]));
  const merged = alexnet('data', 'prepare', spec, '--out', parts, '--side', '16', '--merge', '2');
  assert.equal(merged.stdout, '');
  assert.equal(
    merged.stderr,
    `alexnet: ${record}: corrupt: its contents (labels, file names, checksums) do not match the SHA-256 recorded in it when it was written; ` +
      'delete it and its .u8 shard, and prepare again (the shards before it are kept)\n',
  );
  assert.equal(merged.code, 1);
});

test('a cache of format version 2 (labels not covered) is refused with what to do', async () => {
  const cache = join(root, 'labels-cache');
  const index = join(cache, 'index.json');
  editJson(index, (i) => {
    i.version = 2;
    delete i.sha256;
  });
  await assert.rejects(
    openDataset(`cache:${cache}`),
    (e: Error) => e.message === `${index}: version 2 of the cache (its labels are not covered by checksums); prepare the source again into a new folder (alexnet data prepare folder:${join(root, 'images')} --out NEW_DIR)`,
  );
});
