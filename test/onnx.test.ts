// ONNX export, checked by running the exported models in ONNX Runtime (onnxruntime-node, CPU):
// reduced-width paper-family nets (the paper's LRN, groups, floor pooling at 227; Caffe's LRN
// and ceil pooling at 224, where ceil and floor differ), the full paper, caffe, d2l (one input
// channel) and mini nets, and the full torchvision net through `alexnet export`. Logits must
// agree with our CPU forward within 1e-4 relative (largest absolute difference over the largest
// absolute logit), at two batch sizes of one model. And `alexnet export --format safetensors`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { UsageError } from '../src/core/errors.js';
import { product } from '../src/core/geometry.js';
import { encodeOnnx } from '../src/io/onnx.js';
import { ProtoMessage } from '../src/io/protobuf.js';
import { readSafetensors } from '../src/io/files.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture, CAFFE_LRN, PAPER_LRN, paperFamily, type PaperFamilyOptions } from '../src/nn/architectures.js';
import type { Architecture } from '../src/nn/layers.js';
import { Net } from '../src/nn/net.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-onnx-'));

const REDUCED: PaperFamilyOptions = {
  name: 'paper-small', input: [3, 227, 227], classes: 10, conv: [12, 32, 48, 48, 32], conv1Kernel: 11, conv1Stride: 4, conv1Pad: 0,
  conv2Kernel: 5, hidden: 64, lrn: PAPER_LRN, groups: 2, rounding: 'floor', dropout: 0.5, convBiasInit: 0.1, fcBiasInit: 0.1,
};

/** A net with random weights, and our logits for a batch of `batch` inputs of std ~60. */
async function ours(arch: Architecture, batch: number) {
  const net = new Net(new CpuBackend(), arch, batch);
  net.initialize({ scheme: 'he', seed: 9 });
  const input = Float32Array.from({ length: batch * product(arch.input) }, (_, i) => Math.sin(i * 0.37) * 60);
  net.backend.write(net.input, input);
  net.forward(batch, 'eval');
  return { weights: await net.exportTensors(), input, logits: await net.readLogits(batch) };
}

async function runtime(model: Uint8Array | string, arch: Architecture, input: Float32Array) {
  const session = await ort.InferenceSession.create(model as Uint8Array, { intraOpNumThreads: 2 });
  const batch = input.length / product(arch.input);
  const out = await session.run({ input: new ort.Tensor('float32', input, [batch, ...arch.input]) });
  return { session, logits: out.logits.data as Float32Array, probabilities: out.probabilities.data as Float32Array };
}

function assertClose(what: string, got: Float32Array, want: Float32Array) {
  assert.equal(got.length, want.length, what);
  let diff = 0;
  let scale = 0;
  want.forEach((w, i) => {
    diff = Math.max(diff, Math.abs(got[i] - w));
    scale = Math.max(scale, Math.abs(w));
  });
  assert.ok(scale > 0 && diff / scale <= 1e-4, `${what}: max |diff| / max |logit| = ${diff / scale}`);
}

