// Learning-rate schedules: the paper's step and plateau divisions, and the per-step cosine decay.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { afterEpoch, initialSchedule, learningRate, parseSchedule } from '../src/optim/schedule.js';

test('step divides by 10 every N epochs, at most three times', () => {
  const c = parseSchedule('step:2');
  let s = initialSchedule(0.01);
  const rates: number[] = [];
  for (let epoch = 1; epoch <= 10; epoch++) {
    s = afterEpoch(c, s, epoch, 0.5);
    rates.push(s.lr);
  }
  assert.deepEqual(rates.map((r) => Math.round(Math.log10(r))), [-2, -3, -3, -4, -4, -5, -5, -5, -5, -5]);
});

test('plateau divides once the validation error has not improved for PATIENCE epochs', () => {
  const c = parseSchedule('plateau:2');
  let s = initialSchedule(0.1);
  for (const [epoch, error] of [[1, 0.5], [2, 0.4], [3, 0.45], [4, 0.41]] as const) s = afterEpoch(c, s, epoch, error);
  assert.equal(s.drops, 1);
  assert.ok(Math.abs(s.lr - 0.01) < 1e-15);
});

test('cosine starts at the full rate, halves midway, nears zero at the end, and never drops per epoch', () => {
  const c = parseSchedule('cosine');
  const s = initialSchedule(0.02);
  assert.equal(learningRate(c, s, 0, 1000), 0.02);
  assert.ok(Math.abs(learningRate(c, s, 500, 1000) - 0.01) < 1e-15);
  assert.ok(learningRate(c, s, 999, 1000) < 1e-7);
  assert.ok(learningRate(c, s, 250, 1000) > learningRate(c, s, 251, 1000));
  assert.equal(afterEpoch(c, s, 1, 0.9).lr, 0.02);
  // Other schedules ignore the step.
  assert.equal(learningRate(parseSchedule('step:1'), s, 999, 1000), 0.02);
});

test('a malformed schedule is a usage error naming the flag', () => {
  assert.throws(() => parseSchedule('cosine:3'), /--lr-schedule: "cosine" takes no argument/);
  assert.throws(() => parseSchedule('step:0'), /--lr-schedule: expected a positive integer/);
  assert.throws(() => parseSchedule('linear'), /expected constant, step\[:EPOCHS\], plateau\[:PATIENCE\] or cosine/);
});
