// Training and resuming with `--backend webgpu` (Mesa's llvmpipe on a machine without a GPU),
// through the command line, on a tiny Fashion-MNIST: one epoch, then `--resume` to a second.
// Every step's loss, and the weights and momenta of the last checkpoint, must match a CPU run of
// the same seed (the same batches and dropout masks; here the crops are made on the device)
// within 1e-4. Skipped, with the reason printed, only where no adapter exists and CI is unset.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { probeAdapter } from '../src/backend/webgpu/dawn.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { train, type TrainEvent } from '../src/train/trainer.js';
import { NO_WEBGPU, skipUnless, tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
// In CI the suite must run (on llvmpipe at least): a missing adapter is a failure there.
const skip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

/** Runs `alexnet train ... --json --log-steps` and returns its events. */
function cli(...args: string[]): TrainEvent[] {
  const r = spawnSync(process.execPath, [MAIN, 'train', ...args, '--backend', 'webgpu', '--no-report', '--json', '--log-steps'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => JSON.parse(line) as TrainEvent);
}

const steps = (events: TrainEvent[]) => events.filter((e): e is Extract<TrainEvent, { event: 'step' }> => e.event === 'step');

async function lastCheckpoint(out: string) {
  return loadCheckpoint(await latestCheckpoint(checkpointDir(out)));
}

/** Largest |a - b| over the largest |b|, over every tensor of `want`. */
function scaledDifference(got: Map<string, NamedTensor>, want: Map<string, NamedTensor>): number {
  let worst = 0;
  for (const [name, w] of want) {
    const g = got.get(name)!.data;
    const scale = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = w.data.reduce((m, v, i) => Math.max(m, Math.abs(g[i] - v)), 0);
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

test('train one epoch with --backend webgpu, resume to a second: losses, weights and momenta as on the CPU', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'alexnet-webgpu-train-'));
  const data = tinyFashionMnist(join(root, 'data'), 24, 8);
  // 16 training images in batches of 8: two steps an epoch. A constant rate: a cosine's curve
  // depends on the run's total, which the resume extends.
  const settings = { batch: 8, validation: 8, seed: 3, lr: 0.01, schedule: 'constant' };
  const flags = ['--data', data, '--batch', '8', '--val', '8', '--seed', '3', '--lr', '0.01', '--lr-schedule', 'constant'];
  const cpuOut = join(root, 'cpu');
  const cpuEvents: TrainEvent[] = [];
  await train(
    { arch: 'mini', data, epochs: 2, momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', checkpointEvery: 0, out: cpuOut, report: false, ...settings },
    new CpuBackend(),
    (e) => cpuEvents.push(e),
  );

  const out = join(root, 'webgpu');
  const first = cli(...flags, '--epochs', '1', '--out', out);
  const resumed = cli('--resume', out, '--epochs', '2');
  for (const [events, from] of [[first, 0], [resumed, 2]] as const) {
    const start = events[0] as Extract<TrainEvent, { event: 'start' }>;
    assert.match(start.backend, /WebGPU/);
    assert.equal(start.resumed_from_step, from);
  }
  const want = steps(cpuEvents).map((e) => e.loss);
  const got = [...steps(first), ...steps(resumed)].map((e) => e.loss);
  console.log(`losses cpu ${want.map((l) => l.toFixed(6)).join(' ')}\nlosses gpu ${got.map((l) => l.toFixed(6)).join(' ')}`);
  assert.equal(got.length, 4);
  got.forEach((l, i) => assert.ok(Math.abs(l - want[i]) <= 1e-4 * want[i], `step ${i + 1}: loss ${l} on WebGPU, ${want[i]} on the CPU`));

  const [gpuCkpt, cpuCkpt] = [await lastCheckpoint(out), await lastCheckpoint(cpuOut)];
  assert.equal(gpuCkpt.state.step, 4);
  const weights = scaledDifference(gpuCkpt.weights, cpuCkpt.weights);
  const momenta = scaledDifference(gpuCkpt.momenta, cpuCkpt.momenta);
  assert.ok(weights <= 1e-4, `weights differ by ${weights} of their largest value`);
  assert.ok(momenta <= 1e-4, `momenta differ by ${momenta} of their largest value`);
});
