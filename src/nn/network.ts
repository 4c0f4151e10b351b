// What training, evaluation and checkpoints need of a net, whether it runs on one device (Net)
// or on several (DataParallel in src/parallel/data.ts): one loop drives both.
// Methods that exchange data between devices return promises; a caller awaits every call.
import type { Backend, SgdParams, Tensor } from '../backend/backend.js';
import type { AugmentPlan } from '../data/augment.js';
import type { Batch } from '../data/loader.js';
import type { NamedTensor } from '../io/safetensors.js';
import type { InitOptions } from './init.js';
import type { Architecture } from './layers.js';

/** Rows first .. first + count - 1 of a batch go to `input` and `labels` on `backend`. */
export interface InputSlot {
  backend: Backend;
  input: Tensor;
  labels: Tensor;
  first: number;
  count: number;
}

export interface Network {
  readonly arch: Architecture;
  /** The largest batch forward() takes. */
  readonly maxBatch: number;
  readonly parameterCount: number;
  /** Bytes allocated on every device together. */
  readonly memoryBytes: number;
  /** Where a batch of `batch` images and labels is written before forward(). */
  inputSlots(batch: number): InputSlot[];
  initialize(options: InitOptions): void;
  forward(batch: number, mode: 'train' | 'eval', seed?: number, step?: number): void | Promise<void>;
  /**
   * Gradients of the mean loss over the batch of the last forward pass, times `gradScale` (loss
   * scaling; 1 by default).
   */
  backward(gradScale?: number): void | Promise<void>;
  /** Whether every parameter gradient of the last backward() is finite (loss scaling's check). */
  gradientsFinite(): Promise<boolean>;
  computeLoss(): void | Promise<void>;
  update(h: SgdParams): void | Promise<void>;
  readLoss(): Promise<number>;
  readLogits(batch: number): Promise<Float32Array>;
  /** Tensors under their file names, whole (as a one-device net holds them). */
  exportTensors(which?: 'value' | 'grad' | 'velocity'): Promise<NamedTensor[]>;
  importTensors(tensors: Map<string, NamedTensor>, file: string, which?: 'value' | 'velocity'): void;
  /**
   * Writes a loader's batch where the next forward() reads it, when the network does that itself
   * (front_cache.ts: a kept front's outputs instead of the images); feed.ts otherwise.
   */
  feed?(plan: AugmentPlan, b: Batch): void;
}
