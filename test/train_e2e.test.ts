// End to end on real data: the mini net trained briefly on the bundled Fashion-MNIST subset
// learns (loss falls well below chance, test accuracy far above 10%), its weights round-trip
// through the saved files, and the same seed gives the same run; ten-crop evaluation, and the
// predict, similar and features commands on that run, and ensembles; and ten-crop on the paper
// net's 227 from 256, against crops cut by hand.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdirSync, mkdtempSync } from 'node:fs';
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
import { evaluateModels, loadTrainedModel, loadWeightsFile, modelInput, predictTestSet, testData, type LoadedModel } from '../src/eval/models.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import type { Dataset } from '../src/data/dataset.js';
import { imageOf } from '../src/eval/predict.js';
import { Rng } from '../src/rng/hash.js';
import { dataPreprocessing } from '../src/data/preprocessing.js';
import { ensemblePicks, testLogits } from './ensemble_check.js';

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
  const model = await loadTrainedModel(out);
  const again = await evaluateModels([model], config(out).data, new CpuBackend());
  assert.equal(again.top1, result.top1);
  assert.equal(again.top5, result.top5);
  // Both equal top-1 and top-5 found by sorting each image's probabilities (rows that sum to 1).
  const p = await predictTestSet([model], config(out).data, new CpuBackend());
  const hits = [0, 0];
  for (let i = 0; i < p.n; i++) {
    const row = p.probs.subarray(i * 10, (i + 1) * 10);
    assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) <= 1e-5, `image ${i}: probabilities sum to 1`);
    const rank = [...row.keys()].sort((a, b) => row[b] - row[a]).indexOf(p.labels[i]);
    hits[0] += rank < 1 ? 1 : 0;
    hits[1] += rank < 5 ? 1 : 0;
  }
  assert.deepEqual([result.top1, result.top5], [hits[0] / p.n, hits[1] / p.n]);
  assert.ok(result.top5 > result.top1, `top-5 ${result.top5} should exceed top-1 ${result.top1}`);
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
  const data = await testData(spec, { ...modelInput(model.model), batch: 20 });
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

test("ten-crop on the paper net: the corners, centre and mirror images of 227 in 256, softmax averaged", async () => {
  // A folder data set of noise images (300 x 260: scaled to 295 x 256, then its centre 256 kept).
  const root = mkdtempSync(join(tmpdir(), 'alexnet-ten-crop-'));
  const rng = new Rng(8);
  for (const [split, count] of [['train', 2], ['test', 1]] as const) {
    for (const name of ['a', 'b']) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (let i = 0; i < count; i++) {
        const noise = Buffer.from(Array.from({ length: 300 * 260 * 3 }, () => rng.below(256)));
        await sharp(noise, { raw: { width: 300, height: 260, channels: 3 } }).png().toFile(join(root, split, name, `${i}.png`));
      }
    }
  }
  const spec = `folder:${root}`;
  const scale = 1 / 64;
  const data = await testData(spec, { crop: 227, preprocessing: dataPreprocessing(3, scale), batch: 1 });
  await data.close();
  const backend = new CpuBackend();
  const net = new Net(backend, architecture('paper', undefined, 2), 10);
  net.initialize({ scheme: 'he', seed: 3 });
  const model: LoadedModel = {
    source: 'a random paper net', weightsPath: 'memory', weights: new Map((await net.exportTensors()).map((t) => [t.name, t])),
    model: { arch: 'paper', input: [3, 227, 227], classes: data.classes, data: spec, scale, channelMean: data.stats.channelMean },
  };
  const ten = await predictTestSet([model], spec, backend, { batch: 1, tenCrop: true });
  assert.equal(ten.n, 2);
  // By hand: top-left, top-right, bottom-left, bottom-right and centre (offset 14), then the five
  // mirrored, each minus the mean image, through the same net; each view's softmax, averaged.
  const [S, K] = [256, 227];
  const mean = data.stats.meanImage;
  const image = new Uint8Array(3 * S * S);
  for (let i = 0; i < 2; i++) {
    data.sets.test.readImage(i, image);
    const crops = new Float32Array(10 * 3 * K * K);
    let o = 0;
    for (const flip of [false, true]) {
      for (const [x0, y0] of [[0, 0], [S - K, 0], [0, S - K], [S - K, S - K], [14, 14]]) {
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < K; y++) {
            for (let x = 0; x < K; x++) {
              const at = c * S * S + (y0 + y) * S + x0 + (flip ? K - 1 - x : x);
              crops[o++] = (image[at] - mean[at]) * scale;
            }
          }
        }
      }
    }
    backend.write(net.input, crops);
    net.forward(10, 'eval');
    const logits = await net.readLogits(10);
    const views = Array.from({ length: 10 }, (_, v) => {
      const [a, b] = [logits[2 * v], logits[2 * v + 1]];
      return 1 / (1 + Math.exp(b - a)); // the softmax of class a
    });
    const want = views.reduce((s, p) => s + p, 0) / 10;
    assert.ok(Math.abs(ten.probs[2 * i] - want) <= 1e-6, `image ${i}: ten-crop P(a) ${ten.probs[2 * i]}, by hand ${want}`);
    assert.ok(Math.abs(ten.probs[2 * i] + ten.probs[2 * i + 1] - 1) <= 1e-6, `image ${i}: probabilities sum to 1`);
    assert.ok(Math.max(...views) - Math.min(...views) > 1e-3, `image ${i}: the ten views should give different outputs: ${views}`);
  }
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
  const data = await testData(config(trained).data, { ...modelInput(model.model), batch: 64 });
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

