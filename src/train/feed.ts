// A loader's batch into a network's inputs and labels. Float batches (cropped and normalised by
// the loader's workers: the CPU backend's way) are written as they are; uint8 batches (stored
// images and crop parameters: a GPU's way, a quarter of the bytes and no per-pixel work on the
// host) are cropped, mirrored and normalised by the backend (writeCrops). A network on several
// devices says which rows each device takes (inputSlots).
import type { Backend, Tensor } from '../backend/backend.js';
import { PARAMS_PER_CROP } from '../backend/cpu/crops.js';
import { cropGeometry, type AugmentPlan } from '../data/augment.js';
import type { Batch } from '../data/loader.js';
import type { InputSlot, Network } from '../nn/network.js';

/** The loader output that suits `backend`: uint8 for a device that crops, floats for the CPU. */
export function batchOutputFor(backend: Backend): 'float32' | 'uint8' {
  return backend.name === 'cpu' ? 'float32' : 'uint8';
}

/** The mean image beside each input tensor, and the plan array it was last uploaded from. */
const means = new WeakMap<Tensor, { tensor: Tensor; from: Float32Array }>();

/** Writes batch `b` (made under `plan`) into `net`'s inputs (b.count * b.views crops) and labels. */
export function feedBatch(net: Network, plan: AugmentPlan, b: Batch): void {
  if (net.feed) net.feed(plan, b);
  else feedImages(net, plan, b);
}

/** Writes the images of batch `b` into `net`'s input slots, and its labels. */
export function feedImages(net: Network, plan: AugmentPlan, b: Batch): void {
  for (const slot of net.inputSlots(b.count)) feedSlot(slot, plan, b);
}

function feedSlot(slot: InputSlot, plan: AugmentPlan, b: Batch): void {
  const { backend: be, first, count } = slot;
  const rows = <T extends Float32Array | Uint8Array>(a: T, perImage: number): T => a.subarray(first * perImage, (first + count) * perImage) as T;
  be.write(slot.labels, rows(b.labels, 1));
  if (plan.output === 'float32') {
    be.write(slot.input, rows(b.input, b.input.length / b.count));
    return;
  }
  let mean = means.get(slot.input);
  if (!mean) {
    mean = { tensor: be.allocate('mean image', plan.mean.length), from: new Float32Array(0) };
    means.set(slot.input, mean);
  }
  if (mean.from !== plan.mean) {
    // Loaders switch (training, validation) a few times an epoch; each has its own plan.
    be.write(mean.tensor, plan.mean);
    mean.from = plan.mean;
  }
  be.writeCrops(cropGeometry(plan, count), rows(b.pixels, b.pixels.length / b.count), rows(b.params, b.views * PARAMS_PER_CROP), mean.tensor, slot.input);
}
