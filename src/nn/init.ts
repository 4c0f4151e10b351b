// Parameter initialisation. The paper: weights N(0, 0.01^2), biases 1 in conv2, conv4, conv5,
// fc6, fc7 and 0 elsewhere (each spec carries its bias). "he" (N(0, 2/fan_in)) lets nets
// without the paper's scale, like mini, start learning at once.
import { Rng } from '../rng/hash.js';
import type { InitScheme } from './layers.js';

export interface InitOptions {
  scheme: InitScheme;
  seed: number;
  /** Replaces every nonzero bias of the spec (Caffe used 0.1 where the paper used 1). */
  biasOverride?: number;
}

/** Fills a weight of `fanIn` inputs per output with the scheme's normal distribution. */
export function initWeight(values: Float32Array, fanIn: number, scheme: InitScheme, rng: Rng): void {
  const std = scheme === 'paper' ? 0.01 : Math.sqrt(2 / fanIn);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * std;
}

export function initBias(values: Float32Array, specBias: number, biasOverride?: number): void {
  values.fill(biasOverride !== undefined && specBias !== 0 ? biasOverride : specBias);
}
