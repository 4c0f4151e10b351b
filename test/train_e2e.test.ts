// End to end on real data: the mini net trained briefly on the bundled Fashion-MNIST subset
// learns (loss falls well below chance, test accuracy far above 10%), its weights round-trip
// through the saved files, and the same seed gives the same run; ten-crop evaluation, and the
// predict, similar and features commands on that run, and ensembles.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { readSafetensors, writeSafetensors } from '../src/io/files.js';
import { train, type TrainConfig, type TrainEvent } from '../src/train/trainer.js';
import { softmax } from '../src/backend/cpu/loss.js';
import { evaluateModels, loadTrainedModel, loadWeightsFile, predictTestSet, testData } from '../src/eval/models.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import type { Dataset } from '../src/data/dataset.js';
import { imageOf } from '../src/eval/predict.js';

const config = (out: string): TrainConfig => ({
  arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 1, batch: 32, lr: 0.01, momentum: 0.9,
  weightDecay: 5e-4, sgdForm: 'paper', seed: 5, validation: 500, limit: 3500, schedule: 'constant', checkpointEvery: 0, out,
});

test('mini learns Fashion-MNIST: loss falls, test top-1 well above chance, weights saved', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-e2e-'));
  const events: TrainEvent[] = [];
  const result = await train(config(out), new CpuBackend(), (e) => events.push(e));
  const steps = events.filter((e) => e.event === 'step').map((e) => (e as { loss: number }).loss);
  const first = steps.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = steps.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < 0.7 * first, `loss should fall: first steps ${first.toFixed(3)}, last ${last.toFixed(3)}`);
  assert.ok(result.top1 >= 0.4, `test top-1 ${result.top1} should be >= 0.4 (chance: 0.1) after 3,000 images`);
  const done = events.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.equal(done.event, 'done');
  assert.equal(done.test_top1, result.top1);
  const { tensors } = await readSafetensors(join(done.checkpoint, 'weights.safetensors'));
  assert.deepEqual(tensors.get('conv2.weight')?.shape, [96, 24, 5, 5]);
  const saved = JSON.parse(await readFile(join(done.checkpoint, 'state.json'), 'utf8'));
  assert.equal(saved.model.arch, 'mini');
  assert.equal(saved.model.classes.length, 10);
  assert.equal(saved.epoch, 1);
  // Evaluating the saved run reproduces the accuracy training reported.
  const again = await evaluateModels([await loadTrainedModel(out)], config(out).data, new CpuBackend());
  assert.equal(again.top1, result.top1);
  assert.equal(again.top5, result.top5);
  trained = out;
});

let trained = '';

