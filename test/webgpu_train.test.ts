// Training and resuming with `--backend webgpu` (Mesa's llvmpipe on a machine without a GPU),
// through the command line, on a tiny Fashion-MNIST: one epoch, then `--resume` to a second.
// Every step's loss, and the weights and momenta of the last checkpoint, must match a CPU run of
// the same seed (the same batches and dropout masks; here the crops are made on the device)
// within 1e-4. Skipped, with the reason printed, only where no adapter exists and CI is unset.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend, probeAdapter } from '../src/backend/webgpu/dawn.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { train, type TrainEvent } from '../src/train/trainer.js';
import { NO_WEBGPU, skipUnless, tinyFashionMnist } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
// In CI the suite must run (on llvmpipe at least): a missing adapter is a failure there.
const skip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

/** Runs `alexnet train ... --json --log-steps`: its events, and what it said on stderr. */
function cliRun(...args: string[]): { events: TrainEvent[]; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'train', ...args, '--backend', 'webgpu', '--no-report', '--json', '--log-steps'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { events: r.stdout.trim().split('\n').map((line) => JSON.parse(line) as TrainEvent), stderr: r.stderr };
}

const cli = (...args: string[]) => cliRun(...args).events;
const epochs = (events: TrainEvent[]) => events.filter((e): e is Extract<TrainEvent, { event: 'epoch' }> => e.event === 'epoch');

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

test('--precision mixed on WebGPU: losses within float16 rounding of the fp32 CPU run; the loss scale is logged, saved and resumed', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'alexnet-webgpu-mixed-'));
  const data = tinyFashionMnist(join(root, 'data'), 24, 8);
  const flags = ['--data', data, '--batch', '8', '--val', '8', '--seed', '3', '--lr', '0.01', '--lr-schedule', 'constant', '--precision', 'mixed'];
  const cpuEvents: TrainEvent[] = [];
  await train(
    { arch: 'mini', data, epochs: 2, batch: 8, validation: 8, seed: 3, lr: 0.01, schedule: 'constant', momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', checkpointEvery: 0, out: join(root, 'cpu'), report: false },
    new CpuBackend(),
    (e) => cpuEvents.push(e),
  );
  const out = join(root, 'mixed');
  const first = cli(...flags, '--epochs', '1', '--out', out);
  const resumed = cli('--resume', out, '--epochs', '2');
  for (const events of [first, resumed]) assert.equal((events[0] as Extract<TrainEvent, { event: 'start' }>).precision, 'mixed');
  const want = steps(cpuEvents).map((e) => e.loss);
  const got = [...steps(first), ...steps(resumed)].map((e) => e.loss);
  console.log(`losses fp32 cpu ${want.map((l) => l.toFixed(6)).join(' ')}\nlosses mixed    ${got.map((l) => l.toFixed(6)).join(' ')}`);
  assert.equal(got.length, 4);
  // Step 1 differs by the forward pass's rounding alone; later steps also by updates made from
  // rounded gradients, which these few large steps (the loss rises) amplify.
  got.forEach((l, i) => assert.ok(Math.abs(l - want[i]) <= (i === 0 ? 1e-3 : 2e-2) * want[i], `step ${i + 1}: loss ${l} mixed, ${want[i]} fp32`));
  // The first step's loss comes from the same weights: only float16 operands can move it, and by
  // far more than fp32's 1e-7 (the fp32 test above holds WebGPU to 1e-4 of the CPU).
  const moved = Math.abs(got[0] - want[0]) / want[0];
  assert.ok(moved > 1e-6, `step 1 moved by ${moved} of the loss: were the operands float16?`);
  // The scale: 2^16, no overflow in four steps, in every epoch record and in the checkpoint.
  for (const e of [...epochs(first), ...epochs(resumed)]) {
    assert.equal(e.loss_scale, 65536);
    assert.equal(e.skipped_steps, 0);
  }
  const saved = (await lastCheckpoint(out)).state as { config: { precision: string }; history: { lossScale: { scale: number; goodSteps: number } } };
  assert.equal(saved.config.precision, 'mixed');
  assert.deepEqual([saved.history.lossScale.scale, saved.history.lossScale.goodSteps], [65536, 4]);
});

