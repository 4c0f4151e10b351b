// Unclear errors made clear: each is one line naming the option or the file, exit 1 (2 for a
// usage error), raised before training starts; and a resumed run whose data changed is warned.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import type { Tensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { FormatError, ShapeError } from '../src/core/errors.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-errors-'));
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
const TRAIN = ['train', '--arch', 'mini', '--backend', 'cpu', '--no-report', '--json', '--epochs', '1', '--batch', '10'];

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr matching `message`, exit `code`, and nothing trained (no JSON event). */
function assertError(r: ReturnType<typeof alexnet>, code: number, message: RegExp) {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], message);
  assert.equal(r.stdout, '', 'no training started');
}

const png = (path: string, r: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g: 50, b: 0 } } }).png().toFile(path);

test('--batch larger than the training set, and a batch whose arena cannot be allocated, name --batch and the memory', () => {
  assertError(alexnet(...TRAIN, '--data', DATA, '--limit', '100', '--batch', '1000', '--out', join(dir, 'b1')), 2, /^alexnet: --batch 1000 is more than the 90 training images$/);
  // A batch whose nets cannot fit the machine is refused first, before the data is opened.
  assertError(alexnet(...TRAIN, '--data', DATA, '--limit', '100', '--batch', '1000000000', '--out', join(dir, 'b2')), 2, /^alexnet: --batch 1000000000: the mini net needs \d+\.\d GiB at this batch, more than the \d+\.\d GiB of memory this machine has; lower --batch$/);
  // A backend that cannot allocate the arena (as the CPU's typed arrays fail past their limit).
  class SmallBackend extends CpuBackend {
    override allocate(label: string, size: number): Tensor {
      if (size > 1e7) throw new RangeError('Array buffer allocation failed');
      return super.allocate(label, size);
    }
  }
  assert.throws(
    () => new Net(new SmallBackend(), architecture('mini'), 100_000),
    (e: Error) => e instanceof ShapeError && /^--batch 100000: the mini net needs \d+\.\d GiB \(parameters, gradients, momenta and activations\) at this batch, more than the cpu backend could allocate \(Array buffer allocation failed\); lower --batch$/.test(e.message),
  );
});

test('a safetensors header nested 200,000 arrays deep is a FormatError naming the file, before it is parsed', () => {
  const json = new TextEncoder().encode(`{"w":{"dtype":"F32","shape":${'['.repeat(200_000)}${']'.repeat(200_000)},"data_offsets":[0,0]}}`);
  const bytes = new Uint8Array(8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  assert.throws(() => parseSafetensors(bytes, 'deep.safetensors'), (e: Error) => e instanceof FormatError && e.message === 'deep.safetensors: JSON nested more than 8 levels deep (at character 34), deeper than any file alexnet reads');
});

test('no validation or test images: one line saying so, before training (before: NaN% and exit 0)', async () => {
  assertError(alexnet(...TRAIN, '--data', DATA, '--limit', '100', '--val', '0', '--out', join(dir, 'v0')), 2, /^alexnet: --val: expected a positive integer, found "0"$/);
  assertError(alexnet(...TRAIN, '--data', DATA, '--limit', '5', '--out', join(dir, 'v5')), 1, /^alexnet: fashion-mnist:.*: no validation images to score each epoch on: give --val 1 or more, or a larger --limit/);
  // A test split whose only file is no image.
  const folder = join(dir, 'split');
  for (const c of ['a', 'b']) {
    mkdirSync(join(folder, 'train', c), { recursive: true });
    for (let i = 0; i < 3; i++) await png(join(folder, 'train', c, `${i}.png`), 40 * i);
  }
  mkdirSync(join(folder, 'test/a'), { recursive: true });
  writeFileSync(join(folder, 'test/a/bad.png'), 'not a png');
  assertError(alexnet(...TRAIN, '--data', `folder:${folder}`, '--batch', '2', '--val', '1', '--out', join(dir, 't0')), 1, /^alexnet: folder:.*split: no test images to evaluate on \(alexnet data inspect .* lists the files skipped\)$/);
});

test('a class folder whose images all fail to decode is the same error as one with no image names', async () => {
  const folder = join(dir, 'undecodable');
  mkdirSync(join(folder, 'good'), { recursive: true });
  mkdirSync(join(folder, 'bad'), { recursive: true });
  for (let i = 0; i < 3; i++) await png(join(folder, 'good', `${i}.png`), i);
  writeFileSync(join(folder, 'bad', 'x.png'), 'not a png');
  assertError(alexnet(...TRAIN, '--data', `folder:${folder}`, '--out', join(dir, 'u')), 1, /^alexnet: class folder .*undecodable\/bad has no usable images \(none of its files decodes: alexnet data inspect folder:.* --decode lists why\); every training class needs one at least$/);
  writeFileSync(join(folder, 'bad', 'x.png'), '');
  mkdirSync(join(folder, 'txt'));
  writeFileSync(join(folder, 'txt', 'notes.txt'), 'cats');
  assertError(alexnet(...TRAIN, '--data', `folder:${folder}`, '--out', join(dir, 'u2')), 1, /^alexnet: class folder .*undecodable\/txt has no usable images \(none of its files is named \.jpg, \.jpeg, \.png, \.webp\); every training class needs one at least$/);
});

test('--resume after the data changed warns on stderr, naming what changed', async () => {
  const folder = join(dir, 'growing');
  for (const c of ['a', 'b']) {
    mkdirSync(join(folder, c), { recursive: true });
    for (let i = 0; i < 10; i++) await png(join(folder, c, `${i}.png`), 20 * i + (c === 'a' ? 0 : 7));
  }
  const run = join(dir, 'growing-run');
  assert.equal(alexnet(...TRAIN, '--data', `folder:${folder}`, '--batch', '4', '--out', run).code, 0);
  const same = alexnet('train', '--resume', run, '--epochs', '2', '--no-report', '--backend', 'cpu');
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stderr, /data changed/);
  await png(join(folder, 'a', 'new.png'), 99);
  const changed = alexnet('train', '--resume', run, '--epochs', '3', '--no-report', '--backend', 'cpu');
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stderr, /warning: the data changed since the checkpoint was written \(train images \(17 -> 18\)\); training goes on with the data as it is now/);
});

