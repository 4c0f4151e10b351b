// Shared test utilities: seeded data, finite differences, closeness checks that report the
// worst element, skip reasons, and a tiny Fashion-MNIST for quick training runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { paperFamily } from '../src/nn/architectures.js';
import { Rng } from '../src/rng/hash.js';

export function randomArray(size: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Distinct values (a random permutation of a spaced grid): no ties for max-pool. */
export function distinctArray(size: number, seed: number): Float64Array {
  const order = Array.from({ length: size }, (_, i) => i);
  new Rng(seed).shuffle(order);
  return Float64Array.from(order, (v) => (v - size / 2) * 0.1);
}

/**
 * Central-difference gradient of f at every element of `x` (x is perturbed and restored).
 */
export function numericGradient(f: () => number, x: Float64Array, eps = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + eps;
    const plus = f();
    x[i] = saved - eps;
    const minus = f();
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * eps);
  }
  return grad;
}

/** Largest |a - b| / max(|b|, floor) and where it is. */
export function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3) {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  return { worst, at };
}

/** Asserts a ~ b elementwise within `tol` relative (with an absolute floor for tiny values). */
export function assertClose(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number, floor = 1e-3): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  const { worst, at } = worstRelative(a, b, floor);
  assert.ok(worst <= tol, `${what}: worst relative error ${worst.toExponential(3)} at ${at} (${a[at]} vs ${b[at]}), tolerance ${tol}`);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** A micro AlexNet with every component (grouped convs, LRN, overlapping pools, dropout) on 3x15x15. */
export const micro = paperFamily({
  name: 'micro',
  input: [3, 15, 15],
  classes: 3,
  conv: [4, 6, 6, 6, 4],
  conv1Kernel: 3,
  conv1Stride: 1,
  conv1Pad: 1,
  conv2Kernel: 5,
  hidden: 5,
  lrn: { size: 3, alpha: 0.05, beta: 0.75, k: 2, alphaDividedBySize: false },
  groups: 2,
  rounding: 'floor',
  dropout: 0.5,
  convBiasInit: 0.1,
  fcBiasInit: 0.1,
});

/**
 * The skip reason of tests that need something installed, or false when it is there. Where the
 * variable CI is set nothing may skip: a failing test says what is missing.
 */
export function skipUnless(available: boolean, what: string, reason: string): string | false {
  if (available) return false;
  if (process.env.CI) test(`${what} is installed (required in CI)`, () => assert.fail(reason));
  console.log(`${what} tests: skipped: ${reason}`);
  return reason;
}

/** Debian's PyTorch: /usr/bin/python3 (not a pyenv python3 first on PATH). */
export const PYTHON = '/usr/bin/python3';
/** The skip reason of the PyTorch comparisons (asked only by the files that have them: importing torch takes seconds). */
export function torchSkip(): string | false {
  return skipUnless(
    spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0,
    'PyTorch',
    'PyTorch is not installed (apt-get install python3-torch python3-torchvision)',
  );
}

export const NO_WEBGPU =
  'no WebGPU adapter here; without a GPU on Debian 12, install Mesa 25 (llvmpipe) from bookworm-backports: ' +
  "echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list && " +
  'apt-get update && apt-get install -t bookworm-backports mesa-vulkan-drivers';

/**
 * The CPU backend the command line builds: worker threads, and the relaxed-SIMD kernels that
 * host_node.ts enables (a backend without them rounds fused multiply-adds differently). Tests
 * that compare a library run with a command-line run bit for bit use it.
 */
export const cliCpuBackend = () => new CpuBackend({ host: nodePoolHost });

/** The first `train` and `test` images of the bundled Fashion-MNIST subset as a data directory; returns its data spec. */
export function tinyFashionMnist(dir: string, trainImages: number, testImages: number): string {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count] of [['train', trainImages], ['t10k', testImages]] as const) {
    for (const kind of ['images-idx3', 'labels-idx1']) {
      const name = `${prefix}-${kind}-ubyte`;
      const bytes = gunzipSync(readFileSync(join(BUNDLED_FASHION_MNIST, `${name}.gz`)));
      const header = Buffer.from(bytes.subarray(0, 4 + 4 * bytes[3])); // magic, then one u32 per dimension
      header.writeUInt32BE(count, 4);
      let record = 1;
      for (let d = 8; d < header.length; d += 4) record *= header.readUInt32BE(d);
      writeFileSync(join(dir, name), Buffer.concat([header, bytes.subarray(header.length, header.length + count * record)]));
    }
  }
  return `fashion-mnist:${dir}`;
}
