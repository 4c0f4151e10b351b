// Nothing a user types exhausts the machine: a sweep grid, --threads, --devices and --batch are
// checked against their limits before any work, and the refusal gives the figure and the limit.
// Before: a grid of 10^10 runs took 5 GB and crashed the heap; --threads 1000 on 2 cores took
// 6 GB and made no progress; more CPU devices than cores, or a batch over the machine's memory,
// started working first.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { architecture } from '../src/nn/architectures.js';
import { netBytes } from '../src/nn/memory.js';
import { Net } from '../src/nn/net.js';
import { micro } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-limits-'));
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
const cores = availableParallelism();

function alexnet(...args: string[]) {
  const started = performance.now();
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - started) / 1000 };
}

function assertLine(r: ReturnType<typeof alexnet>, code: number, line: string) {
  assert.equal(r.stderr, `${line}\n`, `exit ${r.code}`);
  assert.equal(r.code, code);
  assert.equal(r.stdout, '');
}

test('a sweep grid over 10,000 runs is refused before it is expanded, with the count and its factors', () => {
  const spec = (file: string, grid: Record<string, number[]>) => {
    const path = join(dir, file);
    writeFileSync(path, JSON.stringify({ train: { arch: 'mini', data: DATA }, grid, seeds: [1, 2] }));
    return path;
  };
  const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  // Just over the limit: before, its 10,100 runs were written.
  const over = spec('over.json', { lr: range(101, (i) => 0.001 * (i + 1)), batch: range(50, (i) => i + 1) });
  assertLine(alexnet('sweep', over, '--out', join(dir, 'over')), 1, `alexnet: ${over}: grid: makes 10,100 runs (101 lr x 50 batch x 2 seeds), more than the 10,000 a sweep may have`);
  assert.ok(!existsSync(join(dir, 'over')));
  const ten = range(10, (i) => i + 1);
  const huge = spec('huge.json', {
    lr: ten, batch: ten, epochs: ten, limit: ten, val: ten, 'checkpoint-every': ten, threads: ten,
    'weight-decay': ten, 'bias-init': ten, 'input-scale': ten,
  });
  const r = alexnet('sweep', huge, '--out', join(dir, 'huge'));
  assertLine(r, 1, `alexnet: ${huge}: grid: makes 20,000,000,000 runs (10 lr x 10 batch x 10 epochs x 10 limit x 10 val x 10 checkpoint-every x 10 threads x ` +
    '10 weight-decay x 10 bias-init x 10 input-scale x 2 seeds), more than the 10,000 a sweep may have');
});

test('--threads over the cores and CPU --devices over the cores are usage errors, before any thread starts', () => {
  const bench = ['bench', '--arch', 'mini', '--batch', '4', '--mode', 'infer', '--steps', '1', '--warmup', '0', '--backend', 'cpu'];
  // Before: accepted (1000 threads took 6 GB and made no progress).
  assertLine(alexnet(...bench, '--threads', String(cores + 1)), 2, `alexnet: --threads ${cores + 1}: more than the ${cores} cores of this machine; at most ${cores}`);
  assertLine(alexnet(...bench, '--threads', '1000'), 2, `alexnet: --threads 1000: more than the ${cores} cores of this machine; at most ${cores}`);
  assert.equal(alexnet(...bench, '--threads', String(cores)).code, 0);
  const devices = String(cores + 1);
  const line = `alexnet: --devices ${devices}: more CPU devices than the ${cores} cores of this machine (each is a pool of threads of its own); at most ${cores}`;
  assertLine(alexnet(...bench, '--batch', '8', '--devices', devices), 2, line);
  assertLine(alexnet('train', '--arch', 'mini', '--data', DATA, '--batch', '8', '--devices', devices, '--backend', 'cpu', '--out', join(dir, 'devices')), 2, line);
  assert.ok(!existsSync(join(dir, 'devices')), 'nothing was made');
});

test('a batch whose nets need more than the machine\'s memory is refused before any work, with both figures', () => {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const need = netBytes(architecture('paper'), 30_000);
  assert.ok(need > totalmem());
  const line = `alexnet: --batch 30000: the paper net needs ${gib(need)} at this batch, more than the ${gib(totalmem())} of memory this machine has; lower --batch`;
  // Before: train opened (and resampled) the data first.
  const r = alexnet('train', '--arch', 'paper', '--data', DATA, '--batch', '30000', '--backend', 'cpu', '--out', join(dir, 'big'));
  assertLine(r, 2, line);
  assert.ok(!existsSync(join(dir, 'big')));
  assertLine(alexnet('bench', '--arch', 'paper', '--batch', '30000', '--mode', 'train', '--backend', 'cpu'), 2, line);
});

test('netBytes, the figure of those messages, is what a Net allocates on the CPU (but its alignment, under 2%)', () => {
  for (const [arch, batch] of [[micro, 3], [architecture('mini'), 16], [architecture('mini', [3, 32, 32], 5), 7]] as const) {
    const real = new Net(new CpuBackend(), arch, batch).memoryBytes;
    const counted = netBytes(arch, batch);
    assert.ok(counted <= real && real - counted < 0.02 * real, `${arch.name} at batch ${batch}: counted ${counted} bytes, allocated ${real}`);
  }
});
