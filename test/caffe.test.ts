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
import { ProtoWriter } from '../src/io/protobuf.js';
import { encodeSafetensors, type NamedTensor } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/files.js';
import { architecture, CAFFE_LRN, paperFamily } from '../src/nn/architectures.js';
import type { Architecture } from '../src/nn/layers.js';
import { Net } from '../src/nn/net.js';
import { assertClose } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-caffe-'));

/** bvlc_alexnet's topology (groups 2, Caffe's LRN, ceil rounding) at a width that runs in milliseconds. */
const SMALL = paperFamily({
  name: 'caffe-small', input: [3, 227, 227], classes: 10, conv: [8, 16, 24, 24, 16], conv1Kernel: 11, conv1Stride: 4, conv1Pad: 0,
  conv2Kernel: 5, hidden: 32, lrn: CAFFE_LRN, groups: 2, rounding: 'ceil', dropout: 0.5, convBiasInit: 0.1, fcBiasInit: 0.1,
});

/** A layer as the fixture describes it, before encoding; tests alter these to make bad models. */
interface Desc {
  name: string;
  type: string;
  blobs: NamedTensor[];
  conv?: { num: number; kernel: number; stride: number; pad: number; group: number };
  lrn?: { size: number; alpha: number; beta: number; k?: number };
  pool?: { kernel: number; stride: number; floor: boolean };
  ip?: { num: number };
}

/** The layers of `arch` named as bvlc_alexnet names them (relu1, norm1, pool1, ..., drop7). */
function describe(arch: Architecture, tensors: NamedTensor[]): Desc[] {
  const out: Desc[] = [{ name: 'data', type: 'Input', blobs: [] }];
  const params = [...tensors];
  let n = '';
  for (const s of arch.layers) {
    if (s.kind === 'conv' || s.kind === 'linear') {
      n = s.name.replace(/\D/g, '');
      const blobs = params.splice(0, 2);
      if (s.kind === 'conv') out.push({ name: s.name, type: 'Convolution', blobs, conv: { num: s.outChannels, kernel: s.kernel, stride: s.stride, pad: s.pad, group: s.groups } });
      else out.push({ name: s.name, type: 'InnerProduct', blobs, ip: { num: s.outFeatures } });
    } else if (s.kind === 'relu') out.push({ name: `relu${n}`, type: 'ReLU', blobs: [] });
    else if (s.kind === 'lrn') {
      // Caffe always divides alpha by local_size; k is left at its default (1) where it is 1.
      const p = s.params;
      out.push({ name: `norm${n}`, type: 'LRN', blobs: [], lrn: { size: p.size, alpha: p.alphaDividedBySize ? p.alpha : p.alpha * p.size, beta: p.beta, k: p.k === 1 ? undefined : p.k } });
    } else if (s.kind === 'maxpool') out.push({ name: `pool${n}`, type: 'Pooling', blobs: [], pool: { kernel: s.size, stride: s.stride, floor: s.rounding === 'floor' } });
    else if (s.kind === 'dropout') out.push({ name: `drop${n}`, type: 'Dropout', blobs: [] });
  }
  out.push({ name: 'prob', type: 'Softmax', blobs: [] });
  return out;
}

// caffe.proto: NetParameter.layer 100 (LayerParameter) or .layers 2 (V1LayerParameter).
const V1_TYPE: Record<string, number> = { Input: 5, Convolution: 4, ReLU: 18, LRN: 15, Pooling: 17, InnerProduct: 14, Dropout: 6, Softmax: 20 };
const PARAM_FIELD: Record<string, [layer: number, v1: number]> = {
  conv: [106, 10], lrn: [118, 18], pool: [121, 19], ip: [117, 17],
};

function encode(layers: Desc[], legacy: boolean): Uint8Array {
  const net = new ProtoWriter();
  for (const d of layers) {
    const w = new ProtoWriter();
    if (legacy) w.string(4, d.name).varint(5, V1_TYPE[d.type]); // V1: name 4, type 5 (enum)
    else w.string(1, d.name).string(2, d.type); // name 1, type 2
    for (const t of d.blobs) {
      const b = new ProtoWriter(); // BlobProto: num 1, channels 2, height 3, width 4, data 5, shape 7 (BlobShape.dim 1)
      if (legacy) {
        const [num, channels, height, width] = [1, 1, 1, 1, ...t.shape].slice(-4);
        b.varint(1, num).varint(2, channels).varint(3, height).varint(4, width);
      } else b.message(7, new ProtoWriter().packedVarints(1, t.shape));
      w.message(legacy ? 6 : 7, b.packedFloats(5, t.data)); // blobs: V1 6, LayerParameter 7
    }
    const param = (key: string, p: ProtoWriter) => w.message(PARAM_FIELD[key][legacy ? 1 : 0], p);
    // ConvolutionParameter: num_output 1, pad 3, kernel_size 4, group 5, stride 6.
    if (d.conv) param('conv', new ProtoWriter().varint(1, d.conv.num).varint(4, d.conv.kernel).varint(6, d.conv.stride).varint(3, d.conv.pad).varint(5, d.conv.group));
    if (d.lrn) { // LRNParameter: local_size 1, alpha 2, beta 3, k 5.
      const p = new ProtoWriter().varint(1, d.lrn.size).float(2, d.lrn.alpha).float(3, d.lrn.beta);
      param('lrn', d.lrn.k === undefined ? p : p.float(5, d.lrn.k));
    }
    if (d.pool) { // PoolingParameter: pool 1 (MAX 0), kernel_size 2, stride 3, round_mode 13 (CEIL 0, FLOOR 1).
      const p = new ProtoWriter().varint(1, 0).varint(2, d.pool.kernel).varint(3, d.pool.stride);
      param('pool', d.pool.floor ? p.varint(13, 1) : p);
    }
    if (d.ip) param('ip', new ProtoWriter().varint(1, d.ip.num)); // InnerProductParameter: num_output 1
    net.message(legacy ? 2 : 100, w);
  }
  return net.finish();
}

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
