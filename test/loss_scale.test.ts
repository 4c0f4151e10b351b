// The loss scaler's rule (src/optim/loss_scale.ts): halve and skip on overflow, double after
// GROWTH_INTERVAL clean steps in a row, stop with a clear error rather than scale below 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TrainingError } from '../src/core/errors.js';
import { afterStep, GROWTH_INTERVAL, initialLossScale, INITIAL_SCALE, isLossScale } from '../src/optim/loss_scale.js';

test('the scale halves on overflow (counted), and a clean run resets the count towards growth', () => {
  let s = initialLossScale();
  assert.equal(s.scale, INITIAL_SCALE);
  for (let i = 0; i < 5; i++) s = afterStep(s, true, 'step');
  assert.equal(s.goodSteps, 5);
  s = afterStep(s, false, 'step');
  assert.deepEqual(s, { scale: INITIAL_SCALE / 2, goodSteps: 0, skippedInEpoch: 1, skippedTotal: 1 });
});

test('the scale doubles after GROWTH_INTERVAL clean steps in a row, not one step sooner', () => {
  let s = initialLossScale(8);
  for (let i = 0; i < GROWTH_INTERVAL - 1; i++) s = afterStep(s, true, 'step');
  assert.equal(s.scale, 8);
  s = afterStep(s, true, 'step');
  assert.equal(s.scale, 16);
  assert.equal(s.goodSteps, 0);
});

test('an overflow at scale 1 stops training with the step named and what to do', () => {
  assert.throws(() => afterStep(initialLossScale(1), false, 'epoch 3, step 7'), (e: Error) => {
    assert.ok(e instanceof TrainingError);
    assert.match(e.message, /^epoch 3, step 7: the gradients are not finite even at loss scale 1; the step was not applied/);
    assert.match(e.message, /--precision fp32/);
    return true;
  });
  assert.equal(afterStep(initialLossScale(2), false, 'step').scale, 1);
});

test('loss scales are powers of two from 1 up', () => {
  for (const s of [1, 2, 1024, 2 ** 40]) assert.ok(isLossScale(s), String(s));
  for (const s of [0, 0.5, 3, 1000, -2, Infinity, NaN]) assert.ok(!isLossScale(s), String(s));
});
