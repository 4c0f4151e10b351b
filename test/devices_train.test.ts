// `alexnet train --devices 2` end to end on a tiny Fashion-MNIST: a run on two CPU backends
// (data parallel, or the paper's two towers), resumed on one, gives a one-device run's losses and
// weights (1e-5 relative); data parallel on two WebGPU devices (llvmpipe here; the images
// cropped on each device from its slice) the same against one WebGPU device. And the command
// line's errors for device counts and architectures it cannot use.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { createWebGpuBackend, probeAdapter } from '../src/backend/webgpu/dawn.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { train, type TrainEvent } from '../src/train/trainer.js';
import { cliCpuBackend, NO_WEBGPU, skipUnless, tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-devices-train-'));
// 16 training images in batches of 8 (two steps an epoch; 4 + 4 images per device).
const data = tinyFashionMnist(join(root, 'data'), 24, 8);
const settings = { arch: 'mini', data, batch: 8, validation: 8, seed: 5, lr: 0.01, schedule: 'constant' };
const flags = ['--data', data, '--batch', '8', '--val', '8', '--seed', '5', '--lr', '0.01', '--lr-schedule', 'constant', '--no-report'];

function cli(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, 'train', ...args], { encoding: 'utf8' });
}

function events(...args: string[]): TrainEvent[] {
  const r = cli(...args, '--json', '--log-steps');
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => JSON.parse(line) as TrainEvent);
}

const losses = (es: TrainEvent[]) => es.flatMap((e) => (e.event === 'step' ? [e.loss] : []));

/** Steps' losses and the last checkpoint's weights of a library run of `epochs` epochs. */
async function oneDevice(backend: Backend, epochs: number, out: string) {
  const es: TrainEvent[] = [];
  await train({ ...settings, epochs, momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', checkpointEvery: 0, out, report: false }, backend, (e) => es.push(e));
  return { losses: losses(es), weights: (await loadCheckpoint(await latestCheckpoint(checkpointDir(out)))).weights };
}

/** Largest |a - b| over the largest |b|, over every tensor of `want`. */
function scaledDifference(got: Map<string, NamedTensor>, want: Map<string, NamedTensor>): number {
  let worst = 0;
  for (const [name, w] of want) {
    const g = got.get(name)!.data;
    const scale = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    worst = Math.max(worst, w.data.reduce((m, v, i) => Math.max(m, Math.abs(g[i] - v)), 0) / scale);
  }
  return worst;
}

async function assertSameRun(what: string, got: TrainEvent[], out: string, want: { losses: number[]; weights: Map<string, NamedTensor> }) {
  const l = losses(got);
  console.log(`${what}: losses ${l.map((x) => x.toFixed(6)).join(' ')} (one device: ${want.losses.map((x) => x.toFixed(6)).join(' ')})`);
  assert.equal(l.length, want.losses.length);
  l.forEach((x, i) => assert.ok(Math.abs(x - want.losses[i]) <= 1e-5 * want.losses[i], `${what}, step ${i + 1}: loss ${x}, one device ${want.losses[i]}`));
  const weights = scaledDifference((await loadCheckpoint(await latestCheckpoint(checkpointDir(out)))).weights, want.weights);
  console.log(`${what}: weights differ by ${weights.toExponential(2)} of their largest value`);
  assert.ok(weights <= 1e-5, `${what}: weights differ by ${weights} of their largest value`);
}

let cpuRun: ReturnType<typeof oneDevice> | null = null;
/** Two epochs on one CPU backend, the reference of both CPU tests. */
const cpuOneDevice = () => (cpuRun ??= oneDevice(cliCpuBackend(), 2, join(root, 'cpu-one')));

for (const parallel of ['data', 'towers']) {
  test(`train --devices 2 --parallel ${parallel} on CPU backends for an epoch, resumed on one device: the one-device run`, async () => {
    const want = await cpuOneDevice();
    const out = join(root, `cpu-${parallel}`);
    const first = events(...flags, '--backend', 'cpu', '--devices', '2', '--parallel', parallel, '--epochs', '1', '--out', out);
    assert.match((first[0] as Extract<TrainEvent, { event: 'start' }>).backend, /^2 x /);
    const resumed = events('--resume', out, '--epochs', '2', '--backend', 'cpu', '--devices', '1');
    await assertSameRun(`2 CPU devices (${parallel}), then 1`, [...first, ...resumed], out, want);
  });
}

const skip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

test('train --devices 2 --backend webgpu (each device crops its slice): the one-device run', { skip }, async () => {
  const want = await oneDevice((await createWebGpuBackend())!, 1, join(root, 'gpu-one'));
  const out = join(root, 'gpu-two');
  await assertSameRun('2 WebGPU devices', events(...flags, '--backend', 'webgpu', '--devices', '2', '--epochs', '1', '--out', out), out, want);
});

test('train: clear errors for device counts it cannot use', () => {
  const tooMany = cli(...flags, '--backend', 'cpu', '--devices', '9', '--out', join(root, 'x'));
  assert.equal(tooMany.status, 2);
  assert.match(tooMany.stderr, /--devices 9: more devices than images in a batch \(--batch 8\)/);
  for (const devices of ['1', '3']) {
    const r = cli(...flags, '--backend', 'cpu', '--devices', devices, '--parallel', 'towers', '--out', join(root, 'y'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`--parallel towers: the paper's two towers need --devices 2, found ${devices}`));
  }
  const none = cli(...flags, '--arch', 'torchvision', '--backend', 'cpu', '--devices', '2', '--parallel', 'towers', '--out', join(root, 'z'));
  assert.equal(none.status, 2);
  assert.match(none.stderr, /the torchvision architecture cannot be split into the paper's two towers: it has no towers/);
});
