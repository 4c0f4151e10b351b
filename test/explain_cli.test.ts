// `alexnet explain` and `alexnet units` on the mini net: the pictures and raw maps they write,
// the same maps from an image file and from its preprocessed input tensor, the grid of top
// images, and one-line errors (exit 2 for usage, 1 for a bad file).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { loadWeightsFile } from '../src/eval/models.js';
import { jobFromFiles } from '../src/explain/files.js';
import { readSafetensors } from '../src/io/files.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { loadFashionMnist } from '../src/data/source.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-explain-'));
const weights = join(dir, 'mini.safetensors');
const png = join(dir, 'boot.png');

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const model = ['--weights', weights, '--arch', 'mini', '--data', DATA, '--backend', 'cpu'];

test.before(async () => {
  const net = new Net(new CpuBackend(), architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 4 });
  writeFileSync(weights, encodeSafetensors(await net.exportTensors()));
  const { test: images } = await loadFashionMnist(BUNDLED_FASHION_MNIST);
  await sharp(Buffer.from(images.images.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
});

const size = async (file: string) => {
  const m = await sharp(file).metadata();
  return [m.width, m.height];
};

test('explain --method all: a PNG per method, conv layer grids, the raw maps; --input of the same image gives the same maps', async () => {
  const out = join(dir, 'out');
  const maps = join(dir, 'maps.safetensors');
  const r = alexnet('explain', ...model, png, '--method', 'all', '--out', out, '--save', maps, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.image, png);
  assert.deepEqual([s.occlusion.rows, s.occlusion.cols, s.occlusion.patch, s.occlusion.stride], [13, 13, 4, 2]);
  assert.deepEqual(s.gradcam, { layer: 'conv5', rows: 6, cols: 6 });
  assert.deepEqual(s.files, ['activations.conv1', 'activations.conv2', 'activations.conv3', 'activations.conv4', 'activations.conv5', 'occlusion', 'saliency', 'gradcam'].map((f) => `boot.${f}.png`));
  for (const f of ['occlusion', 'saliency', 'gradcam']) assert.deepEqual(await size(join(out, `boot.${f}.png`)), [224, 224], f);
  assert.deepEqual(await size(join(out, 'boot.activations.conv1.png')), [7 * (4 * 28 + 4) + 4, 7 * (4 * 28 + 4) + 4], '48 maps, 7 a row');
  const { tensors, metadata } = await readSafetensors(maps);
  assert.deepEqual(
    [...tensors.values()].filter((t) => !t.name.startsWith('activations.')).map((t) => [t.name, t.shape]),
    [['occlusion', [13, 13]], ['saliency', [28, 28]], ['gradcam', [6, 6]]],
  );
  assert.deepEqual(tensors.get('activations.conv1')!.shape, [48, 28, 28]);
  assert.equal(metadata.class, String(s.class));

  // The same image as a preprocessed tensor: the maps are the same numbers.
  const job = await jobFromFiles(await loadWeightsFile(weights, 'mini', DATA), [png], new CpuBackend(), 1);
  const input = join(dir, 'input.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [1, 1, 28, 28], data: job.images[0].input }]));
  const again = join(dir, 'again.safetensors');
  const r2 = alexnet('explain', '--weights', weights, '--arch', 'mini', '--backend', 'cpu', '--input', input, '--method', 'all', '--out', out, '--save', again, '--json');
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(JSON.parse(r2.stdout).class, s.class);
  const second = (await readSafetensors(again)).tensors;
  assert.deepEqual([...second.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) assert.deepEqual(second.get(name)!.data, t.data, name);
  assert.ok(existsSync(join(out, 'input.gradcam.png')));
});

test('units: the k strongest test images of the units asked for, one grid row each', async () => {
  const grid = join(dir, 'units.png');
  const r = alexnet('units', ...model, '--layer', 'conv5', '--k', '3', '--units', '0-3,7', '--limit', '200', '--out', grid, '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((u) => u.unit), [0, 1, 2, 3, 7]);
  for (const u of rows) {
    assert.equal(u.top.length, 3);
    assert.ok(u.top[0].value >= u.top[1].value && u.top[1].value >= u.top[2].value);
    assert.ok(u.top.every((t: { image: number }) => t.image < 200));
  }
  // Tiles as large as the largest receptive box (at most the 28-pixel image), drawn at 2x, 2-pixel gaps.
  const [width, height] = await size(grid);
  const tile = (height! - 2) / 5 - 2;
  assert.ok(Number.isInteger(tile) && tile <= 56 && tile >= 40, `tile ${tile}`);
  assert.equal(width, 3 * (tile + 2) + 2);
});

test('explain and units: bad options and inputs are one line, exit 2 (usage) or 1 (a file)', async () => {
  const out = join(dir, 'bad');
  const oneLine = (r: ReturnType<typeof alexnet>, code: number, pattern: RegExp) => {
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  oneLine(alexnet('explain', ...model, '--method', 'all', '--out', out), 2, /give image files or --input X\.safetensors/);
  oneLine(alexnet('explain', ...model, png, '--method', 'gradcam,heat', '--out', out), 2, /--method: expected activations, occlusion, saliency, gradcam or all \(comma-separated\), found "heat"/);
  oneLine(alexnet('explain', ...model, png, png, '--method', 'saliency', '--out', out, '--save', join(dir, 'm.safetensors')), 2, /--save: one image at a time/);
  oneLine(alexnet('explain', ...model, png, '--method', 'gradcam', '--layer', 'fc6', '--out', out), 2, /layer "fc6": the mini net has no such conv layer/);
  oneLine(alexnet('explain', ...model, png, '--method', 'occlusion', '--patch', '40', '--out', out), 2, /patch 40: expected an integer in 1\.\.28/);
  const rgb = join(dir, 'rgb.safetensors');
  writeFileSync(rgb, encodeSafetensors([{ name: 'input', shape: [1, 3, 28, 28], data: new Float32Array(3 * 784) }]));
  oneLine(alexnet('explain', '--weights', weights, '--arch', 'mini', '--backend', 'cpu', '--input', rgb, '--method', 'saliency', '--out', out), 1, /rgb\.safetensors: tensor "input" has 3 channels, but the mini weights in .* take 1/);
  oneLine(alexnet('units', ...model, '--units', '5-2', '--out', join(dir, 'u.png')), 2, /--units: expected unit numbers and ranges such as 0-15/);
  oneLine(alexnet('units', ...model, '--units', '96', '--limit', '10', '--out', join(dir, 'u.png')), 2, /unit 96: conv5 has units 0\.\.95/);
});
