// End to end on real data: the mini net trained briefly on the bundled Fashion-MNIST subset
// learns (loss falls well below chance, test accuracy far above 10%), its weights round-trip
// through the saved files, and the same seed gives the same run.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { train, type TrainConfig, type TrainEvent } from '../src/train/trainer.js';
import { evaluateModels, loadTrainedModel } from '../src/eval/models.js';

const config = (out: string): TrainConfig => ({
  arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 1, batch: 32, lr: 0.01, momentum: 0.9,
  weightDecay: 5e-4, sgdForm: 'paper', seed: 5, validation: 500, limit: 3500, schedule: 'constant', checkpointEvery: 0, out,
});

test('mini learns Fashion-MNIST: loss falls, test top-1 well above chance, weights saved', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-e2e-'));
  const events: TrainEvent[] = [];
  const result = await train(config(out), new CpuBackend(), (e) => events.push(e));
  const steps = events.filter((e) => e.event === 'step').map((e) => (e as { loss: number }).loss);
  const first = steps.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = steps.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < 0.7 * first, `loss should fall: first steps ${first.toFixed(3)}, last ${last.toFixed(3)}`);
  assert.ok(result.top1 >= 0.4, `test top-1 ${result.top1} should be >= 0.4 (chance: 0.1) after 3,000 images`);
  const done = events.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.equal(done.event, 'done');
  assert.equal(done.test_top1, result.top1);
  const { tensors } = await readSafetensors(join(done.checkpoint, 'weights.safetensors'));
  assert.deepEqual(tensors.get('conv2.weight')?.shape, [48, 12, 5, 5]);
  const saved = JSON.parse(await readFile(join(done.checkpoint, 'state.json'), 'utf8'));
  assert.equal(saved.model.arch, 'mini');
  assert.equal(saved.model.classes.length, 10);
  assert.equal(saved.epoch, 1);
  // Evaluating the saved run reproduces the accuracy training reported.
  const again = await evaluateModels([await loadTrainedModel(out)], config(out).data, new CpuBackend());
  assert.equal(again.top1, result.top1);
  assert.equal(again.top5, result.top5);
});
