// Data parallelism over several devices (src/parallel/data.ts) against one device: 5 SGD steps
// of the micro net with dropout, on 2 and 3 CPU backends (3 with uneven slices: 7 images as
// 3 + 2 + 2, on the reference loops) and on two WebGPU devices (llvmpipe here), must give the one-device run's losses
// and weights within 1e-5 relative, with the replicas' weights identical bit for bit. Each
// comparison fails without the dropout offset of a slice (masks would repeat per device) or
// without the n_k / B weighting of the gradients. Checkpoints of a 2-device run load into one
// device, and the reverse.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Backend } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend, probeAdapter } from '../src/backend/webgpu/dawn.js';
import type { AugmentPlan } from '../src/data/augment.js';
import type { Batch } from '../src/data/loader.js';
import { Net } from '../src/nn/net.js';
import type { Network } from '../src/nn/network.js';
import { batchSlices, DataParallel } from '../src/parallel/data.js';
import { Rng } from '../src/rng/hash.js';
import { feedBatch } from '../src/train/feed.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { assertOverflowSeen, assertSameRun, SGD, trainSteps } from './devices_harness.js';
import { micro, NO_WEBGPU, skipUnless } from './helpers.js';

const BATCH = 7;
const STEPS = 5;
const SEED = 11;

/** A batch of float images and labels as the loader gives them (one float crop per image). */
function batchOf(step: number): Batch {
  const rng = new Rng(100 + step);
  const input = Float32Array.from({ length: BATCH * 3 * 15 * 15 }, () => rng.normal());
  const labels = Float32Array.from({ length: BATCH }, () => rng.below(micro.classes));
  return { count: BATCH, views: 1, input, labels, pixels: new Uint8Array(0), params: new Float32Array(0), indices: new Int32Array(BATCH) };
}

/** feedBatch reads only `output` of a plan for float batches. */
const floatPlan = { output: 'float32' } as AugmentPlan;

const feed = (n: Network, step: number) => feedBatch(n, floatPlan, batchOf(step));
const run = (net: Network, lossScale?: number) => trainSteps(net, { seed: SEED, steps: STEPS, batch: BATCH, feed, lossScale });

async function assertMatchesOneDevice(make: () => Promise<Backend>, devices: number): Promise<void> {
  const one = await run(new Net(await make(), micro, BATCH));
  const backends: Backend[] = [];
  for (let k = 0; k < devices; k++) backends.push(await make());
  const parallel = new DataParallel(backends, micro, BATCH);
  const many = await run(parallel);
  assertSameRun(`${devices} x ${backends[0].name}`, many, one);
  for (const r of parallel.replicas.slice(1)) {
    const theirs = await r.exportTensors();
    theirs.forEach((t, i) => assert.deepEqual(t.data, many.weights[i].data, `replica weights differ in ${t.name}`));
  }
}

test('batch slices: contiguous, in order, sizes differing by at most one', () => {
  assert.deepEqual(batchSlices(7, 3), [{ first: 0, count: 3 }, { first: 3, count: 2 }, { first: 5, count: 2 }]);
  assert.deepEqual(batchSlices(2, 3).map((s) => s.count), [1, 1, 0]);
  assert.throws(() => new DataParallel([new CpuBackend(), new CpuBackend()], micro, 1), /--batch 1 is smaller than --devices 2/);
});

test('2 CPU backends, data parallel: 5 steps as on one backend', () => assertMatchesOneDevice(async () => new CpuBackend(), 2));

test('2 CPU backends with loss scaling: scaled gradients, divided out by the update, give the unscaled run; an overflow is seen', async () => {
  const one = await run(new Net(new CpuBackend(), micro, BATCH));
  const parallel = () => new DataParallel([new CpuBackend(), new CpuBackend()], micro, BATCH);
  assertSameRun('2 x cpu, loss scale 1024', await run(parallel(), 1024), one);
  await assertOverflowSeen(parallel(), BATCH, feed);
});

// The reference loops here (the fast mode's WebAssembly kernels above): each draws its own masks.
test('3 CPU backends (reference loops), uneven slices: 5 steps as on one backend', () =>
  assertMatchesOneDevice(async () => new CpuBackend({ reference: true }), 3),
);

const skip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

test('2 WebGPU devices in one process, data parallel: 5 steps as on one device', { skip }, () =>
  assertMatchesOneDevice(async () => (await createWebGpuBackend())!, 2),
);

test('a checkpoint of a 2-device run loads into one device, and the reverse', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'alexnet-devices-')), 'checkpoints');
  const parallel = new DataParallel([new CpuBackend(), new CpuBackend()], micro, BATCH);
  const trained = await run(parallel);
  const state = { config: {}, epoch: 0, step: STEPS, history: {} };
  const load = async () => loadCheckpoint(await latestCheckpoint(dir));
  await saveCheckpoint(dir, parallel, state, {});
  const single = new Net(new CpuBackend(), micro, BATCH);
  let c = await load();
  single.importTensors(c.weights, c.weightsPath);
  single.importTensors(c.momenta, c.optimizerPath, 'velocity');
  assert.deepEqual(await single.exportTensors(), trained.weights);
  assert.deepEqual(await single.exportTensors('velocity'), await parallel.exportTensors('velocity'));
  // One step further on one device, saved, then loaded into a fresh 2-device net.
  feedBatch(single, floatPlan, batchOf(STEPS));
  single.forward(BATCH, 'train', SEED, STEPS);
  single.backward();
  single.update(SGD);
  await saveCheckpoint(dir, single, { ...state, step: STEPS + 1 }, {});
  const again = new DataParallel([new CpuBackend(), new CpuBackend()], micro, BATCH);
  c = await load();
  again.importTensors(c.weights, c.weightsPath);
  again.importTensors(c.momenta, c.optimizerPath, 'velocity');
  for (const r of again.replicas) assert.deepEqual(await r.exportTensors(), await single.exportTensors());
});
