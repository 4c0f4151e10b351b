// Caffe .caffemodel import. The fixtures are encoded here, with our protobuf writer and field
// numbers written out from caffe.proto independently of src/io/caffe.ts, as bvlc_alexnet is
// laid out (data, conv1 relu1 norm1 pool1, ..., fc8, prob), in both the `layer` and the
// legacy `layers` (V1, 4-D blobs) layouts, for reduced-width nets. Loaded weights must give
// exactly the logits of the same weights loaded directly; settings that differ from the
// architecture (LRN k, groups, rounding, layer order) must be refused with a clear message.
// conv1 is converted from Caffe's BGR input order to our RGB.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { FormatError } from '../src/core/errors.js';
import { caffeWeights, parseCaffeModel } from '../src/io/caffe.js';
import { encodeSafetensors, type NamedTensor } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/files.js';
import { architecture, CAFFE_LRN, paperFamily } from '../src/nn/architectures.js';
import type { Architecture } from '../src/nn/layers.js';
import { Net } from '../src/nn/net.js';
import { describe, encode, type Desc } from './caffe_fixture.js';
import { assertClose } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-caffe-'));

/** bvlc_alexnet's topology (groups 2, Caffe's LRN, ceil rounding) at a width that runs in milliseconds. */
const SMALL = paperFamily({
  name: 'caffe-small', input: [3, 227, 227], classes: 10, conv: [8, 16, 24, 24, 16], conv1Kernel: 11, conv1Stride: 4, conv1Pad: 0,
  conv2Kernel: 5, hidden: 32, lrn: CAFFE_LRN, groups: 2, rounding: 'ceil', dropout: 0.5, convBiasInit: 0.1, fcBiasInit: 0.1,
});

/** conv1's weight [out, 3, k, k] with its input channels in reverse order (BGR <-> RGB). */
function reverseInputChannels(t: NamedTensor): Float32Array {
  const plane = t.shape[2] * t.shape[3];
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const [o, c, p] = [Math.floor(i / (3 * plane)), Math.floor(i / plane) % 3, i % plane];
    out[i] = t.data[(o * 3 + 2 - c) * plane + p];
  }
  return out;
}

function randomNet(arch: Architecture, seed: number) {
  const net = new Net(new CpuBackend(), arch, 2);
  net.initialize({ scheme: 'he', seed });
  return net;
}

/** Logits of two 227x227 images, given as RGB or (as Caffe reads them) BGR. */
async function logits(arch: Architecture, tensors: Map<string, NamedTensor>, order: 'rgb' | 'bgr'): Promise<Float32Array> {
  const net = new Net(new CpuBackend(), arch, 2);
  net.importTensors(tensors, 'mem');
  const plane = 227 * 227;
  const input = Float32Array.from({ length: 2 * 3 * plane }, (_, i) => {
    const [image, channel, pixel] = [Math.floor(i / (3 * plane)), Math.floor(i / plane) % 3, i % plane];
    const c = order === 'rgb' ? channel : 2 - channel;
    return Math.sin((image * 3 + c) * plane * 0.1 + pixel * 0.1) * 50;
  });
  net.backend.write(net.input, input);
  net.forward(2, 'eval');
  return net.readLogits(2);
}

for (const layout of ['layer', 'layers'] as const) {
  test(`a bvlc_alexnet-shaped model in the ${layout === 'layer' ? '`layer`' : 'legacy `layers`'} layout: its weights, its settings, its logits`, async () => {
    const tensors = await randomNet(SMALL, 1).exportTensors();
    const layers = parseCaffeModel(encode(describe(SMALL, tensors), layout === 'layers'), 'small.caffemodel');
    // The settings are read from the model: Caffe's LRN (alpha/n, default k = 1), groups 2, ceil rounding.
    const byName = new Map(layers.map((l) => [l.name, l]));
    assert.deepEqual(byName.get('norm1')!.lrn, { localSize: 5, alpha: Math.fround(1e-4), beta: 0.75, k: 1, acrossChannels: true });
    assert.equal(byName.get('conv2')!.convolution!.group, 2);
    assert.equal(byName.get('pool5')!.pooling!.ceil, true);
    if (layout === 'layers') assert.deepEqual(byName.get('fc6')!.blobs[0].shape, [1, 1, 32, 16 * 6 * 6]);
    // conv1 is turned from Caffe's BGR to RGB; everything else is as stored.
    const loaded = caffeWeights(layers, SMALL, 'small.caffemodel');
    for (const t of tensors) {
      const want = t.name === 'conv1.weight' ? reverseInputChannels(t) : t.data;
      assert.deepEqual(Array.from(loaded.get(t.name)!.data), Array.from(want), t.name);
    }
    const direct = new Map(tensors.map((t) => [t.name, t]));
    // The same products summed in another channel order: equal up to float32 rounding.
    assertClose('logits', await logits(SMALL, loaded, 'rgb'), await logits(SMALL, direct, 'bgr'), 1e-4, 1);
  });
}

