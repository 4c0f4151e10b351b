// Fine-tuning through the command line (alexnet train --from): a mini net trained on grey
// Fashion-MNIST taught three classes of colour photos (a folder), its conv layers frozen; what the
// checkpoint holds and records; resume, eval, predict, export and the report on the fine-tuned
// run; the kept-features path against the plain one; a torchvision .pth and a Caffe .caffemodel
// as sources; and the options' errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { readSafetensors } from '../src/io/files.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { describe, encode } from './caffe_fixture.js';
import { PYTHON, tinyFashionMnist, torchSkip } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-finetune-'));
const PHOTO_CLASSES = ['apple', 'kiwi', 'plum'];
const CONV = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5'];

function alexnet(args: string[], expectStatus = 0) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd: root });
  assert.equal(r.status, expectStatus, `alexnet ${args.join(' ')}\n${r.stderr}`);
  return r;
}

/** A 36x36 colour picture whose hue and stripes say its class, with noise per image. */
function photo(cls: number, i: number): Promise<Buffer> {
  const side = 36;
  const pixels = Buffer.alloc(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const stripe = (x + (cls + 1) * y) % (3 + cls) === 0 ? 90 : 0;
      const at = (y * side + x) * 3;
      pixels[at + (cls % 3)] = 150 + stripe / 2 + ((x * 7 + i * 11) % 25);
      pixels[at + ((cls + 1) % 3)] = (stripe + ((y * 3 + i) % 30)) % 256;
      pixels[at + ((cls + 2) % 3)] = (i * 5) % 40;
    }
  }
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
}

async function photoFolder(dir: string, perClass: Record<'train' | 'test', number>): Promise<string> {
  for (const split of ['train', 'test'] as const) {
    for (const [c, name] of PHOTO_CLASSES.entries()) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < perClass[split]; i++) writeFileSync(join(dir, split, name, `${i}.jpg`), await photo(c, i + (split === 'test' ? 100 : 0)));
    }
  }
  return `folder:${dir}`;
}

/** A .caffemodel of `archName` with fresh He weights drawn from `seed`, written into the test folder as `name`; its path and tensors by name. */
async function writeCaffemodel(archName: string, seed: number, name: string): Promise<{ path: string; tensors: Map<string, NamedTensor> }> {
  const arch = architecture(archName);
  const net = new Net(new CpuBackend(), arch, 1);
  net.initialize({ scheme: 'he', seed });
  const tensors = await net.exportTensors();
  const path = join(root, name);
  writeFileSync(path, encode(describe(arch, tensors), false));
  return { path, tensors: new Map(tensors.map((t) => [t.name, t])) };
}

const tensorsOf = async (checkpoint: string, file: string) => (await readSafetensors(join(checkpoint, file))).tensors;
const checkpointOf = (run: string) => join(run, 'checkpoints', JSON.parse(readFileSync(join(run, 'checkpoints', 'latest.json'), 'utf8')).checkpoint);
const stateOf = (run: string) => JSON.parse(readFileSync(join(checkpointOf(run), 'state.json'), 'utf8'));

let source = '';
let photos = '';
test('a source: the mini net trained one epoch on 600 Fashion-MNIST images', async () => {
  const fashion = tinyFashionMnist(join(root, 'fashion'), 600, 200);
  alexnet(['train', '--arch', 'mini', '--data', fashion, '--epochs', '1', '--batch', '32', '--val', '100', '--backend', 'cpu', '--no-report', '--out', 'source']);
  source = join(root, 'source');
  photos = await photoFolder(join(root, 'photos'), { train: 14, test: 4 });
});

