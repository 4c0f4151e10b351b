// A frozen front's outputs kept per image. When fine-tuning freezes every layer below the first
// trained one and nothing random happens to an image on its way there (no augmentation: a fixed
// centre crop; the front runs as at evaluation, dropout off), the front gives the same output for
// an image every epoch. So it runs once per image: the first time an image comes, the front's
// output is read back and kept; later batches of kept images are written straight into the
// first trained part's input and the net runs from there. A linear probe on fc7 then costs one
// forward pass of the whole net per image, and a few thousand small products per epoch.
// Browser-safe; any backend (the read-back happens once per image).
import type { SgdParams } from '../backend/backend.js';
import { product } from '../core/geometry.js';
import type { AugmentPlan } from '../data/augment.js';
import type { Batch } from '../data/loader.js';
import type { NamedTensor } from '../io/safetensors.js';
import type { InitOptions } from '../nn/init.js';
import type { Net } from '../nn/net.js';
import type { InputSlot, Network } from '../nn/network.js';
import { feedImages } from './feed.js';

/** The default bound on kept outputs: past it, further images run through the whole net. */
export const FRONT_CACHE_BYTES = 2 ** 30;

export class FrontCache implements Network {
  /** Layer index where the kept part ends: the net runs from here for kept images. */
  readonly front: number;
  /** Floats of one image's kept output. */
  readonly floats: number;
  private readonly kept = new Map<AugmentPlan, Map<number, Float32Array>>();
  private bytes = 0;
  private full = false;
  /** Where the next forward() starts, and the images whose front outputs it must keep. */
  private from = 0;
  private pending: { store: Map<number, Float32Array>; indices: Int32Array } | null = null;

  /**
   * Keeps `net`'s front outputs for the batches of `plans` (the training and validation streams;
   * a plan with random views is never kept), up to `budgetBytes`; `notice` hears when that is reached.
   */
  constructor(
    readonly net: Net,
    plans: readonly AugmentPlan[],
    private readonly notice: (line: string) => void,
    private readonly budgetBytes = FRONT_CACHE_BYTES,
  ) {
    this.front = net.frozenBefore;
    if (!(this.front > 0 && this.front < net.layers.length)) throw new Error(`FrontCache: the net has no frozen front to keep (frozen before layer ${this.front})`);
    this.floats = product(net.layers[this.front].inShape);
    for (const plan of plans) if (plan.mode !== 'train') this.kept.set(plan, new Map());
  }

  get arch() {
    return this.net.arch;
  }

  get maxBatch(): number {
    return this.net.maxBatch;
  }

  get parameterCount(): number {
    return this.net.parameterCount;
  }

  get memoryBytes(): number {
    return this.net.memoryBytes + this.bytes;
  }

  /** Images kept so far (over every stream). */
  get keptImages(): number {
    let n = 0;
    for (const store of this.kept.values()) n += store.size;
    return n;
  }

  inputSlots(batch: number): InputSlot[] {
    return this.net.inputSlots(batch);
  }

  initialize(options: InitOptions): void {
    this.net.initialize(options);
  }

  /** A batch of kept images goes in at the front's end; any other batch goes in as images. */
  feed(plan: AugmentPlan, b: Batch): void {
    const store = b.views === 1 ? this.kept.get(plan) : undefined;
    const indices = b.indices.subarray(0, b.count);
    if (store && indices.every((i) => store.has(i))) {
      const rows = new Float32Array(b.count * this.floats);
      indices.forEach((i, k) => rows.set(store.get(i)!, k * this.floats));
      this.net.backend.write(this.net.inputOf(this.front), rows);
      this.net.backend.write(this.net.labels, b.labels.subarray(0, b.count));
      this.from = this.front;
      this.pending = null;
      return;
    }
    feedImages(this.net, plan, b);
    this.from = 0;
    this.pending = store && !this.full ? { store, indices: Int32Array.from(indices) } : null;
  }

  /** Runs from where feed() put the batch; the front's outputs of new images are read and kept first. */
  async forward(batch: number, mode: 'train' | 'eval', seed = 0, step = 0): Promise<void> {
    const pending = this.pending;
    this.pending = null;
    if (!pending) {
      this.net.forward(batch, mode, seed, step, 0, this.from);
      return;
    }
    // The front alone, then its output read before the rest runs (a first trained part that
    // starts with dropout works in place on that buffer).
    this.net.forward(batch, mode, seed, step, 0, 0, this.front);
    const rows = await this.net.backend.read(this.net.inputOf(this.front), batch * this.floats);
    for (const [k, i] of pending.indices.entries()) {
      if (this.bytes + 4 * this.floats > this.budgetBytes) {
        this.full = true;
        this.notice(`kept the frozen layers' outputs of ${this.keptImages} images (${(this.bytes / 2 ** 20).toFixed(1)} MiB, the limit); the others run through every layer`);
        break;
      }
      pending.store.set(i, rows.slice(k * this.floats, (k + 1) * this.floats));
      this.bytes += 4 * this.floats;
    }
    this.net.forward(batch, mode, seed, step, 0, this.front);
  }

  backward(gradScale?: number): void {
    this.net.backward(gradScale);
  }

  gradientsFinite(): Promise<boolean> {
    return this.net.gradientsFinite();
  }

  computeLoss(): void {
    this.net.computeLoss();
  }

  update(h: SgdParams): void {
    this.net.update(h);
  }

  readLoss(): Promise<number> {
    return this.net.readLoss();
  }

  readLogits(batch: number): Promise<Float32Array> {
    return this.net.readLogits(batch);
  }

  exportTensors(which?: 'value' | 'grad' | 'velocity'): Promise<NamedTensor[]> {
    return this.net.exportTensors(which);
  }

  importTensors(tensors: Map<string, NamedTensor>, file: string, which?: 'value' | 'velocity'): void {
    this.net.importTensors(tensors, file, which);
  }
}
