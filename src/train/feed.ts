// A loader's batch into a Net's input. Float batches (cropped and normalised by the loader's
// workers: the CPU backend's way) are written as they are; uint8 batches (stored images and
// crop parameters: a GPU's way, a quarter of the bytes and no per-pixel work on the host) are
// cropped, mirrored and normalised by the backend (writeCrops).
import type { Backend, Tensor } from '../backend/backend.js';
import { cropGeometry, type AugmentPlan } from '../data/augment.js';
import type { Batch } from '../data/loader.js';
import type { Net } from '../nn/net.js';

/** The loader output that suits `backend`: uint8 for a device that crops, floats for the CPU. */
export function batchOutputFor(backend: Backend): 'float32' | 'uint8' {
  return backend.name === 'cpu' ? 'float32' : 'uint8';
}

/** The mean image on each Net's backend, and the plan array it was last uploaded from. */
const means = new WeakMap<Net, { tensor: Tensor; from: Float32Array }>();

/** Writes batch `b` (made under `plan`) into `net`'s input: b.count * b.views crops. */
export function feedBatch(net: Net, plan: AugmentPlan, b: Batch): void {
  const be = net.backend;
  if (plan.output === 'float32') {
    be.write(net.input, b.input);
    return;
  }
  let mean = means.get(net);
  if (!mean) {
    mean = { tensor: be.allocate('mean image', plan.mean.length), from: new Float32Array(0) };
    means.set(net, mean);
  }
  if (mean.from !== plan.mean) {
    // Loaders switch (training, validation) a few times an epoch; each has its own plan.
    be.write(mean.tensor, plan.mean);
    mean.from = plan.mean;
  }
  be.writeCrops(cropGeometry(plan, b.count), b.pixels, b.params, mean.tensor, net.input);
}