test('train --from a run, --freeze conv5: a new fc8 for the photos\' 3 classes; frozen layers bit-identical over 25 steps, no momenta for them', async () => {
  const r = alexnet(['train', '--from', source, '--data', photos, '--freeze', 'conv5', '--epochs', '5', '--batch', '8', '--val', '6', '--backend', 'cpu', '--json', '--out', 'tuned']);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.at(-1).event, 'done');
  assert.match(r.stderr, /fine-tuned from .*source \(run, SHA-256 [0-9a-f]{16}\.\.\.\): layers up to conv5 frozen, a new fc8 for the data's classes at 10x the rate/);
  const run = join(root, 'tuned');
  const state = stateOf(run);
  assert.equal(state.step, 25, '36 training images, batch 8: 5 steps an epoch');
  // The source and how it was used, recorded with the run.
  const sourceWeights = readFileSync(join(checkpointOf(source), 'weights.safetensors'));
  assert.equal(state.config.fineTune.source.sha256, createHash('sha256').update(sourceWeights).digest('hex'));
  assert.equal(state.config.fineTune.source.name, source);
  assert.equal(state.config.fineTune.newLast, true);
  assert.equal(state.config.lr, 0.001, "Caffe's fine-tuning rate by default");
  assert.deepEqual(state.model.classes, PHOTO_CLASSES);
  assert.deepEqual(state.model.input, [1, 28, 28], 'the grey source keeps one input channel: the photos are turned grey');
  assert.equal(state.model.preprocessing.mean.length, 1, "the source's channel mean");
  const before = await tensorsOf(checkpointOf(source), 'weights.safetensors');
  const after = await tensorsOf(checkpointOf(run), 'weights.safetensors');
  for (const layer of CONV) assert.deepEqual(after.get(`${layer}.weight`)!.data, before.get(`${layer}.weight`)!.data, `${layer} is frozen`);
  for (const layer of ['fc6', 'fc7']) assert.notDeepEqual(after.get(`${layer}.weight`)!.data, before.get(`${layer}.weight`)!.data, `${layer} trains`);
  assert.deepEqual(after.get('fc8.weight')!.shape, [3, 512]);
  const momenta = await tensorsOf(checkpointOf(run), 'optimizer.safetensors');
  assert.deepEqual([...momenta.keys()].sort(), ['fc6.bias', 'fc6.weight', 'fc7.bias', 'fc7.weight', 'fc8.bias', 'fc8.weight']);
  const report = readFileSync(join(run, 'report', 'index.html'), 'utf8');
  assert.match(report, /Fine-tuned from .*source \(run, SHA-256 [0-9a-f]{16}\.\.\.\)/);
  assert.match(report, /Preprocessing: the channel mean of .*source's training data\./);
});

test('a fine-tuned run resumes, and eval, ensembles, predict, explain and export work on it with its own classes', async () => {
  const run = join(root, 'tuned');
  const frozen = (await tensorsOf(checkpointOf(run), 'weights.safetensors')).get('conv3.weight')!.data;
  alexnet(['train', '--resume', run, '--epochs', '6', '--backend', 'cpu', '--no-report']);
  assert.equal(stateOf(run).step, 30);
  assert.deepEqual((await tensorsOf(checkpointOf(run), 'weights.safetensors')).get('conv3.weight')!.data, frozen, 'still frozen after the resume');
  const evaluated = JSON.parse(alexnet(['eval', '--checkpoint', run, '--backend', 'cpu', '--json']).stdout);
  assert.equal(evaluated.n, 12);
  assert.ok(evaluated.top1 > 1 / 3, `the photos' classes are learnt: test top-1 ${evaluated.top1}`);
  const predicted = JSON.parse(alexnet(['predict', '--checkpoint', run, '--backend', 'cpu', '--json', join(root, 'photos', 'test', 'kiwi', '0.jpg')]).stdout);
  assert.deepEqual(predicted.top.map((t: { name: string }) => t.name).sort(), PHOTO_CLASSES);
  alexnet(['export', '--arch', 'mini', '--weights', join(checkpointOf(run), 'weights.safetensors'), '--format', 'onnx', '--out', 'tuned.onnx']);
  // An ensemble of the run with itself scores as the run; explain names the photos' classes.
  const ensemble = JSON.parse(alexnet(['eval', '--ensemble', run, run, '--backend', 'cpu', '--json']).stdout);
  assert.deepEqual([ensemble.n, ensemble.top1], [evaluated.n, evaluated.top1]);
  const explained = JSON.parse(alexnet(['explain', '--checkpoint', run, join(root, 'photos', 'test', 'kiwi', '0.jpg'), '--method', 'gradcam,saliency', '--out', 'seen', '--backend', 'cpu', '--json']).stdout);
  assert.ok(PHOTO_CLASSES.includes(explained.name), explained.name);
  assert.deepEqual(explained.files.length, 2);
});

test('kept features (--freeze fc7 --augment none) give the same weights as running every layer', async () => {
  const common = ['train', '--from', source, '--data', photos, '--freeze', 'fc7', '--augment', 'none', '--epochs', '3', '--batch', '8', '--val', '6', '--backend', 'cpu', '--no-report'];
  alexnet([...common, '--out', 'kept']);
  alexnet([...common, '--no-cache-features', '--out', 'unkept']);
  const kept = await tensorsOf(checkpointOf(join(root, 'kept')), 'weights.safetensors');
  const unkept = await tensorsOf(checkpointOf(join(root, 'unkept')), 'weights.safetensors');
  for (const [name, t] of unkept) assert.deepEqual(kept.get(name)!.data, t.data, name);
  const fc8 = (await tensorsOf(checkpointOf(source), 'weights.safetensors')).get('fc7.weight')!.data;
  assert.deepEqual(kept.get('fc7.weight')!.data, fc8, 'fc7 frozen');
});

test('fine-tuning options: refused alone, with --resume, or naming a layer that is not there (exit 2, before any work)', () => {
  const cases: [string[], RegExp][] = [
    [['--freeze', 'conv5'], /alexnet: --freeze goes with --from \(fine-tuning a trained model\)/],
    [['--lr-mult-new', '5'], /alexnet: --lr-mult-new goes with --from/],
    [['--from', source, '--resume', source], /alexnet: --from starts a new run from a trained model; --resume continues a run: give one of them/],
    [['--from', source, '--freeze', 'fc8'], /alexnet: --freeze fc8: that freezes every layer, leaving nothing to train; the last you can freeze is fc7/],
    [['--from', source, '--freeze', 'pool5'], /alexnet: --freeze pool5: the mini net has no layer of that name; expected one of conv1, conv2, conv3, conv4, conv5, fc6, fc7/],
    [['--from', source, '--arch', 'paper'], /alexnet: --from .*source: a run of the mini net, not paper; leave out --arch/],
  ];
  for (const [args, message] of cases) {
    const r = alexnet(['train', ...args, '--data', photos, '--out', 'never'], 2);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('train --from a torchvision .pth (written by torchvision, random weights) on a folder of photos: trains, evaluates, predicts and exports with the new classes', { skip: torchSkip() }, async () => {
  const pth = join(root, 'alexnet.pth');
  const made = spawnSync(PYTHON, ['-c', `import torch, torchvision\ntorch.manual_seed(0)\ntorch.save(torchvision.models.alexnet().state_dict(), ${JSON.stringify(pth)})`], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const r = alexnet(['train', '--from', pth, '--data', photos, '--freeze', 'fc7', '--augment', 'none', '--epochs', '2', '--batch', '8', '--val', '6', '--backend', 'cpu', '--no-report', '--out', 'tv']);
  assert.match(r.stdout, /training torchvision \(57\.02 M parameters\) on folder:/, 'the architecture comes from the file');
  const run = join(root, 'tv');
  const state = stateOf(run);
  assert.equal(state.config.fineTune.source.format, 'pth');
  assert.equal(state.config.fineTune.source.sha256, createHash('sha256').update(readFileSync(pth)).digest('hex'));
  assert.deepEqual(state.model.input, [3, 224, 224]);
  assert.deepEqual(state.model.classes, PHOTO_CLASSES);
  assert.equal(state.model.preprocessing.origin, "torchvision's ImageNet mean and std");
  const evaluated = JSON.parse(alexnet(['eval', '--checkpoint', run, '--backend', 'cpu', '--json']).stdout);
  assert.equal(evaluated.n, 12);
  const predicted = JSON.parse(alexnet(['predict', '--checkpoint', run, '--backend', 'cpu', '--json', join(root, 'photos', 'test', 'plum', '1.jpg')]).stdout);
  assert.deepEqual(predicted.top.map((t: { name: string }) => t.name).sort(), PHOTO_CLASSES);
  alexnet(['export', '--arch', 'torchvision', '--weights', join(checkpointOf(run), 'weights.safetensors'), '--format', 'safetensors', '--out', 'tv.safetensors']);
  assert.deepEqual((await readSafetensors(join(root, 'tv.safetensors'))).tensors.get('classifier.6.weight')!.shape, [3, 4096]);
});

test("train --from a .caffemodel (bvlc_alexnet's layout, random weights) on a folder of photos: the caffe net, Caffe's mean pixel at 227, a new fc8", async () => {
  const { path: model, tensors: source } = await writeCaffemodel('caffe', 4, 'bvlc.caffemodel');
  // A .caffemodel does not say which net it holds: --arch does.
  const r = alexnet(['train', '--from', model, '--arch', 'caffe', '--data', photos, '--freeze', 'fc7', '--augment', 'none', '--epochs', '1', '--batch', '8', '--val', '6', '--backend', 'cpu', '--no-report', '--out', 'bvlc']);
  assert.match(r.stdout, /training caffe \(\d+\.\d+ M parameters\) on folder:/);
  const state = stateOf(join(root, 'bvlc'));
  assert.equal(state.config.fineTune.source.format, 'caffemodel');
  assert.equal(state.config.fineTune.source.sha256, createHash('sha256').update(readFileSync(model)).digest('hex'));
  assert.deepEqual(state.model.input, [3, 227, 227]);
  assert.deepEqual(state.model.classes, PHOTO_CLASSES);
  assert.equal(state.model.preprocessing.origin, "Caffe's ImageNet mean pixel");
  const weights = await tensorsOf(checkpointOf(join(root, 'bvlc')), 'weights.safetensors');
  assert.deepEqual(weights.get('fc8.weight')!.shape, [3, 4096], 'a new fc8 for the three classes');
  assert.deepEqual(weights.get('fc7.weight')!.data, source.get('fc7.weight')!.data, 'fc7 frozen, as loaded');
});

test("a grey net written as a .caffemodel: Caffe's 3-channel mean pixel is refused in one line naming --preprocessing data, which trains", async () => {
  const { path: model } = await writeCaffemodel('mini', 6, 'grey.caffemodel');
  const args = ['train', '--from', model, '--arch', 'mini', '--data', photos, '--freeze', 'fc7', '--epochs', '1', '--batch', '8', '--val', '6', '--backend', 'cpu', '--no-report'];
  const refused = alexnet([...args, '--out', 'grey'], 2);
  assert.equal(refused.stderr.trim(), `alexnet: --from ${model}: Caffe's ImageNet mean pixel is for 3-channel images, but its mini net takes 1; give --preprocessing data to use the data's own mean`);
  alexnet([...args, '--preprocessing', 'data', '--out', 'grey-data']);
  assert.equal(stateOf(join(root, 'grey-data')).model.preprocessing?.origin ?? "the training data's mean image", "the training data's mean image");
});
