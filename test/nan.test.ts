// NaN propagates as PyTorch's does: through ReLU (relu(NaN) = NaN), max-pool (a window holding
// a NaN gives NaN), dropout (a dropped NaN is NaN * 0 = NaN) and so to the logits and the loss,
// on both backends; top-k never counts a NaN score as a hit; and training stops with its NaN
// message instead of "succeeding" on NaN weights.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { dropoutForward, reluBackward, reluForward } from '../src/backend/cpu/activation.js';
import { maxPoolBackward, maxPoolForward } from '../src/backend/cpu/pool.js';
import { poolGeometry } from '../src/core/geometry.js';
import { countTopK } from '../src/eval/metrics.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { NO_WEBGPU } from './helpers.js';
import { gpu } from './webgpu_harness.js';

test('CPU ReLU keeps NaN forward and passes its gradient, as PyTorch', () => {
  const y = new Float32Array(4);
  reluForward(4, Float32Array.of(NaN, -1, 2, 0), y);
  assert.deepEqual([...y], [NaN, 0, 2, 0]);
  const dx = new Float32Array(4);
  reluBackward(4, y, Float32Array.of(5, 6, 7, 8), dx);
  assert.deepEqual([...dx], [5, 0, 7, 0]);
});

test('CPU max-pool: a window holding NaN gives NaN, and the gradient goes to the NaN', () => {
  // One 1x1x3x3 plane, one 3x3 window: the NaN is in the middle, 9 the largest number.
  const g = poolGeometry(1, 1, 3, 3, 3, 2);
  const x = Float32Array.of(1, 2, 3, 4, NaN, 6, 7, 8, 9);
  const y = new Float32Array(1);
  maxPoolForward(g, x, y);
  assert.ok(Number.isNaN(y[0]), `max of a window with a NaN: ${y[0]}`);
  const dx = new Float32Array(9);
  maxPoolBackward(g, x, Float32Array.of(1), dx);
  assert.deepEqual([...dx], [0, 0, 0, 0, 1, 0, 0, 0, 0]);
});

test('CPU dropout: NaN stays NaN where kept and where dropped (x * 0)', () => {
  const n = 64;
  const y = new Float32Array(n);
  dropoutForward(n, { p: 0.5, seed: 3, stream: 1 }, new Float32Array(n).fill(NaN), y);
  assert.ok(y.every(Number.isNaN), `dropout output: ${[...y].slice(0, 8)}`);
});

test('top-k never counts a NaN score as a hit', () => {
  const logits = Float32Array.of(NaN, NaN, NaN, 1, 2, 3);
  assert.equal(countTopK(logits, [0, 2], 2, 3, 1), 1);
  assert.equal(countTopK(logits, [1, 2], 2, 3, 3), 1);
});

async function logitsOfNaNInput(backend: Backend): Promise<Float32Array> {
  const net = new Net(backend, architecture('mini'), 2);
  net.initialize({ scheme: 'he', seed: 1 });
  backend.write(net.input, new Float32Array(2 * 28 * 28).fill(NaN));
  net.forward(2, 'eval');
  return net.readLogits(2);
}

test('mini net on an all-NaN input: every logit is NaN on the CPU', async () => {
  const logits = await logitsOfNaNInput(new CpuBackend());
  assert.ok(logits.every(Number.isNaN), `logits: ${[...logits]}`);
});

test('mini net on an all-NaN input: every logit is NaN on WebGPU', { skip: gpu ? false : NO_WEBGPU }, async () => {
  const logits = await logitsOfNaNInput(gpu!);
  assert.ok(logits.every(Number.isNaN), `logits: ${[...logits]}`);
});

test('train --bias-init 1e300 stops at the first step with the NaN message, exit 1', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'alexnet-nan-')), 'run');
  const main = new URL('../src/cli/main.js', import.meta.url).pathname;
  const r = spawnSync(
    process.execPath,
    [main, 'train', '--arch', 'mini', '--data', 'fashion-mnist', '--limit', '200', '--val', '40', '--batch', '32', '--epochs', '1', '--bias-init', '1e300', '--backend', 'cpu', '--out', out],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /loss became NaN at epoch 1, step 1; stopped without applying that step/);
});
