// What a command writes never takes what a user has: an output is never one of the command's
// inputs and never lies inside a data set the command uses, a run, a checkpoint, a cache or a
// sweep (io/outputs.ts, one rule for every command); and a folder that cannot be made (under
// /proc, where Node's recursive mkdir never returned) fails at once, in one line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { checkpointDir, latestCheckpoint } from '../src/train/checkpoint.js';
import { tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = realpathSync(mkdtempSync(join(tmpdir(), 'alexnet-outputs-')));

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit `code`, nothing on stdout, and stderr exactly `line`. */
function assertLine(r: ReturnType<typeof alexnet>, code: number, line: string) {
  assert.equal(r.stderr, `${line}\n`, `exit ${r.code}`);
  assert.equal(r.code, code);
  assert.equal(r.stdout, '');
}

/** The bytes of every file under `root`, by relative path: what a refused command must leave as it was. */
function tree(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(join(entry.parentPath, entry.name).slice(root.length), readFileSync(join(entry.parentPath, entry.name)));
  }
  return out;
}

async function writeWeights(path: string, shape: [number, number, number], classes: number): Promise<void> {
  const net = new Net(new CpuBackend(), architecture('mini', shape, classes), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  writeFileSync(path, encodeSafetensors(await net.exportTensors()));
}

const fmDir = join(dir, 'fm');
const FM = tinyFashionMnist(fmDir, 120, 20);
const weights = join(dir, 'mini.safetensors');
await writeWeights(weights, [1, 28, 28], 10);
const run = join(dir, 'run');
const trained = alexnet('train', '--arch', 'mini', '--data', FM, '--val', '20', '--batch', '50', '--epochs', '1', '--backend', 'cpu', '--no-report', '--json', '--out', run);
assert.equal(trained.code, 0, trained.stderr);
const checkpoint = await latestCheckpoint(checkpointDir(run));

test("features --out and similar --png over a data set's own file are refused, naming both; the file is kept", () => {
  const before = tree(fmDir);
  const images = join(fmDir, 't10k-images-idx3-ubyte');
  // Before: rc 0, and the test images just read were replaced by features.
  assertLine(alexnet('features', '--arch', 'mini', '--weights', weights, '--data', FM, '--out', images, '--backend', 'cpu'), 1,
    `alexnet: --out ${images}: lies inside the data set ${FM}, ${fmDir}; write the output elsewhere`);
  assertLine(alexnet('features', '--checkpoint', run, '--out', images, '--backend', 'cpu'), 1,
    `alexnet: --out ${images}: lies inside the data set ${FM}, ${fmDir}; write the output elsewhere`);
  const labels = join(fmDir, 'train-labels-idx1-ubyte');
  assertLine(alexnet('similar', '--arch', 'mini', '--weights', weights, '--data', FM, '--png', labels, '--backend', 'cpu'), 1,
    `alexnet: --png ${labels}: lies inside the data set ${FM}, ${fmDir}; write the output elsewhere`);
  assert.deepEqual(tree(fmDir), before);
});

test('an image of a folder data set is never an output (similar --png, features --out into its folders)', async () => {
  const folder = join(dir, 'folder');
  for (const c of ['cat', 'dog']) {
    mkdirSync(join(folder, c), { recursive: true });
    for (let i = 0; i < 3; i++) await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * i, g: c === 'cat' ? 0 : 200, b: 0 } } }).png().toFile(join(folder, c, `${i}.png`));
  }
  const rgb = join(dir, 'rgb.safetensors');
  await writeWeights(rgb, [3, 28, 28], 2);
  const before = tree(folder);
  const image = join(folder, 'cat', '0.png');
  assertLine(alexnet('similar', '--arch', 'mini', '--weights', rgb, '--data', `folder:${folder}`, '--png', image, '--backend', 'cpu'), 1,
    `alexnet: --png ${image}: lies inside the data set folder:${folder}, ${folder}; write the output elsewhere`);
  const inside = join(folder, 'dog', 'features.safetensors');
  assertLine(alexnet('features', '--arch', 'mini', '--weights', rgb, '--data', `folder:${folder}`, '--out', inside, '--backend', 'cpu'), 1,
    `alexnet: --out ${inside}: lies inside the data set folder:${folder}, ${folder}; write the output elsewhere`);
  assert.deepEqual(tree(folder), before);
});

test("export, import, forward and features never write into a run, its checkpoints or a checkpoint (a momenta file, state.json)", () => {
  const before = tree(run);
  const momenta = join(checkpoint, 'optimizer.safetensors');
  // Before: rc 0, and the run's momenta were replaced by other weights (its checksum then failed).
  assertLine(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'safetensors', '--out', momenta), 1,
    `alexnet: --out ${momenta}: lies inside the checkpoint ${checkpoint}; write the output elsewhere`);
  const state = join(checkpoint, 'state.json');
  assertLine(alexnet('features', '--checkpoint', run, '--out', state, '--limit', '4', '--backend', 'cpu'), 1,
    `alexnet: --out ${state}: lies inside the checkpoint ${checkpoint}; write the output elsewhere`);
  const pointer = join(checkpointDir(run), 'latest.json');
  assertLine(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', pointer), 1,
    `alexnet: --out ${pointer}: lies inside the run's checkpoints ${checkpointDir(run)}; write the output elsewhere`);
  const beside = join(run, 'model.onnx');
  assertLine(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', beside), 1,
    `alexnet: --out ${beside}: lies inside the training run ${run}; write the output elsewhere`);
  assertLine(alexnet('forward', '--arch', 'mini', '--weights', weights, '--input', weights, '--output', join(run, 'y.safetensors'), '--backend', 'cpu'), 1,
    `alexnet: --output ${join(run, 'y.safetensors')}: lies inside the training run ${run}; write the output elsewhere`);
  assert.deepEqual(tree(run), before);
  // Outside every run and data set, the same commands write.
  assert.equal(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', join(dir, 'model.onnx')).code, 0);
});

