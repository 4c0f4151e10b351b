// Batches for training and evaluation: a seeded order per epoch, images read and augmented by
// worker threads into shared memory while the caller computes on earlier batches. The bytes of
// batch k of epoch e depend only on (dataset, options, e, k): not on the number of workers, on
// timing, or on earlier epochs, so a resumed run sees the batches an uninterrupted one would.
// Threads come from the host (loader_node.ts: worker_threads); without one the loader reads and
// augments on the calling thread.
import { DataError, UsageError } from '../core/errors.js';
import { Rng, randomU32 } from '../rng/hash.js';
import { augmentBatch, makePlan, PARAMS_PER_CROP, viewsPerImage, type AugmentPlan, type BatchBuffers, type PlanOptions } from './augment.js';
import { sharedMemory, type Dataset } from './dataset.js';
import type { ImageStats } from './stats.js';

export interface LoaderOptions extends PlanOptions {
  batch: number;
  /** Reorder the images every epoch (default: in 'train' mode). */
  shuffle?: boolean;
  /** Use these dataset indices only (e.g. a validation hold-out); all images when absent. */
  indices?: ArrayLike<number>;
  /** Leave out a last, partial batch. */
  dropLast?: boolean;
  /** Worker threads; 0 reads and augments on the calling thread, without overlap. */
  workers?: number;
  /** Starts a worker thread (needed when `workers` > 0): the host's. */
  startThread?: StartLoaderThread;
  /** Batches prepared ahead of the one being used (default workers + 1; 0 without workers). */
  prefetch?: number;
}

/**
 * One batch; arrays are views of loader memory, valid until the iterator's next step. Crops are
 * image-major: crop v of image b is number b * views + v.
 */
export interface Batch {
  /** Images in this batch. */
  count: number;
  /** Crops per image: 1, or 10 for ten-crop. */
  views: number;
  /** [count * views, C, crop, crop] floats; empty when the output is 'uint8'. */
  input: Float32Array;
  /**
   * [count, C, H, W]: the stored images, uncropped, for a device to crop, mirror and normalise
   * as `params` say (the backend's writeCrops); empty when the output is 'float32'.
   */
  pixels: Uint8Array;
  /** [count * views, 6]: x, y, flip (0 or 1), colour added to channels 0..2, in pixel units. */
  params: Float32Array;
  /** [count] class labels, as floats for the network's label buffer. */
  labels: Float32Array;
  /** [count] dataset indices. */
  indices: Int32Array;
}

/** Memory for one batch in flight; the BatchBuffers part is shared with the workers. */
interface Slot extends BatchBuffers {
  labels: Float32Array;
  indices: Int32Array;
}

const SHUFFLE_STREAM = 0x5b0;

/** What a loader thread is started with (structured-cloneable; the slots are shared memory). */
export interface LoaderThreadInit {
  handle: Dataset['handle'];
  plan: AugmentPlan;
  slots: BatchBuffers[];
}

/** A loader thread as the host runs it (Node's worker_threads; a browser's Web Worker). */
export interface LoaderThread {
  post(message: Job | 'close'): void;
  /** A job is in flight (true) or none is (false): Node keeps the process alive only for the first. */
  busy(busy: boolean): void;
  onMessage(listener: (m: { slot: number; error?: string }) => void): void;
  onError(listener: (err: Error) => void): void;
  /** Settles with the exit code once the thread has stopped. */
  exited: Promise<number>;
}

export type StartLoaderThread = (init: LoaderThreadInit) => LoaderThread;

interface WorkerState {
  worker: LoaderThread;
  /** Slot -> callbacks of the job in flight there. */
  waiting: Map<number, { resolve: () => void; reject: (e: Error) => void }>;
  exited: Promise<void>;
}

/** Job to a worker: fill slot `slot` with the views of images `indices` in `epoch`. */
export interface Job {
  slot: number;
  epoch: number;
  indices: Int32Array;
}

export class Loader {
  readonly plan: AugmentPlan;
  readonly batchesPerEpoch: number;
  readonly views: number;
  private readonly order: Int32Array;
  private readonly slots: Slot[];
  private readonly prefetch: number;
  private readonly workers: WorkerState[] = [];
  private readonly cropSize: number;
  private readonly imageSize: number;
  private running = false;
  private closing = false;
  private failure: Error | null = null;

  constructor(
    private readonly dataset: Dataset,
    stats: ImageStats,
    private readonly options: LoaderOptions,
  ) {
    if (!Number.isInteger(options.batch) || options.batch < 1) throw new UsageError(`batch size ${options.batch}: expected a positive integer`);
    this.plan = makePlan(dataset.shape, stats, options);
    this.views = viewsPerImage(this.plan.mode);
    this.cropSize = this.plan.shape[0] * this.plan.crop * this.plan.crop;
    this.imageSize = dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
    this.order = options.indices ? Int32Array.from(options.indices) : Int32Array.from({ length: dataset.count }, (_, i) => i);
    const bad = this.order.findIndex((i) => !(i >= 0 && i < dataset.count));
    if (bad >= 0) throw new UsageError(`image index ${this.order[bad]} is outside ${dataset.name} (0..${dataset.count - 1})`);
    this.batchesPerEpoch = options.dropLast ? Math.floor(this.order.length / options.batch) : Math.ceil(this.order.length / options.batch);

    const workers = options.workers ?? 0;
    if (workers > 0 && !options.startThread) throw new UsageError(`a loader with ${workers} worker threads needs a host to start them (startThread)`);
    this.prefetch = workers === 0 ? 0 : (options.prefetch ?? workers + 1);
    this.slots = Array.from({ length: this.prefetch + 1 }, () => this.makeSlot());
    for (let w = 0; w < workers; w++) this.startWorker();
  }