test('a model whose settings differ from the architecture is refused, naming the layer and both values', async () => {
  const tensors = await randomNet(SMALL, 2).exportTensors();
  const cases: [string, (layers: Desc[]) => void, RegExp][] = [
    ['LRN k = 2', (l) => (l.find((d) => d.name === 'norm1')!.lrn!.k = 2), /layer "norm1" \(LRN\): local_size 5, alpha 0\.0001 \(divided by local_size\), beta 0\.75, k 2 computes a different LRN than architecture caffe-small's \(size 5, alpha 0\.0001 divided by size, beta 0\.75, k 1\)/],
    ['conv2 in one group', (l) => (l.find((d) => d.name === 'conv2')!.conv!.group = 1), /layer "conv2" \(Convolution\): group 1, but architecture caffe-small's conv conv2 has groups 2/],
    ['floor rounding', (l) => (l.find((d) => d.name === 'pool5')!.pool!.floor = true), /layer "pool5" \(Pooling\): round_mode floor, but architecture caffe-small's maxpool has rounding ceil/],
    ['CaffeNet order (pool before norm)', (l) => l.splice(3, 2, l[4], l[3]), /layer "pool1" \(Pooling\): architecture caffe-small has lrn here/],
    ['fc8 missing', (l) => l.splice(-2, 1), /the model ends after 19 layers; architecture caffe-small goes on with linear fc8/],
  ];
  for (const [what, alter, fault] of cases) {
    const layers = describe(SMALL, tensors);
    alter(layers);
    assert.throws(() => caffeWeights(parseCaffeModel(encode(layers, true), 'bad.caffemodel'), SMALL, 'bad.caffemodel'), (err: Error) => {
      assert.ok(err instanceof FormatError, `${what}: ${err}`);
      assert.match(err.message, fault, what);
      return true;
    });
  }
});

test('alexnet import --from caffe / forward --weights X.caffemodel, and a mismatch as a one-line error', async () => {
  // The paper's LRN in Caffe's terms: alpha 5e-4 divided by local_size, k = 2; floor rounding.
  const mini = architecture('mini');
  const tensors = await randomNet(mini, 3).exportTensors();
  const model = join(dir, 'mini.caffemodel');
  writeFileSync(model, encode(describe(mini, tensors), false));
  const weights = join(dir, 'mini.safetensors');
  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  const imported = run('import', '--from', 'caffe', model, '--arch', 'mini', '--out', weights);
  assert.equal(imported.status, 0, imported.stderr);
  const back = (await readSafetensors(weights)).tensors;
  for (const t of tensors) assert.deepEqual(Array.from(back.get(t.name)!.data), Array.from(t.data), t.name);

  const input = join(dir, 'x.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [1, 1, 28, 28], data: new Float32Array(784).map((_, i) => i % 7) }]));
  const out = (w: string) => {
    const r = run('forward', '--arch', 'mini', '--weights', w, '--input', input, '--output', join(dir, 'y.safetensors'), '--backend', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    return readSafetensors(join(dir, 'y.safetensors')).then((y) => Array.from(y.tensors.get('logits')!.data));
  };
  assert.deepEqual(await out(model), await out(weights));

  const wrong = run('import', '--from', 'caffe', model, '--out', weights);
  assert.equal(wrong.status, 1);
  const lines = wrong.stderr.trim().split('\n');
  assert.equal(lines.length, 1, wrong.stderr);
  assert.match(lines[0], /mini\.caffemodel: layer "conv1" \(Convolution\): kernel 5x5, but architecture caffe's conv conv1 has 11$/);
});
