// Data parallelism: N replicas of the net, one per backend (N CPU backends, or N WebGPU devices).
// Each replica takes a contiguous slice of the batch; its loss is its slice's mean, so the whole
// batch's gradient is sum_k (n_k / B) g_k. That sum is formed on the host in replica order (the
// same bits whatever the devices' timing), written back to every replica, and each replica takes
// the same SGD step: the replicas' weights stay identical, and equal to a one-device run's up to
// float rounding. Dropout masks follow the image's index in the whole batch (Pass.firstImage), so
// every image is dropped as on one device.
import type { Backend, SgdParams } from '../backend/backend.js';
import { ShapeError } from '../core/errors.js';
import type { NamedTensor } from '../io/safetensors.js';
import type { InitOptions } from '../nn/init.js';
import type { Architecture } from '../nn/layers.js';
import { Net, type TrainableOptions } from '../nn/net.js';
import type { InputSlot, Network } from '../nn/network.js';

export interface Slice {
  /** Index of the slice's first image in the batch. */
  first: number;
  count: number;
}

/** `batch` rows over `parts` devices, in order: sizes differ by at most one, larger first (7 over 3: 3, 2, 2). */
export function batchSlices(batch: number, parts: number): Slice[] {
  const base = Math.floor(batch / parts);
  const slices: Slice[] = [];
  let first = 0;
  for (let k = 0; k < parts; k++) {
    const count = base + (k < batch % parts ? 1 : 0);
    slices.push({ first, count });
    first += count;
  }
  return slices;
}

export class DataParallel implements Network {
  readonly replicas: Net[];
  /** The slices of the last forward pass. */
  private slices: Slice[] = [];

  /**
   * One replica on each of `backends`; `maxBatch` is the whole batch (at least one image per
   * device). `trainable` is every replica's (a fine-tune's frozen layers and rates).
   */
  constructor(
    backends: Backend[],
    readonly arch: Architecture,
    readonly maxBatch: number,
    trainable: TrainableOptions = {},
  ) {
    if (backends.length < 2) throw new ShapeError(`data parallelism needs at least 2 devices, found ${backends.length}`);
    if (maxBatch < backends.length) {
      throw new ShapeError(`--batch ${maxBatch} is smaller than --devices ${backends.length}: every device needs at least one image of a batch`);
    }
    const largest = batchSlices(maxBatch, backends.length)[0].count;
    this.replicas = backends.map((be) => new Net(be, arch, largest, trainable));
  }

  get parameterCount(): number {
    return this.replicas[0].parameterCount;
  }

  /** Bytes allocated on every device together. */
  get memoryBytes(): number {
    return this.replicas.reduce((s, r) => s + r.memoryBytes, 0);
  }

  /** The replicas that take rows of a batch of `batch` images, with their slices (a small batch leaves the last ones idle). */
  private active(batch: number): { net: Net; slice: Slice }[] {
    return batchSlices(batch, this.replicas.length)
      .map((slice, k) => ({ net: this.replicas[k], slice }))
      .filter((a) => a.slice.count > 0);
  }

  inputSlots(batch: number): InputSlot[] {
    return this.active(batch).map(({ net, slice }) => ({ backend: net.backend, input: net.input, labels: net.labels, ...slice }));
  }

  /** The same initial weights on every replica (drawn from the seed, as on one device). */
  initialize(options: InitOptions): void {
    for (const r of this.replicas) r.initialize(options);
  }

  forward(batch: number, mode: 'train' | 'eval', seed = 0, step = 0): void {
    if (!Number.isInteger(batch) || batch < 1 || batch > this.maxBatch) {
      throw new ShapeError(`batch must be an integer in 1..${this.maxBatch} (planned), found ${batch}`);
    }
    this.slices = batchSlices(batch, this.replicas.length);
    for (const { net, slice } of this.active(batch)) net.forward(slice.count, mode, seed, step, slice.first);
  }

  /** Each replica's gradients, combined on the host and written back to every replica. */
  async backward(gradScale = 1): Promise<void> {
    const active = this.activeOfLast();
    for (const { net } of active) net.backward(gradScale); // enqueued on every device before any read-back
    const grads = await Promise.all(active.map(({ net }) => net.readGradients()));
    const batch = this.batch();
    const sum = new Float32Array(grads[0].length);
    active.forEach(({ slice }, k) => {
      const w = slice.count / batch;
      const g = grads[k];
      for (let i = 0; i < sum.length; i++) sum[i] += w * g[i];
    });
    for (const r of this.replicas) r.writeGradients(sum);
  }

  computeLoss(): void {
    for (const { net } of this.activeOfLast()) net.computeLoss();
  }

  /** Every replica holds the summed gradients (a NaN anywhere reaches the sum): one looks. */
  gradientsFinite(): Promise<boolean> {
    return this.replicas[0].gradientsFinite();
  }

  /** The same step on every replica, from the same gradients: the weights stay identical. */
  update(h: SgdParams): void {
    for (const r of this.replicas) r.update(h);
  }

  /** The batch's mean loss: the slices' means weighted by n_k / B. */
  async readLoss(): Promise<number> {
    const active = this.activeOfLast();
    const losses = await Promise.all(active.map(({ net }) => net.readLoss()));
    const batch = this.batch();
    return active.reduce((s, { slice }, k) => s + (slice.count / batch) * losses[k], 0);
  }

  /** [batch, classes]: the replicas' logits, slice after slice. */
  async readLogits(batch: number): Promise<Float32Array> {
    const classes = this.arch.classes;
    const active = this.active(batch);
    const parts = await Promise.all(active.map(({ net, slice }) => net.readLogits(slice.count)));
    const out = new Float32Array(batch * classes);
    active.forEach(({ slice }, k) => out.set(parts[k], slice.first * classes));
    return out;
  }

  /** Replica 0's tensors: every replica holds the same (a checkpoint is a one-device run's). */
  exportTensors(which: 'value' | 'grad' | 'velocity' = 'value'): Promise<NamedTensor[]> {
    return this.replicas[0].exportTensors(which);
  }

  importTensors(tensors: Map<string, NamedTensor>, file: string, which: 'value' | 'velocity' = 'value'): void {
    for (const r of this.replicas) r.importTensors(tensors, file, which);
  }

  private batch(): number {
    return this.slices.reduce((s, x) => s + x.count, 0);
  }

  private activeOfLast(): { net: Net; slice: Slice }[] {
    if (this.slices.length === 0) throw new Error('backward() and computeLoss() need a forward() first');
    return this.active(this.batch());
  }
}
