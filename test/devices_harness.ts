// What the multi-device tests share: a few SGD steps of a Network from fixed inputs, and the
// comparison of a run on several devices with the one-device run (losses and weights within
// 1e-5 relative).
import assert from 'node:assert/strict';
import type { NamedTensor } from '../src/io/safetensors.js';
import type { Network } from '../src/nn/network.js';

export const SGD = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, form: 'paper' as const };

export interface StepsRun {
  losses: number[];
  weights: NamedTensor[];
}

/**
 * Losses of `steps` SGD steps of `net` (initialised from `seed`, batch `batch`, each step's input
 * written by `feed`) and the weights after them. With `lossScale`, the gradients are scaled by it
 * and the update divides it out again (loss scaling; every step's gradients must be finite).
 * With `from`, the net is not initialised: it continues a run at step `from` (a resume).
 */
export async function trainSteps(net: Network, o: { seed: number; steps: number; batch: number; feed: (net: Network, step: number) => void; lossScale?: number; from?: number }): Promise<StepsRun> {
  if (o.from === undefined) net.initialize({ scheme: 'paper', seed: o.seed });
  const losses: number[] = [];
  const scale = o.lossScale ?? 1;
  for (let step = o.from ?? 0; step < o.steps; step++) {
    o.feed(net, step);
    await net.forward(o.batch, 'train', o.seed, step);
    await net.backward(scale);
    losses.push(await net.readLoss());
    if (o.lossScale !== undefined) assert.ok(await net.gradientsFinite(), `step ${step}: gradients not finite at loss scale ${scale}`);
    await net.update({ ...SGD, gradScale: 1 / scale });
  }
  return { losses, weights: await net.exportTensors() };
}

/** An infinite loss scale makes the gradients non-finite; gradientsFinite must say so. */
export async function assertOverflowSeen(net: Network, batch: number, feed: (net: Network, step: number) => void): Promise<void> {
  net.initialize({ scheme: 'paper', seed: 1 });
  feed(net, 0);
  await net.forward(batch, 'train', 1, 0);
  await net.backward(Infinity);
  assert.equal(await net.gradientsFinite(), false);
}

/** Largest |a - b| / max |b| over each tensor (names and shapes must match), the worst tensor. */
export function worstWeights(got: NamedTensor[], want: NamedTensor[]): number {
  let worst = 0;
  want.forEach((w, t) => {
    assert.equal(got[t].name, w.name);
    assert.deepEqual(got[t].shape, w.shape);
    const scale = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    worst = Math.max(worst, w.data.reduce((m, v, i) => Math.max(m, Math.abs(got[t].data[i] - v)), 0) / scale);
  });
  return worst;
}

/** The run on several devices gave the one-device run's losses and weights within 1e-5 relative (the worst differences are printed). */
export function assertSameRun(label: string, got: StepsRun, want: StepsRun): void {
  const lossError = Math.max(...got.losses.map((l, i) => Math.abs(l - want.losses[i]) / Math.abs(want.losses[i])));
  const weightError = worstWeights(got.weights, want.weights);
  console.log(`${label}: losses ${got.losses.map((l) => l.toFixed(6)).join(' ')}; worst relative difference: loss ${lossError.toExponential(2)}, weights ${weightError.toExponential(2)}`);
  assert.ok(lossError <= 1e-5, `loss differs by ${lossError} relative (${got.losses} vs ${want.losses})`);
  assert.ok(weightError <= 1e-5, `weights differ by ${weightError} relative`);
}