test('a CIFAR-10 batch that is a directory, a forward input of the wrong channels, --input-scale 0', () => {
  const cifar = join(dir, 'cifar');
  mkdirSync(join(cifar, 'data_batch_1.bin'), { recursive: true });
  assertError(alexnet('data', 'inspect', `cifar10:${cifar}`), 1, /^alexnet: .*cifar\/data_batch_1\.bin: is a directory, expected a CIFAR-10 batch file$/);

  const weights = join(dir, 'mini.safetensors');
  const net = new Net(new CpuBackend(), architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  const input = join(dir, 'rgb.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [1, 3, 28, 28], data: new Float32Array(3 * 784) }]));
  return net.exportTensors().then((tensors) => {
    writeFileSync(weights, encodeSafetensors(tensors));
    const r = alexnet('forward', '--arch', 'mini', '--weights', weights, '--input', input, '--output', join(dir, 'y.safetensors'), '--backend', 'cpu');
    assertError(r, 1, new RegExp(`^alexnet: ${input}: tensor "input" has 3 channels, but the mini weights in ${weights} take 1 \\(conv1 weight \\[48, 1, 5, 5\\]\\)$`));
    assertError(alexnet(...TRAIN, '--data', DATA, '--input-scale', '0', '--out', join(dir, 's0')), 2, /^alexnet: --input-scale: expected a number > 0, found "0"$/);
  });
});

test('--precision and --loss-scale name what they take', () => {
  assertError(alexnet(...TRAIN, '--data', DATA, '--precision', 'half', '--out', join(dir, 'p1')), 2, /^alexnet: --precision: expected one of fp32, mixed, found "half"$/);
  assertError(alexnet(...TRAIN, '--data', DATA, '--precision', 'mixed', '--loss-scale', '1000', '--out', join(dir, 'p2')), 2, /^alexnet: --loss-scale: expected a power of two >= 1 \(scaling by it is exact\), found "1000"$/);
});

test('--tiles names the shapes it takes and the rule a spec breaks', () => {
  assertError(alexnet(...TRAIN, '--data', DATA, '--tiles', 'huge', '--out', join(dir, 't1')), 2, /^alexnet: --tiles: expected auto, skinny, narrow, square, wide, large or BMxBNxBK\/TMxTN; found "huge"$/);
  assertError(alexnet('bench', '--arch', 'mini', '--batch', '2', '--mode', 'infer', '--tiles', '64x64x16/3x4'), 2, /^alexnet: --tiles: tiles "64x64x16\/3x4" break the kernel's rules: TM and TN are multiples of 4/);
});
