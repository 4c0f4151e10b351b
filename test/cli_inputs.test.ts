// What the command line reads and writes for the user: only regular files, size-checked before
// reading (`--weights /dev/zero` and `predict /dev/zero` read 12.7 GB in 60 s before); never a
// checkpoint's momenta as a model; never an output over one of its own inputs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { checkpointDir, latestCheckpoint } from '../src/train/checkpoint.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-inputs-'));
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 1 and one line on stderr that starts with `start` and matches `fault`. */
function assertRefused(r: ReturnType<typeof alexnet>, start: string, fault: RegExp) {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith(`alexnet: ${start}`), lines[0]);
  assert.match(lines[0], fault);
}

const weights = join(dir, 'mini.safetensors');
{
  const net = new Net(new CpuBackend(), architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  writeFileSync(weights, encodeSafetensors(await net.exportTensors()));
}

test('--weights /dev/zero and predict /dev/zero are refused before reading', () => {
  assertRefused(alexnet('eval', '--arch', 'mini', '--weights', '/dev/zero', '--data', DATA, '--backend', 'cpu'), '/dev/zero: is not a regular file', /expected a weight file/);
  const predicted = alexnet('predict', '--arch', 'mini', '--weights', weights, '--data', DATA, '--backend', 'cpu', '/dev/zero');
  assertRefused(predicted, '/dev/zero: is not a regular file', /expected an image file/);
  const big = join(dir, 'big.png');
  writeFileSync(big, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(0)]));
  spawnSync('truncate', ['-s', '300M', big]); // sparse: 300 MiB claimed, nothing allocated
  assertRefused(alexnet('predict', '--arch', 'mini', '--weights', weights, '--data', DATA, '--backend', 'cpu', big), `${big}: is 300 MiB, more than the 256 MiB`, /image file may have/);
});

test("a checkpoint's optimizer.safetensors (the momenta) is refused as a model by eval and export", async () => {
  const run = join(dir, 'run');
  const trained = alexnet('train', '--arch', 'mini', '--data', DATA, '--limit', '120', '--val', '20', '--batch', '50', '--epochs', '1',
    '--backend', 'cpu', '--no-report', '--json', '--out', run);
  assert.equal(trained.code, 0, trained.stderr);
  const momenta = join(await latestCheckpoint(checkpointDir(run)), 'optimizer.safetensors');
  const fault = /holds a checkpoint's SGD momenta \(kind "sgd momenta"\), not a model's weights: use weights\.safetensors beside it/;
  assertRefused(alexnet('eval', '--arch', 'mini', '--weights', momenta, '--data', DATA, '--backend', 'cpu'), momenta, fault);
  assertRefused(alexnet('export', '--arch', 'mini', '--weights', momenta, '--format', 'onnx', '--out', join(dir, 'm.onnx')), momenta, fault);
  // ...and the weights beside it are a model.
  assert.equal(alexnet('export', '--arch', 'mini', '--weights', momenta.replace('optimizer', 'weights'), '--format', 'onnx', '--out', join(dir, 'm.onnx')).code, 0);

  const checkpointWeights = momenta.replace('optimizer', 'weights');
  const before = readFileSync(checkpointWeights);
  const features = alexnet('features', '--checkpoint', run, '--out', checkpointWeights, '--limit', '4', '--backend', 'cpu');
  assertRefused(features, `--out ${checkpointWeights}: is the input file`, /write the output elsewhere/);
  assert.deepEqual(readFileSync(checkpointWeights), before);
});

test('--out naming the input file is refused and the input kept (export, import, forward)', () => {
  const before = readFileSync(weights);
  assertRefused(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'safetensors', '--out', weights), `--out ${weights}: is the input file`, /elsewhere/);
  assertRefused(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', weights), `--out ${weights}: is the input file`, /elsewhere/);
  assert.deepEqual(readFileSync(weights), before);

  const pth = join(dir, 'small.pth');
  copyFileSync(join(ROOT, 'test/fixtures/pth/small_zip.pth'), pth);
  const pthBefore = readFileSync(pth);
  assertRefused(alexnet('import', '--from', 'torchvision', pth, '--out', pth), `--out ${pth}: is the input file`, /elsewhere/);
  assert.deepEqual(readFileSync(pth), pthBefore);

  const input = join(dir, 'x.safetensors');
  writeFileSync(input, encodeSafetensors([{ name: 'input', shape: [1, 1, 28, 28], data: new Float32Array(784) }]));
  assertRefused(alexnet('forward', '--arch', 'mini', '--weights', weights, '--input', input, '--output', input, '--backend', 'cpu'), `--output ${input}: is the input file`, /elsewhere/);
});

test('features --out and similar --png into a missing folder fail in one line naming the option', () => {
  const missing = join(dir, 'no-such-folder', 'f.safetensors');
  assertRefused(alexnet('features', '--arch', 'mini', '--weights', weights, '--data', DATA, '--out', missing, '--backend', 'cpu'), `--out ${missing}: the folder`, /no-such-folder does not exist/);
  const png = join(dir, 'no-such-folder', 'grid.png');
  assertRefused(alexnet('similar', '--arch', 'mini', '--weights', weights, '--data', DATA, '--png', png, '--backend', 'cpu'), `--png ${png}: the folder`, /does not exist/);
  assertRefused(alexnet('similar', '--arch', 'mini', '--weights', weights, '--data', DATA, '--png', dir, '--backend', 'cpu'), `--png ${dir}: is a directory`, /expected a file to write/);
});