test("ten-crop evaluation averages the softmax of each test image's ten views", async () => {
  assert.ok(trained, 'needs the run of the test above');
  const model = await loadTrainedModel(trained);
  const spec = config(trained).data;
  const backend = new CpuBackend();
  const ten = await predictTestSet([model], spec, backend, { batch: 50, tenCrop: true });
  const centre = await predictTestSet([model], spec, backend, { batch: 50 });
  assert.equal(ten.n, centre.n);
  // Stored 28x28, crops 28: the four corners and the centre are the image itself, and the other
  // five views its mirror image; so ten-crop is the mean of the image's and the mirror's softmax.
  const data = await testData(spec, { crop: 28, scale: model.model.scale, batch: 20 });
  const net = new Net(backend, architecture('mini'), 20);
  net.importTensors(model.weights, model.weightsPath);
  const first = (await data.test.epoch(0).next()).value!;
  await data.close();
  const softmaxOf = async (input: Float32Array) => {
    backend.write(net.input, input);
    net.forward(20, 'eval');
    const p = await net.readLogits(20);
    softmax(20, 10, p, p);
    return p;
  };
  const plain = await softmaxOf(first.input);
  const mirrored = new Float32Array(first.input.length);
  for (let row = 0; row < mirrored.length / 28; row++) for (let x = 0; x < 28; x++) mirrored[row * 28 + x] = first.input[row * 28 + 27 - x];
  const mirror = await softmaxOf(mirrored);
  for (let i = 0; i < 200; i++) {
    assert.ok(Math.abs(plain[i] - centre.probs[i]) <= 1e-6, `centre probability ${i}`);
    assert.ok(Math.abs((plain[i] + mirror[i]) / 2 - ten.probs[i]) <= 1e-6, `ten-crop probability ${i}: ${ten.probs[i]}, expected ${(plain[i] + mirror[i]) / 2}`);
  }
  const differs = ten.probs.some((p, i) => Math.abs(p - centre.probs[i]) > 1e-3);
  assert.ok(differs, 'the mirrored views change some probabilities');
});

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [MAIN, ...args, '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Image `i` of `set` as a grey PNG file. */
async function pngOf(set: Dataset, i: number, path: string): Promise<string> {
  const [, h, w] = set.shape;
  await sharp(Buffer.from(imageOf(set, i)), { raw: { width: w, height: h, channels: 1 } }).png().toFile(path);
  return path;
}

test('predict, similar and features on image files and splits agree with the library', async () => {
  assert.ok(trained, 'needs the run of the first test');
  const model = await loadTrainedModel(trained);
  const data = await testData(config(trained).data, { crop: 28, scale: model.model.scale, batch: 64 });
  const { train: trainSet, test: testSet } = data.sets;
  await data.close();
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-predict-'));
  // A test image saved as a PNG is predicted as the test set evaluation saw it.
  const file = await pngOf(testSet, 0, join(dir, 'test0.png'));
  const predicted = JSON.parse(cli('predict', '--checkpoint', trained, file, '--json'));
  const probs = (await predictTestSet([model], config(trained).data, new CpuBackend())).probs.subarray(0, 10);
  assert.equal(predicted.file, file);
  assert.equal(predicted.top.length, 5);
  for (const t of predicted.top) assert.ok(Math.abs(t.probability - probs[t.class]) <= 1e-6, `${t.name}: ${t.probability} vs ${probs[t.class]}`);
  assert.equal(predicted.top[0].class, probs.indexOf(Math.max(...probs)));
  // A training image's nearest training image is itself, at distance 0.
  const query = await pngOf(trainSet, 3, join(dir, 'train3.png'));
  const similar = JSON.parse(cli('similar', '--checkpoint', trained, query, '--k', '3', '--bank', '200', '--json', '--png', join(dir, 'grid.png')));
  assert.equal(similar.neighbours.length, 3);
  assert.equal(similar.neighbours[0].index, 3);
  assert.ok(similar.neighbours[0].distance <= 1e-3);
  assert.ok(similar.neighbours[1].distance >= similar.neighbours[0].distance);
  const grid = await sharp(join(dir, 'grid.png')).metadata();
  assert.ok(grid.width! > 4 * 28 && grid.height! >= 28, `grid ${grid.width}x${grid.height}`);
  // Features: fc7 (512 wide in mini) of the first 30 test images, with their labels.
  cli('features', '--checkpoint', trained, '--limit', '30', '--out', join(dir, 'f.safetensors'));
  const { tensors } = await readSafetensors(join(dir, 'f.safetensors'));
  assert.deepEqual(tensors.get('features')?.shape, [30, 512]);
  assert.deepEqual([...tensors.get('labels')!.data], Array.from({ length: 30 }, (_, i) => testSet.label(i)));
  assert.ok(tensors.get('features')!.data.every((v) => v >= 0), 'fc7 is read after its ReLU');
});

test("an ensemble averages its models' softmax outputs (the paper's 5-net figures)", async () => {
  assert.ok(trained, 'needs the run of the first test');
  const spec = config(trained).data;
  const backend = new CpuBackend();
  const a = await loadTrainedModel(trained);
  // A second, different model: the same net freshly initialised, as a weights file.
  const net = new Net(backend, architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 99 });
  const file = join(mkdtempSync(join(tmpdir(), 'alexnet-ens-')), 'other.safetensors');
  await writeSafetensors(file, await net.exportTensors());
  const b = await loadWeightsFile(file, 'mini', spec);
  const [pa, pb, both] = [await predictTestSet([a], spec, backend), await predictTestSet([b], spec, backend), await predictTestSet([a, b], spec, backend)];
  for (let i = 0; i < both.probs.length; i += 97) assert.ok(Math.abs(both.probs[i] - (pa.probs[i] + pb.probs[i]) / 2) <= 1e-6, `probability ${i}`);
  const summary = await evaluateModels([a, b], spec, backend);
  assert.equal(summary.models, 2);
  // The CLI's --ensemble of one run twice is that run.
  const twice = JSON.parse(cli('eval', '--ensemble', trained, trained, '--data', spec, '--json'));
  const once = await evaluateModels([a], spec, backend);
  assert.equal(twice.models, 2);
  assert.equal(twice.top1, once.top1);
});
