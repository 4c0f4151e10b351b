// A model is scored only on data with its own classes: eval and ensembles refuse a model whose
// class names differ from the data's, and map by name when they are the same names in another
// order; a run records its data spec absolute, so a later eval from another working directory
// reads the same data; features and similar use --data with a checkpoint instead of ignoring it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadTrainedModel, predictTestSet, type LoadedModel } from '../src/eval/models.js';
import { readSafetensors } from '../src/io/files.js';
import { checkpointDir, latestCheckpoint } from '../src/train/checkpoint.js';
import { tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = realpathSync(mkdtempSync(join(tmpdir(), 'alexnet-classes-')));
const QUICK = ['--arch', 'mini', '--epochs', '1', '--backend', 'cpu', '--no-report', '--json'];

function alexnet(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000, cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A folder data set of 8 x 8 PNGs (train/ and test/): `count` per class and split, each class its own colour. */
async function folder(name: string, classes: string[], count = 4): Promise<string> {
  const root = join(dir, name);
  for (const split of ['train', 'test']) {
    for (const [k, c] of classes.entries()) {
      mkdirSync(join(root, split, c), { recursive: true });
      for (let i = 0; i < count; i++) {
        await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 60 * k, g: 30 * i, b: 200 - 60 * k } } }).png().toFile(join(root, split, c, `${i}.png`));
      }
    }
  }
  return `folder:${root}`;
}

test('eval --ensemble of models with other classes, and eval --checkpoint on data of other class names, are refused by name', async () => {
  const catsDogs = await folder('cats-dogs', ['cat', 'dog']);
  const catsEmus = await folder('cats-emus', ['cat', 'emu']);
  const [a, b] = [join(dir, 'run-a'), join(dir, 'run-b')];
  for (const [spec, run] of [[catsDogs, a], [catsEmus, b]]) assert.equal(alexnet(['train', ...QUICK, '--data', spec, '--batch', '2', '--val', '1', '--out', run]).code, 0);
  const refusal = `alexnet: ${b}: its model was trained on 2 classes ("cat", "emu"), ${catsDogs} has 2 ("cat", "dog"); "emu" is in one list only: ` +
    'a model is scored only on data with its own classes\n';
  // Before: rc 0 and a score, the two models' softmax averaged index by index.
  const ensemble = alexnet(['eval', '--ensemble', a, b, '--data', catsDogs, '--backend', 'cpu']);
  assert.equal(ensemble.stderr, refusal);
  assert.equal(ensemble.code, 1);
  assert.equal(ensemble.stdout, '');
  const one = alexnet(['eval', '--checkpoint', b, '--data', catsDogs, '--backend', 'cpu']);
  assert.equal(one.stderr, refusal);
  assert.equal(one.code, 1);
  const fewer = await folder('cats', ['cat', 'dog', 'emu']);
  const counted = alexnet(['eval', '--checkpoint', a, '--data', fewer, '--backend', 'cpu']);
  assert.equal(counted.stderr, `alexnet: ${a}: its model was trained on 2 classes ("cat", "dog"), ${fewer} has 3 ("cat", "dog", "emu"); "emu" is in one list only: a model is scored only on data with its own classes\n`);
  assert.equal(alexnet(['eval', '--checkpoint', a, '--data', catsDogs, '--backend', 'cpu']).code, 0);
});

test('a model whose classes are the data\'s in another order is mapped by name: the same predictions as the model itself', async () => {
  const spec = tinyFashionMnist(join(dir, 'fm-map'), 300, 40);
  const run = join(dir, 'run-map');
  assert.equal(alexnet(['train', ...QUICK, '--data', spec, '--batch', '50', '--val', '50', '--out', run]).code, 0);
  const model = await loadTrainedModel(run);
  // The same net with its classes (fc8's rows and their names) listed in reverse order.
  const order = model.model.classes.map((_, i, all) => all.length - 1 - i);
  const permute = (t: { name: string; shape: number[]; data: Float32Array }) => {
    const row = t.data.length / t.shape[0];
    const data = new Float32Array(t.data.length);
    order.forEach((from, to) => data.set(t.data.subarray(from * row, (from + 1) * row), to * row));
    return { ...t, data };
  };
  const reversed: LoadedModel = {
    ...model,
    source: `${run} (classes reversed)`,
    model: { ...model.model, classes: order.map((i) => model.model.classes[i]) },
    weights: new Map([...model.weights].map(([name, t]) => [name, name.startsWith('fc8.') ? permute(t) : t])),
  };
  const backend = new CpuBackend();
  const [own, mapped, both] = [await predictTestSet([model], spec, backend), await predictTestSet([reversed], spec, backend), await predictTestSet([model, reversed], spec, backend)];
  assert.deepEqual(mapped.classes, own.classes);
  // Before: the reversed model's softmax was read in its own order, as if it were the data's.
  let worst = 0;
  for (let i = 0; i < own.probs.length; i++) worst = Math.max(worst, Math.abs(mapped.probs[i] - own.probs[i]), Math.abs(both.probs[i] - own.probs[i]));
  assert.ok(worst < 1e-6, `the mapped model's probabilities differ from the model's by ${worst}`);
});

test('a relative --data is recorded absolute: eval from another working directory reads the same data', async () => {
  tinyFashionMnist(join(dir, 'rel', 'fm'), 120, 20);
  tinyFashionMnist(join(dir, 'elsewhere', 'fm'), 120, 30); // the same relative path from another directory: other data
  const run = join(dir, 'run-rel');
  const trained = alexnet(['train', ...QUICK, '--data', 'fashion-mnist:fm', '--batch', '50', '--val', '20', '--out', run], join(dir, 'rel'));
  assert.equal(trained.code, 0, trained.stderr);
  const state = JSON.parse(readFileSync(join(await latestCheckpoint(checkpointDir(run)), 'state.json'), 'utf8'));
  assert.equal(state.config.data, `fashion-mnist:${join(dir, 'rel', 'fm')}`);
  assert.equal(state.model.data, `fashion-mnist:${join(dir, 'rel', 'fm')}`);
  // Before: the recorded "fashion-mnist:fm" was read against the new working directory: 30 test images, another set.
  const evaluated = alexnet(['eval', '--checkpoint', run, '--backend', 'cpu', '--json'], join(dir, 'elsewhere'));
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal(JSON.parse(evaluated.stdout).n, 20);
});

test('features and similar of a checkpoint use --data when it is given (before: silently the training data)', async () => {
  const run = join(dir, 'run-rel');
  const other = tinyFashionMnist(join(dir, 'other-fm'), 30, 12);
  const out = join(dir, 'other.safetensors');
  const r = alexnet(['features', '--checkpoint', run, '--data', other, '--out', out, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote fc7 features \[12, \d+\] of /);
  const { tensors, metadata } = await readSafetensors(out);
  assert.deepEqual(tensors.get('labels')!.shape, [12]);
  assert.equal(metadata.data, other);
  // Its 30 training images are the bank (the run's own data has 100).
  const similar = alexnet(['similar', '--checkpoint', run, '--data', other, '--k', '50', '--backend', 'cpu', '--json']);
  assert.equal(similar.code, 0, similar.stderr);
  for (const line of similar.stdout.trim().split('\n')) assert.equal(JSON.parse(line).neighbours.length, 30, line);
});