test("an ensemble averages its models' softmax outputs (the paper's 5-net figures), not their logits", async () => {
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
  const both = await predictTestSet([a, b], spec, backend);

  // Worked out apart from eval's code: each model's logits from its own Net, softmax averaged.
  // Averaging the logits instead picks other classes for some images; eval must pick the
  // softmax's (except where the softmax's first two classes are within float32 rounding).
  const picks = ensemblePicks([await testLogits(a, spec, backend), await testLogits(b, spec, backend)]);
  const clear = picks.margin.map((m) => m > 1e-5);
  const telling = picks.bySoftmax.filter((c, i) => clear[i] && c !== picks.byLogits[i]).length;
  console.log(`ensemble of a trained and a fresh mini: softmax and logit averaging pick different classes for ${telling} of ${both.n} images`);
  assert.ok(telling > 0, 'these two models cannot tell softmax averaging from logit averaging');
  for (let i = 0; i < both.n; i++) {
    const row = Array.from(both.probs.subarray(i * 10, (i + 1) * 10));
    const got = row.indexOf(Math.max(...row));
    if (clear[i]) assert.equal(got, picks.bySoftmax[i], `image ${i}: the ensemble picks class ${got}; averaged softmax ${picks.bySoftmax[i]}, averaged logits ${picks.byLogits[i]}`);
  }
  // Each probability is the mean of the models' own.
  const [pa, pb] = [await predictTestSet([a], spec, backend), await predictTestSet([b], spec, backend)];
  for (let i = 0; i < both.probs.length; i += 97) assert.ok(Math.abs(both.probs[i] - (pa.probs[i] + pb.probs[i]) / 2) <= 1e-6, `probability ${i}`);
  const summary = await evaluateModels([a, b], spec, backend);
  assert.equal(summary.models, 2);
  const near = clear.filter((c) => !c).length;
  assert.ok(Math.abs(summary.top1 - picks.top1) <= near / both.n, `ensemble top-1 ${summary.top1}, averaged softmax ${picks.top1}`);
  // The CLI's --ensemble of one run twice is that run.
  const twice = JSON.parse(cli('eval', '--ensemble', trained, trained, '--data', spec, '--json'));
  const once = await evaluateModels([a], spec, backend);
  assert.equal(twice.models, 2);
  assert.equal(twice.top1, once.top1);
});
