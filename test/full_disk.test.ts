// A full disk loses nothing: on a small tmpfs (a real ENOSPC, not a simulation), an ONNX export
// over an existing model leaves the model as it was and says which file and how much space is
// left, in one line; a training run whose final checkpoint fits once finishes (it used to write
// that checkpoint a second time after the test, and fail a complete run on the full disk); a
// checkpoint that does not fit leaves the previous one and names the space left.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { skipUnless } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-full-'));
const mounts: string[] = [];

/** A fresh tmpfs of `kib` KiB; null where it cannot be mounted (not root). */
function smallDisk(kib: number): string | null {
  const at = mkdtempSync(join(root, 'disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', at], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  mounts.push(at);
  return at;
}
after(() => {
  for (const at of mounts) spawnSync('umount', [at]);
});

const probe = process.getuid?.() === 0 ? smallDisk(64) : null;
const skip = skipUnless(probe !== null, 'tmpfs', 'mounting a small tmpfs needs root (mount -t tmpfs): the full-disk tests write to one');

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const free = (disk: string) => statfsSync(disk).bavail * statfsSync(disk).bsize;
const TRAIN = ['train', '--arch', 'mini', '--data', `fashion-mnist:${BUNDLED_FASHION_MNIST}`, '--limit', '120', '--val', '20', '--batch', '50',
  '--backend', 'cpu', '--no-report', '--json'];

test('an ONNX export over a model on a full disk keeps the model and says which file and how much space is left', { skip }, async () => {
  const weights = join(root, 'mini.safetensors');
  const net = new Net(new CpuBackend(), architecture('mini'), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  writeFileSync(weights, encodeSafetensors(await net.exportTensors()));
  assert.equal(alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', join(root, 'measure.onnx')).code, 0);
  const size = statSync(join(root, 'measure.onnx')).size;
  const disk = smallDisk(Math.ceil((2 * size + 2 ** 20) / 1024))!;
  const model = join(disk, 'model.onnx');
  const old = Buffer.alloc(2 ** 20, 7); // the user's earlier model, 1 MiB
  writeFileSync(model, old);
  // Fill the disk so that even the old model's space and what is free together hold less than the export.
  writeFileSync(join(disk, 'other'), Buffer.alloc(free(disk) - Math.floor((size - 2 ** 20) / 2), 1));
  const left = free(disk);
  assert.ok(left + old.length < size && left > 0, `${left} bytes free, export ${size}`);
  const r = alexnet('export', '--arch', 'mini', '--weights', weights, '--format', 'onnx', '--out', model);
  // Before: the model was truncated and rewritten in place, and the disk filled half way (rc 1, the model lost).
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    `alexnet: ${model}: cannot write ${mib(size)}: the disk is full (ENOSPC; ${mib(left)} free on the file system of ${disk}); ` +
      'what was there before is unchanged: free some space and run the command again\n',
  );
  assert.equal(r.code, 1);
  assert.deepEqual(readFileSync(model), old);
  assert.deepEqual(readdirSync(disk).sort(), ['model.onnx', 'other'], 'no temporary file left behind');
  assert.equal(free(disk), left);
});

/** Bytes of the files of the newest checkpoint of `run`. */
async function checkpointBytes(run: string): Promise<number> {
  const dir = await latestCheckpoint(checkpointDir(run));
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

test('a run whose final checkpoint fits once on the disk finishes; one that does not keeps the previous checkpoint', { skip }, async () => {
  const measured = join(root, 'measure-run');
  assert.equal(alexnet(...TRAIN, '--epochs', '1', '--out', measured).code, 0);
  // Room for one checkpoint and a half: not for a second one beside it.
  const disk = smallDisk(Math.ceil((1.5 * (await checkpointBytes(measured))) / 1024) + 256)!;
  const run = join(disk, 'run');
  const once = alexnet(...TRAIN, '--epochs', '1', '--out', run);
  // Before: the last epoch's checkpoint was written again after the test, which did not fit: exit 1 after a complete run.
  assert.equal(once.code, 0, once.stderr);
  const done = JSON.parse(once.stdout.trim().split('\n').at(-1)!);
  assert.equal(done.event, 'done');
  assert.equal(done.checkpoint, await latestCheckpoint(checkpointDir(run)));
  const first = await loadCheckpoint(done.checkpoint);
  assert.equal(first.state.step, 2);

  const more = alexnet('train', '--resume', run, '--epochs', '2', '--no-report', '--backend', 'cpu');
  assert.equal(more.code, 1, more.stderr);
  const step = join(checkpointDir(run), 'ckpt-00000004');
  assert.match(
    more.stderr,
    new RegExp(
      `^alexnet: could not write checkpoint ${step} \\(${step}\\.partial-\\d+/(weights|optimizer)\\.safetensors: cannot write \\d+ MiB: the disk is full ` +
        `\\(ENOSPC; \\d+ MiB free on the file system of ${step}\\.partial-\\d+\\); what was there before is unchanged: free some space and run the command again\\); ` +
        'the previous checkpoint is intact\n$',
    ),
  );
  const kept = await loadCheckpoint(await latestCheckpoint(checkpointDir(run)));
  assert.equal(kept.state.step, 2);
  for (const [name, t] of kept.weights) assert.deepEqual(t.data, first.weights.get(name)!.data, name);
  assert.deepEqual(readdirSync(checkpointDir(run)).sort(), ['ckpt-00000002', 'latest.json']);
});
