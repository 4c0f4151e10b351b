// The command line: info, forward, and the one-line errors (file and fault named, exit code 1,
// no stack trace) for missing, truncated and mismatched files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/files.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { cliCpuBackend } from './helpers.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { BUNDLED_FASHION_MNIST as BUNDLED } from '../src/data/source.js';
import { tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-cli-'));

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr naming `file` and matching `fault`, exit code 1, no stack. */
function assertOneLineError(r: ReturnType<typeof alexnet>, file: string, fault: RegExp) {
  assert.equal(r.code, 1, `exit code: ${r.code}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.ok(lines[0].includes(file), `error should name ${file}: ${lines[0]}`);
  assert.match(lines[0], fault);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

async function miniWeights(path: string) {
  const net = new Net(new CpuBackend(), architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  const tensors = await net.exportTensors();
  writeFileSync(path, encodeSafetensors(tensors));
  return tensors;
}

test('info --json lists the CPU backend and the five architectures', () => {
  const r = alexnet('info', '--json');
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.backends.cpu.available, true);
  assert.deepEqual(info.architectures.map((a: { name: string }) => a.name), ['paper', 'caffe', 'torchvision', 'd2l', 'mini']);
  assert.equal(info.architectures[0].parameters, 60_965_224);
  // Where an adapter exists: each paper layer's GEMM, and a mixed path that follows its features.
  const gpu = info.backends.webgpu;
  if (gpu.available) {
    assert.deepEqual(gpu.gemm.layers.map((l: { layer: string }) => l.layer), ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']);
    assert.deepEqual(gpu.gemm.layers[0], { ...gpu.gemm.layers[0], m: 96, n: 128 * 55 * 55, k: 3 * 11 * 11, groups: 1 });
    assert.match(gpu.gemm.mixed, gpu.features.includes('shader-f16') ? /^float16 operands/ : /^fp32: this adapter has no shader-f16$/);
  }
});

test('bench --precision mixed: the CPU says it runs fp32; WebGPU with shader-f16 runs mixed', () => {
  const bench = ['bench', '--arch', 'mini', '--batch', '2', '--mode', 'train', '--steps', '1', '--warmup', '0', '--precision', 'mixed', '--json'];
  const onCpu = alexnet(...bench, '--backend', 'cpu');
  assert.equal(onCpu.code, 0, onCpu.stderr);
  assert.equal(JSON.parse(onCpu.stdout).precision, 'fp32');
  assert.match(onCpu.stderr, /^--precision mixed: CPU .* has no float16 arithmetic for it \(WebGPU's shader-f16\); its GEMMs run in fp32$/m);
  const info = JSON.parse(alexnet('info', '--json').stdout).backends.webgpu;
  if (!info.available) return;
  const onGpu = alexnet(...bench, '--backend', 'webgpu');
  assert.equal(onGpu.code, 0, onGpu.stderr);
  assert.equal(JSON.parse(onGpu.stdout).precision, info.features.includes('shader-f16') ? 'mixed' : 'fp32');
});

test('forward writes logits [N, classes] equal to the library forward', async () => {
  const weights = join(dir, 'mini.safetensors');
  const tensors = await miniWeights(weights);
  const input = Float32Array.from({ length: 3 * 784 }, (_, i) => Math.sin(i) * 2);
  writeFileSync(join(dir, 'x.safetensors'), encodeSafetensors([{ name: 'input', shape: [3, 1, 28, 28], data: input }]));
  const out = join(dir, 'y.safetensors');
  const r = alexnet('forward', '--arch', 'mini', '--weights', weights, '--input', join(dir, 'x.safetensors'), '--output', out, '--backend', 'cpu', '--batch', '2');
  assert.equal(r.code, 0, r.stderr);
  const logits = (await readSafetensors(out)).tensors.get('logits')!;
  assert.deepEqual(logits.shape, [3, 10]);
  const backend = cliCpuBackend();
  const net = new Net(backend, architecture('mini'), 3);
  net.importTensors(new Map(tensors.map((t) => [t.name, t])), 'mem');
  backend.write(net.input, input);
  net.forward(3, 'eval');
  assert.deepEqual(Array.from(logits.data), Array.from(await net.readLogits(3)));
});

test('--threads sets the CPU backend\'s threads (default: all cores); a bad count is a usage error', () => {
  const bench = (...extra: string[]) => alexnet('bench', '--arch', 'mini', '--batch', '2', '--mode', 'infer', '--steps', '1', '--warmup', '0', '--backend', 'cpu', '--json', ...extra);
  const one = bench('--threads', '1');
  assert.equal(one.code, 0, one.stderr);
  assert.match(JSON.parse(one.stdout).device, /, 1 thread\)/);
  const all = bench();
  assert.equal(all.code, 0, all.stderr);
  assert.match(JSON.parse(all.stdout).device, new RegExp(`, ${availableParallelism()} threads?\\)`));
  const bad = bench('--threads', '0');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--threads: expected a positive integer, found "0"/);
});

test('a missing weights file: one line naming it, exit 1', () => {
  const missing = join(dir, 'nope.safetensors');
  assertOneLineError(alexnet('forward', '--arch', 'mini', '--weights', missing, '--input', missing, '--output', join(dir, 'o'), '--backend', 'cpu'), missing, /file not found/);
});

test('safetensors with a wrong tensor name, a wrong shape, or a truncated body', async () => {
  const good = join(dir, 'good.safetensors');
  const tensors = await miniWeights(good);
  const input = join(dir, 'x1.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [1, 1, 28, 28], data: new Float32Array(784) }]));
  const run = (w: string) => alexnet('forward', '--arch', 'mini', '--weights', w, '--input', input, '--output', join(dir, 'o.safetensors'), '--backend', 'cpu');

  const renamed = join(dir, 'renamed.safetensors');
  writeFileSync(renamed, encodeSafetensors(tensors.map((t) => (t.name === 'fc6.weight' ? { ...t, name: 'fc6.weights' } : t))));
  assertOneLineError(run(renamed), renamed, /missing tensor "fc6\.weight"/);

  const reshaped = join(dir, 'reshaped.safetensors');
  writeFileSync(
    reshaped,
    encodeSafetensors(tensors.map((t) => (t.name === 'conv2.weight' ? { ...t, shape: [48, 24, 5, 5], data: new Float32Array(48 * 24 * 25) } : t))),
  );
  assertOneLineError(run(reshaped), reshaped, /tensor "conv2\.weight": expected shape \[96, 24, 5, 5\], found \[48, 24, 5, 5\]/);

  const truncated = join(dir, 'truncated.safetensors');
  const bytes = readFileSync(good);
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
  assertOneLineError(run(truncated), truncated, /truncated|beyond/);
});

test('a truncated IDX file in a data directory: one line naming it, exit 1', () => {
  const data = join(dir, 'fmnist');
  spawnSync('mkdir', ['-p', data]);
  const idx = (dims: number[], body: number) => {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header.writeUInt8(8, 2);
    header.writeUInt8(dims.length, 3);
    dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([header, Buffer.alloc(body)]);
  };
  writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), gzipSync(idx([10, 28, 28], 10 * 784 - 100)));
  writeFileSync(join(data, 'train-labels-idx1-ubyte'), idx([10], 10));
  writeFileSync(join(data, 't10k-images-idx3-ubyte'), idx([2, 28, 28], 2 * 784));
  writeFileSync(join(data, 't10k-labels-idx1-ubyte'), idx([2], 2));
  const file = join(data, 'train-images-idx3-ubyte.gz');
  assertOneLineError(alexnet('train', '--data', `fashion-mnist:${data}`, '--epochs', '1', '--backend', 'cpu', '--val', '2'), file, /truncated/);
});

test('usage errors exit 2 with a message naming the option', () => {
  const r = alexnet('train', '--epochs', 'zero');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--epochs: expected a positive integer, found "zero"/);
  assert.equal(alexnet('forward', '--arch', 'mini').code, 2);
  assert.match(alexnet('train', '--arch', 'vgg', '--backend', 'cpu').stderr, /unknown architecture "vgg"/);
});

test('bench --json reports the contract fields', () => {
  const r = alexnet('bench', '--arch', 'mini', '--batch', '4', '--mode', 'train', '--steps', '1', '--backend', 'cpu', '--json');
  assert.equal(r.code, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  for (const key of ['arch', 'batch', 'mode', 'backend', 'device', 'img_per_s', 'ms_per_step']) assert.ok(key in b, key);
  assert.equal(b.arch, 'mini');
  assert.equal(b.mode, 'train');
  assert.ok(b.img_per_s > 0);
});

test('the CLI runs without sharp (GPU machines get node_modules without it): bench, forward and train', async () => {
  // A resolve hook that makes `import 'sharp'` fail, as a missing package would.
  const hooks = join(dir, 'no-sharp-hooks.mjs');
  writeFileSync(hooks, "export async function resolve(s, c, next) { if (s === 'sharp') throw new Error('sharp is not installed'); return next(s, c); }\n");
  const register = join(dir, 'no-sharp.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', register, MAIN, ...args], { encoding: 'utf8' });
  const bench = run('bench', '--arch', 'mini', '--batch', '2', '--mode', 'infer', '--steps', '1', '--warmup', '0', '--backend', 'cpu', '--json');
  assert.equal(bench.status, 0, bench.stderr);
  assert.equal(JSON.parse(bench.stdout).arch, 'mini');
  const weights = join(dir, 'no-sharp-mini.safetensors');
  await miniWeights(weights);
  const input = join(dir, 'no-sharp-x.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [2, 1, 28, 28], data: new Float32Array(2 * 784).fill(0.5) }]));
  const forward = run('forward', '--arch', 'mini', '--weights', weights, '--input', input, '--output', join(dir, 'no-sharp-y.safetensors'), '--backend', 'cpu');
  assert.equal(forward.status, 0, forward.stderr);
  assert.deepEqual((await readSafetensors(join(dir, 'no-sharp-y.safetensors'))).tensors.get('logits')?.shape, [2, 10]);
  // Training on IDX data, with its report (PNGs encoded without sharp).
  const out = join(dir, 'no-sharp-run');
  const train = run('train', '--data', tinyFashionMnist(join(dir, 'tiny'), 40, 10), '--epochs', '1', '--batch', '10', '--val', '10', '--backend', 'cpu', '--out', out, '--json');
  assert.equal(train.status, 0, train.stderr);
  assert.equal(JSON.parse(train.stdout.trim().split('\n').at(-1)!).event, 'done');
  assert.ok(existsSync(join(out, 'report', 'index.html')), 'the report is written');
  // Decoding an image file does need sharp: one line says so.
  const png = join(dir, 'x.png');
  writeFileSync(png, Buffer.from('89504e470d0a1a0a', 'hex'));
  const predict = run('predict', '--weights', weights, '--arch', 'mini', '--data', `fashion-mnist:${BUNDLED}`, png, '--backend', 'cpu');
  assert.equal(predict.status, 1);
  assert.match(predict.stderr, /^alexnet: decoding image files needs the optional package sharp, which could not be loaded \(sharp is not installed\); install it with: npm install sharp\n$/);
});