test('train --out and data prepare --out neither lie inside the data set nor hold it; nothing is created there', async () => {
  const before = tree(fmDir);
  const inside = join(fmDir, 'run');
  assertLine(alexnet('train', '--arch', 'mini', '--data', FM, '--val', '20', '--batch', '50', '--epochs', '1', '--backend', 'cpu', '--no-report', '--out', inside), 1,
    `alexnet: --out ${inside}: lies inside the data set ${FM}, ${fmDir}; write the output elsewhere`);
  assert.ok(!existsSync(inside));
  assert.deepEqual(tree(fmDir), before);

  // A folder data set named train, prepared into its parent: the cache's train/ split would be
  // written into the source's own folder, and a merge deletes train/ before writing it.
  const parent = join(dir, 'prep');
  const source = join(parent, 'train');
  for (const c of ['a', 'b']) {
    mkdirSync(join(source, c), { recursive: true });
    for (let i = 0; i < 2; i++) await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 60 * i, g: 9, b: 0 } } }).png().toFile(join(source, c, `${i}.png`));
  }
  const sourceBefore = tree(source);
  const spec = `folder:${source}`;
  assertLine(alexnet('data', 'prepare', spec, '--out', parent), 1, `alexnet: --out ${parent}: holds the data set ${spec}, ${source}; choose a folder outside it`);
  assertLine(alexnet('data', 'prepare', spec, '--out', join(source, 'cache')), 1,
    `alexnet: --out ${join(source, 'cache')}: lies inside the data set ${spec}, ${source}; write the output elsewhere`);
  assertLine(alexnet('data', 'prepare', spec, '--out', run), 1, `alexnet: --out ${run}: is a training run, not a prepared data cache; choose another folder`);
  assert.deepEqual(tree(source), sourceBefore);
  assert.equal(alexnet('data', 'prepare', spec, '--out', join(dir, 'cache'), '--side', '8').code, 0);
  assertLine(alexnet('train', '--arch', 'mini', '--data', FM, '--backend', 'cpu', '--out', join(dir, 'cache')), 1,
    `alexnet: --out ${join(dir, 'cache')}: is a prepared data cache, not a training run; choose another folder`);
});

test('--out under /proc (where mkdir makes no progress) fails at once in train, data prepare and sweep; before, each hung', () => {
  const out = '/proc/alexnet-outputs-test/run';
  assertLine(alexnet('train', '--arch', 'mini', '--data', FM, '--val', '20', '--batch', '50', '--epochs', '1', '--backend', 'cpu', '--out', out), 1,
    `alexnet: --out ${out}: cannot create the folder /proc/alexnet-outputs-test (ENOENT)`);
  const folder = join(dir, 'prep', 'train');
  assertLine(alexnet('data', 'prepare', `folder:${folder}`, '--out', out), 1, `alexnet: --out ${out}: cannot create the folder /proc/alexnet-outputs-test (ENOENT)`);
  const spec = join(dir, 'sweep.json');
  writeFileSync(spec, JSON.stringify({ train: { arch: 'mini', data: FM, epochs: 1 }, seeds: [1] }));
  assertLine(alexnet('sweep', spec, '--out', out), 1, `alexnet: --out ${out}: cannot create the folder /proc/alexnet-outputs-test (ENOENT)`);
});

test("a user's folder with its own state.json, latest.json, sweep.json or index.json is no run; a sweep is one", () => {
  const mine = join(dir, 'mine');
  mkdirSync(mine);
  for (const [file, text] of [['state.json', '{"config": {}}'], ['latest.json', '{"checkpoint": 3}'], ['sweep.json', '{}'], ['index.json', '{"format": "mine"}']]) {
    writeFileSync(join(mine, file), text);
  }
  const r = alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', join(mine, 'model.onnx'));
  assert.equal(r.code, 0, r.stderr);
  const spec = join(dir, 'sweep-spec.json');
  writeFileSync(spec, JSON.stringify({ train: { arch: 'mini', data: FM, epochs: 1 }, seeds: [1] }));
  const sweep = join(dir, 'sweep');
  assert.equal(alexnet('sweep', spec, '--out', sweep).code, 0);
  const inside = join(sweep, 'model.onnx');
  assertLine(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', inside), 1, `alexnet: --out ${inside}: lies inside the sweep ${sweep}; write the output elsewhere`);
});

test('an output in a folder named "..sub" inside a data set is inside it (not taken for a parent folder)', () => {
  const data = tinyFashionMnist(join(dir, 'fm2'), 60, 10);
  mkdirSync(join(dir, 'fm2', '..sub'));
  const inside = join(dir, 'fm2', '..sub', 'f.safetensors');
  assertLine(alexnet('features', '--arch', 'mini', '--weights', weights, '--data', data, '--out', inside, '--backend', 'cpu'), 1,
    `alexnet: --out ${inside}: lies inside the data set ${data}, ${join(dir, 'fm2')}; write the output elsewhere`);
  const beside = join(dir, 'f.safetensors');
  const r = alexnet('features', '--arch', 'mini', '--weights', weights, '--data', data, '--out', beside, '--limit', '2', '--backend', 'cpu');
  assert.equal(r.code, 0, r.stderr);
});