for (const [what, options] of [
  ['paper family (paper LRN, floor pooling) at 227', REDUCED],
  ['caffe family (Caffe LRN, ceil pooling) at 224', { ...REDUCED, name: 'caffe-small', input: [3, 224, 224], lrn: CAFFE_LRN, rounding: 'ceil' }],
] as [string, PaperFamilyOptions][]) {
  test(`ONNX export of a reduced ${what} runs in ONNX Runtime like ours`, async () => {
    const arch = paperFamily(options);
    const { weights, input, logits } = await ours(arch, 2);
    const model = encodeOnnx(arch, weights);
    const { session, logits: theirs, probabilities } = await runtime(model, arch, input);
    assertClose(what, theirs, logits);
    const sum = probabilities.subarray(0, arch.classes).reduce((s, p) => s + p, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
    // The batch dimension is symbolic: the same model runs one image.
    const one = await session.run({ input: new ort.Tensor('float32', input.subarray(0, product(arch.input)), [1, ...arch.input]) });
    assertClose(`${what}, batch 1`, one.logits.data as Float32Array, logits.subarray(0, arch.classes));
  });
}

test("the paper's LRN is written with ONNX's divided alpha: 1e-4 becomes 5e-4", async () => {
  const arch = paperFamily(REDUCED);
  const model = ProtoMessage.decode(encodeOnnx(arch, (await ours(arch, 1)).weights), 'model.onnx', 'ModelProto');
  const graph = model.message(7, 'graph')!;
  const lrn = graph.messages(1, 'node', 1000).find((n) => n.string(4, 'op_type', '') === 'LRN')!;
  const attributes = new Map(lrn.messages(5, 'attribute', 10).map((a) => [a.string(1, 'name', ''), a]));
  assert.equal(attributes.get('alpha')!.float(2, 'f', 0), Math.fround(5e-4));
  assert.equal(attributes.get('bias')!.float(2, 'f', 0), 2);
  assert.equal(attributes.get('size')!.int(3, 'i', 0), 5);
  assert.equal(model.int(1, 'ir_version', 0), 7);
  assert.equal(model.message(8, 'opset_import')!.int(2, 'version', 0), 13);
});

for (const [name, batch] of [['paper', 1], ['caffe', 1], ['d2l', 1], ['mini', 2]] as const) {
  test(`the full ${name} net runs in ONNX Runtime like ours`, async () => {
    const arch = architecture(name);
    const { weights, input, logits } = await ours(arch, batch);
    assertClose(name, (await runtime(encodeOnnx(arch, weights), arch, input)).logits, logits);
  });
}

test('alexnet export --arch torchvision --format onnx: the full net runs in ONNX Runtime like ours', async () => {
  const arch = architecture('torchvision');
  const { weights, input, logits } = await ours(arch, 2);
  const file = join(dir, 'torchvision.safetensors');
  writeFileSync(file, encodeSafetensors(weights));
  const out = join(dir, 'torchvision.onnx');
  const r = spawnSync(process.execPath, [MAIN, 'export', '--arch', 'torchvision', '--weights', file, '--format', 'onnx', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote torchvision \(16 tensors, 61,100,840 parameters\)/);
  assertClose('torchvision', (await runtime(readFileSync(out), arch, input)).logits, logits);
});

test("alexnet export --format safetensors: exactly the architecture's tensors, in its order, with its name", async () => {
  const net = new Net(new CpuBackend(), architecture('mini', undefined, 7), 1);
  net.initialize({ scheme: 'he', seed: 4 });
  const weights = await net.exportTensors();
  // Another order, and a tensor the net does not have (as in a file saved with optimizer state).
  const file = join(dir, 'mini-7-classes.safetensors');
  writeFileSync(file, encodeSafetensors([{ name: 'fc8.momentum', shape: [2], data: Float32Array.of(1, 2) }, ...[...weights].reverse()]));
  const out = join(dir, 'mini-exported.safetensors');
  const r = spawnSync(process.execPath, [MAIN, 'export', '--arch', 'mini', '--weights', file, '--format', 'safetensors', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `wrote mini (16 tensors, ${net.parameterCount.toLocaleString('en-US')} parameters) to ${out}`);
  const exported = await readSafetensors(out);
  assert.deepEqual(exported.metadata, { arch: 'mini', source: 'mini-7-classes.safetensors' });
  assert.deepEqual([...exported.tensors.keys()], weights.map((t) => t.name));
  for (const t of weights) {
    assert.deepEqual(exported.tensors.get(t.name)!.shape, t.shape, t.name);
    assert.deepEqual(exported.tensors.get(t.name)!.data, t.data, t.name);
  }
});

test('what ONNX cannot express the same way is refused (before any weight is written)', () => {
  const cases: [Architecture, RegExp][] = [
    [architecture('torchvision', [3, 256, 256]), /cannot export torchvision to ONNX: adaptive average pooling from 7x7 to 6x6 is only exported where it is the identity/],
    [paperFamily({ ...REDUCED, lrn: { ...PAPER_LRN, size: 4 } }), /cannot export paper-small to ONNX: LRN of even size 4 centres its window differently in ONNX/],
  ];
  for (const [arch, fault] of cases) {
    assert.throws(() => encodeOnnx(arch, []), (err: Error) => err instanceof UsageError && fault.test(err.message));
  }
});