  private makeSlot(): Slot {
    // No batch holds more images than the loader has (a --batch of 1e9 allocates for those).
    const images = Math.min(this.options.batch, this.order.length);
    const crops = images * this.views;
    const floats = this.plan.output === 'float32' ? crops * this.cropSize : 0;
    const bytes = this.plan.output === 'uint8' ? images * this.imageSize : 0;
    return {
      input: new Float32Array(sharedMemory(4 * floats)),
      pixels: new Uint8Array(sharedMemory(bytes)),
      params: new Float32Array(sharedMemory(4 * crops * PARAMS_PER_CROP)),
      labels: new Float32Array(images),
      indices: new Int32Array(images),
    };
  }

  private startWorker(): void {
    const w = this.workers.length;
    const slots: BatchBuffers[] = this.slots.map(({ input, pixels, params }) => ({ input, pixels, params }));
    const worker = this.options.startThread!({ handle: this.dataset.handle, plan: this.plan, slots });
    const waiting: WorkerState['waiting'] = new Map();
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const job of waiting.values()) job.reject(err);
      waiting.clear();
    };
    worker.onMessage((m) => {
      const job = waiting.get(m.slot);
      waiting.delete(m.slot);
      if (waiting.size === 0) worker.busy(false); // an idle worker never keeps the process alive
      if (m.error !== undefined) job?.reject(new DataError(`data loader worker: ${m.error}`));
      else job?.resolve();
    });
    worker.onError((err) => fail(new DataError(`data loader worker ${w} failed: ${err.message}`)));
    const exited = worker.exited.then((code) => {
      if (!this.closing) fail(new DataError(`data loader worker ${w} exited (code ${code})`));
    });
    this.workers.push({ worker, waiting, exited });
  }

  /** The order of this loader's images in `epoch`: a fresh seeded shuffle per epoch. */
  epochOrder(epoch: number): Int32Array {
    const order = this.order.slice();
    if (this.options.shuffle ?? this.plan.mode === 'train') new Rng(randomU32(this.plan.seed, SHUFFLE_STREAM, epoch)).shuffle(order);
    return order;
  }

  /** Batches of `epoch` (any integer; epochs are independent). One epoch at a time. */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    if (this.running) throw new UsageError('a loader runs one epoch at a time: finish or leave the current one first');
    this.running = true;
    const order = this.epochOrder(epoch);
    const B = this.options.batch;
    const ready: Promise<void>[] = [];
    let k = 0;
    try {
      for (; k < this.batchesPerEpoch; k++) {
        while (ready.length < this.batchesPerEpoch && ready.length <= k + this.prefetch) {
          const j = ready.length;
          const job = this.fill(j % this.slots.length, epoch, order.subarray(j * B, Math.min((j + 1) * B, order.length)));
          job.catch(() => {}); // a failure is reported when its batch is awaited, not as unhandled
          ready.push(job);
        }
        await ready[k];
        const slot = this.slots[k % this.slots.length];
        const count = Math.min(B, order.length - k * B);
        const crops = count * this.views;
        yield {
          count, views: this.views,
          input: slot.input.subarray(0, this.plan.output === 'float32' ? crops * this.cropSize : 0),
          pixels: slot.pixels.subarray(0, this.plan.output === 'uint8' ? count * this.imageSize : 0),
          params: slot.params.subarray(0, crops * PARAMS_PER_CROP),
          labels: slot.labels.subarray(0, count),
          indices: slot.indices.subarray(0, count),
        };
      }
    } finally {
      // Left early: let jobs still writing into slots finish before the slots are reused.
      await Promise.allSettled(ready.slice(k + 1));
      this.running = false;
    }
  }

  /** Starts filling `slot` with images `indices`; resolves when it is full. */
  private fill(slot: number, epoch: number, indices: Int32Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const s = this.slots[slot];
    s.indices.set(indices);
    indices.forEach((index, b) => (s.labels[b] = this.dataset.label(index)));
    if (this.workers.length === 0) {
      try {
        augmentBatch(this.dataset, this.plan, epoch, indices, s);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    // The least busy worker, so a slow one (descheduled, reading from disk) holds up no others.
    const { worker, waiting } = this.workers.reduce((best, w) => (w.waiting.size < best.waiting.size ? w : best));
    return new Promise((resolve, reject) => {
      waiting.set(slot, { resolve, reject });
      worker.busy(true); // a job in flight keeps the process alive until it is done
      worker.post({ slot, epoch, indices } satisfies Job);
    });
  }

  /** Stops the workers (after any job in flight) and closes their files. */
  async close(): Promise<void> {
    this.closing = true;
    for (const { worker } of this.workers) {
      worker.busy(true);
      worker.post('close');
    }
    await Promise.all(this.workers.map((w) => w.exited));
    this.workers.length = 0;
  }
}