test('--precision mixed with a loss scale too high: each overflowing step is skipped, said and counted in its own epoch, the scale halved', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'alexnet-webgpu-overflow-'));
  const data = tinyFashionMnist(join(root, 'data'), 24, 8);
  // dlogits reach about 1/8 of the scale: 2^20 / 8 is twice float16's largest value. Two epochs
  // of 4 steps (batch 4): the skips of the first must not be counted again in the second.
  const out = join(root, 'run');
  const { events, stderr } = cliRun('--data', data, '--batch', '4', '--val', '8', '--epochs', '2', '--precision', 'mixed', '--loss-scale', String(2 ** 20), '--out', out);
  assert.match(stderr, /epoch 1, step 1: gradients overflowed float16 at loss scale 1048576; step skipped, scale now 524288/);
  const said = (epoch: number) => (stderr.match(new RegExp(`^epoch ${epoch}, step \\d+: gradients overflowed float16 .*; step skipped`, 'gm')) ?? []).length;
  const records = epochs(events);
  assert.equal(records.length, 2);
  assert.ok(said(1) >= 1, `skipped in epoch 1: ${said(1)}`);
  for (const e of records) assert.equal(e.skipped_steps, said(e.epoch), `epoch ${e.epoch}: skipped_steps ${e.skipped_steps}, steps said to be skipped in it ${said(e.epoch)}`);
  assert.equal(records[1].loss_scale, 2 ** 20 / 2 ** (said(1) + said(2)));
  const saved = (await lastCheckpoint(out)).state as { history: { lossScale: { skippedInEpoch: number; skippedTotal: number } } };
  assert.deepEqual([saved.history.lossScale.skippedInEpoch, saved.history.lossScale.skippedTotal], [0, said(1) + said(2)]);
  assert.ok(events.some((e) => e.event === 'done'));
});

test('train tunes the GEMM tiles on first use (asked to on llvmpipe), caches them, and trains as the CPU does', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'alexnet-webgpu-tuned-'));
  const data = tinyFashionMnist(join(root, 'data'), 24, 8);
  const config = { arch: 'mini', data, epochs: 1, batch: 8, validation: 8, seed: 3, lr: 0.01, schedule: 'constant', momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper' as const, checkpointEvery: 0, report: false };
  const cpuEvents: TrainEvent[] = [];
  await train({ ...config, out: join(root, 'cpu') }, new CpuBackend(), (e) => cpuEvents.push(e));
  process.env.ALEXNET_CACHE_DIR = join(root, 'cache');
  const events: TrainEvent[] = [];
  try {
    await train({ ...config, out: join(root, 'gpu') }, (await createWebGpuBackend({ autotune: true }))!, (e) => events.push(e));
  } finally {
    delete process.env.ALEXNET_CACHE_DIR;
  }
  const notices = events.filter((e): e is Extract<TrainEvent, { event: 'notice' }> => e.event === 'notice').map((e) => e.message);
  assert.ok(notices.some((m) => /^tuning GEMM tiles for \d+ new problem\(s\) on /.test(m)), notices.join('\n'));
  const cache = JSON.parse(readFileSync(join(root, 'cache', 'gemm-tiles.json'), 'utf8'));
  const [entry] = Object.values(cache.adapters) as Record<string, string>[];
  assert.ok(Object.keys(entry).length >= 9, `${Object.keys(entry).length} problems cached`);
  const [got, want] = [steps(events).map((e) => e.loss), steps(cpuEvents).map((e) => e.loss)];
  assert.equal(got.length, want.length);
  got.forEach((l, i) => assert.ok(Math.abs(l - want[i]) <= 1e-4 * want[i], `step ${i + 1}: loss ${l} with tuned tiles, ${want[i]} on the CPU`));
});
