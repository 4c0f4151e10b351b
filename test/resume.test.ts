// Crash safety: training killed with SIGKILL mid-epoch resumes from its newest checkpoint and
// continues exactly as an uninterrupted run (same losses, bit for bit, on the CPU), and the
// checkpoint pointer only ever names complete checkpoints.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { train, type TrainConfig, type TrainEvent } from '../src/train/trainer.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { cliCpuBackend } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const ARGS = { limit: 600, val: 100, batch: 50, epochs: 2, seed: 9, every: 3 }; // 10 steps per epoch

/** Loss and learning rate of each step, by its number over the whole run. */
function stepLosses(events: TrainEvent[]): Map<number, { loss: number; lr: number }> {
  const losses = new Map<number, { loss: number; lr: number }>();
  let offset = 0;
  for (const e of events) {
    if (e.event === 'step') losses.set(offset + e.step, { loss: e.loss, lr: e.lr });
    if (e.event === 'epoch') offset = e.epoch * 10;
  }
  return losses;
}

test('SIGKILL mid-epoch, then --resume: later losses and rates equal an uninterrupted run exactly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'alexnet-resume-'));
  const config: TrainConfig = {
    arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: ARGS.epochs, batch: ARGS.batch, lr: 0.01,
    // Cosine: the rate changes every step, so the resumed run must take it from the step count.
    schedule: 'cosine', momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: ARGS.seed, validation: ARGS.val,
    limit: ARGS.limit, checkpointEvery: ARGS.every, out: join(root, 'straight'),
  };
  const straight: TrainEvent[] = [];
  await train(config, cliCpuBackend(), (e) => straight.push(e));
  const want = stepLosses(straight);
  assert.ok(want.get(20)!.lr < want.get(16)!.lr, 'the rate should fall from step to step');

  // The same run from the command line, killed a few steps into epoch 2.
  const out = join(root, 'killed');
  const child = spawn(process.execPath, [
    MAIN, 'train', '--arch', 'mini', '--data', config.data, '--epochs', '2', '--batch', '50', '--limit', '600',
    '--val', '100', '--seed', '9', '--checkpoint-every', '3', '--lr', '0.01', '--lr-schedule', 'cosine', '--backend', 'cpu',
    '--out', out, '--json', '--log-steps',
  ]);
  const seen: TrainEvent[] = [];
  await new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as TrainEvent;
      seen.push(e);
      if (e.event === 'step' && e.epoch === 2 && e.step === 7) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
  });
  assert.equal(child.signalCode, 'SIGKILL', 'the run should have been killed mid-epoch 2');
  // Until the kill, the command-line run took the same steps as the library run.
  for (const [step, got] of stepLosses(seen)) assert.deepEqual(got, want.get(step), `step ${step} before the kill`);

  // The pointer names a complete checkpoint: step 15 (every 3 steps and at the end of epoch 1).
  const newest = await latestCheckpoint(checkpointDir(out));
  const { state } = await loadCheckpoint(newest);
  assert.equal(state.step, 15);
  for (const f of ['weights.safetensors', 'optimizer.safetensors', 'state.json']) assert.ok(existsSync(join(newest, f)));
  assert.deepEqual(readdirSync(checkpointDir(out)).filter((n) => n.startsWith('ckpt-')), ['ckpt-00000015']);

  const resumed: TrainEvent[] = [];
  await train({ ...config, out }, cliCpuBackend(), (e) => resumed.push(e), { dir: out });
  // The resumed run starts at step 16 (step 6 of epoch 2) and must match from there on.
  const firstResumed = resumed.find((e) => e.event === 'step') as Extract<TrainEvent, { event: 'step' }>;
  assert.equal(firstResumed.epoch, 2);
  assert.equal(firstResumed.step, 6);
  let compared = 0;
  for (const e of resumed) {
    if (e.event !== 'step') continue;
    assert.deepEqual({ loss: e.loss, lr: e.lr }, want.get(10 + e.step), `epoch 2 step ${e.step} after resuming`);
    compared++;
  }
  assert.equal(compared, 5);
  // Epoch 2's record (its first step's rate, mean loss, validation) matches too, timings aside.
  const epochTwo = (events: TrainEvent[]) => {
    const { img_per_s: _speed, seconds: _seconds, ...rest } = events.find((e) => e.event === 'epoch' && e.epoch === 2) as Extract<TrainEvent, { event: 'epoch' }>;
    return rest;
  };
  assert.deepEqual(epochTwo(resumed), epochTwo(straight));
  const doneA = straight.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  const doneB = resumed.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.equal(doneB.test_top1, doneA.test_top1);
});

test('a NaN loss stops training with a clear message and leaves the last checkpoint intact', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-nan-'));
  const config: TrainConfig = {
    arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 3, batch: 50, lr: 0.01, schedule: 'constant',
    momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: 2, validation: 100, limit: 300, checkpointEvery: 0, out,
  };
  await train({ ...config, epochs: 1 }, new CpuBackend(), () => {});
  const before = await loadCheckpoint(await latestCheckpoint(checkpointDir(out)));
  assert.equal(before.state.step, 4);
  // Resume with an absurd learning rate: the loss overflows within a few steps.
  await assert.rejects(
    train(config, new CpuBackend(), () => {}, { dir: out, epochs: 3, lr: 1e12 }),
    /loss became (NaN|Infinity|-Infinity) at epoch 2, step \d+; stopped without applying that step, and the last checkpoint under .* is intact/,
  );
  const after = await loadCheckpoint(await latestCheckpoint(checkpointDir(out)));
  assert.equal(after.state.step, 4, 'no checkpoint was written after the divergence');
  for (const [name, t] of after.weights) assert.deepEqual(t.data, before.weights.get(name)!.data, name);
});

test('a full disk while writing a checkpoint leaves the previous one intact', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-full-'));
  const args = ['--arch', 'mini', '--data', `fashion-mnist:${BUNDLED_FASHION_MNIST}`, '--batch', '50', '--limit', '300', '--val', '100',
    '--seed', '4', '--backend', 'cpu', '--no-report', '--json'];
  const first = spawnSync(process.execPath, [MAIN, 'train', ...args, '--epochs', '1', '--out', out], { encoding: 'utf8' });
  assert.equal(first.status, 0, first.stderr);
  const before = await loadCheckpoint(await latestCheckpoint(checkpointDir(out)));
  // Files may not grow past 512 KiB (the weights are 1.7 MB), and the signal that would kill the
  // process is ignored, so writes fail with EFBIG as they would with ENOSPC on a full disk.
  const script = `trap '' XFSZ; ulimit -f 512; exec "${process.execPath}" "${MAIN}" train --resume "${out}" --epochs 2 --no-report --backend cpu`;
  const full = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(full.status, 1, full.stderr);
  const lines = full.stderr.trim().split('\n');
  assert.equal(lines.length, 1, full.stderr);
  assert.match(lines[0], /^alexnet: .*(too large|EFBIG)/);
  const after = await loadCheckpoint(await latestCheckpoint(checkpointDir(out)));
  assert.equal(after.state.step, before.state.step);
  for (const [name, t] of after.weights) assert.deepEqual(t.data, before.weights.get(name)!.data, name);
  assert.deepEqual(readdirSync(checkpointDir(out)).filter((n) => n.startsWith('ckpt-')), [`ckpt-${String(before.state.step).padStart(8, '0')}`]);
});
