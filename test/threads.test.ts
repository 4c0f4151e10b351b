// The CPU backend's thread pool: five training steps of the mini net give the same bits with 1,
// 2 and 3 threads (every output element is summed in one fixed order, whichever thread computes
// it), and the pool starts, serves and stops cleanly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { PAPER_SGD } from '../src/backend/cpu/sgd.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { Rng } from '../src/rng/hash.js';

const BATCH = 6;
const STEPS = 5;

/** Losses of STEPS training steps, then the logits, weights, gradients and momenta, as bytes. */
async function trainBits(backend: CpuBackend): Promise<{ losses: number[]; bytes: Map<string, Buffer> }> {
  const arch = architecture('mini');
  const net = new Net(backend, arch, BATCH);
  net.initialize({ scheme: arch.defaultInit, seed: 3 });
  const rng = new Rng(4);
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    backend.write(net.input, Float32Array.from({ length: BATCH * 28 * 28 }, () => rng.normal()));
    backend.write(net.labels, Float32Array.from({ length: BATCH }, () => rng.below(arch.classes)));
    net.forward(BATCH, 'train', 9, step);
    net.backward();
    net.update({ lr: 0.02, ...PAPER_SGD });
    losses.push(await net.readLoss());
  }
  const bytes = new Map<string, Buffer>([['logits', Buffer.from((await net.readLogits(BATCH)).buffer)]]);
  for (const which of ['value', 'grad', 'velocity'] as const) {
    for (const t of await net.exportTensors(which)) bytes.set(`${t.name} ${which}`, Buffer.from(t.data.buffer));
  }
  backend.dispose();
  return { losses, bytes };
}

test('five training steps of the mini net: bit-identical with 1, 2 and 3 threads', async () => {
  const runs = [];
  for (const threads of [1, 2, 3]) runs.push({ threads, ...(await trainBits(new CpuBackend({ host: nodePoolHost, threads }))) });
  const [one, ...others] = runs;
  assert.ok(one.losses.every(Number.isFinite) && one.losses[STEPS - 1] !== one.losses[0], `losses ${one.losses}`);
  for (const run of others) {
    assert.deepEqual(run.losses, one.losses, `${run.threads} threads: losses`);
    for (const [name, bytes] of one.bytes) assert.ok(bytes.equals(run.bytes.get(name)!), `${run.threads} threads: ${name} differs`);
  }
});

test('without shared memory (a page without cross-origin isolation): said once, one thread, the same bits, and views survive growth', async () => {
  const notices: string[] = [];
  const unshared = new CpuBackend({ host: nodePoolHost, threads: 2, sharedMemory: false, notice: (line) => notices.push(line) });
  assert.equal(notices.length, 1);
  assert.match(notices[0], /cross-origin isolation.*one thread/);
  assert.equal(unshared.threads, 1);
  // Its memory grows while the net allocates and trains (an unshared buffer is replaced then).
  const [a, b] = [await trainBits(unshared), await trainBits(new CpuBackend({ host: nodePoolHost, threads: 2 }))];
  assert.deepEqual(a.losses, b.losses);
  for (const [name, bytes] of b.bytes) assert.ok(bytes.equals(a.bytes.get(name)!), `${name} differs`);
});

test('the pool starts without blocking (start()), and ops after dispose() run on the calling thread', async () => {
  const backend = new CpuBackend({ host: nodePoolHost, threads: 2 });
  assert.equal(backend.pool!.active, 1, 'no worker before the first op or start()');
  await backend.start();
  assert.equal(backend.pool!.active, 2);
  const t = backend.allocate('t', 100_000);
  backend.write(t, Float32Array.from({ length: 100_000 }, (_, i) => i - 50_000));
  backend.reluForward(100_000, t, t);
  backend.dispose();
  assert.equal(backend.pool!.active, 1);
  backend.reluForward(100_000, t, t);
  const v = await backend.read(t);
  assert.equal(v[0], 0);
  assert.equal(v[99_999], 49_999);
});
