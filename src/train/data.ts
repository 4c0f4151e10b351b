// The data a training run sees, from an opened data set: a seeded hold-out for validation, and batch
// streams through the Loader: random crops, mirrors and PCA lighting for training, centre crops
// for validation and test, minus the training set's mean image (SPEC section 4).
import { DataError, UsageError } from '../core/errors.js';
import type { Dataset, OpenedData } from '../data/dataset.js';
import { Loader, type Batch, type StartLoaderThread } from '../data/loader.js';
import { resampledData } from '../data/resample.js';
import type { ImageStats } from '../data/stats.js';
import { mix32, Rng } from '../rng/hash.js';

export interface TrainingData {
  name: string;
  origin: string;
  classes: string[];
  /** [C, H, W] of the network input: the stored channels and the crop side. */
  input: [number, number, number];
  stats: ImageStats;
  train: Loader;
  val: Loader;
  test: Loader;
  /** The images behind the training and test streams (e.g. to show them). */
  sets: { train: Dataset; test: Dataset };
  /** A centre-crop stream over images `indices` of `set`, preprocessed as the others. */
  centreStream(set: Dataset, indices: number[]): Loader;
  counts: { train: number; val: number; test: number };
  /** What the user should be told about the splits (a held-out test set): said on stderr. */
  notes: string[];
  close(): Promise<void>;
}

export type Augment = 'paper' | 'none';

export interface DataOptions {
  spec: string;
  /** Side of the network's square input. */
  crop: number;
  batch: number;
  seed: number;
  /** Training images held out for validation when the data has no val split (default: 5000, or a tenth of a smaller set). */
  validation?: number;
  /** Use only the first `limit` training images. */
  limit?: number;
  /** Factor on (pixel - mean), one for all channels or one per channel of the net's input. */
  scale: number | readonly number[];
  /**
   * Constants per channel (pixel units) subtracted instead of the training images' mean image: a
   * model's own preprocessing (ImageNet's mean for torchvision's weights, a fine-tuned source's).
   */
  mean?: readonly number[];
  /** Worker threads reading and augmenting ahead of the computation. */
  workers: number;
  /** Channels of the net's input: grey images scaled up for a 3-channel net are replicated. */
  channels?: number;
  /**
   * Channels the net's input must have whatever the data's (a fine-tune's source decides):
   * grey images replicated, colour images turned grey (luma).
   */
  fixedChannels?: number;
  /** Training views: the paper's random crops, mirrors and lighting (default), or none (the centre crop, in a shuffled order). */
  augment?: Augment;
  /** Views of each test image: the centre crop (default) or the paper's ten crops. */
  testViews?: 'centre' | 'ten-crop';
  /** 'uint8' leaves cropping and normalising to the backend (see feed.ts); default 'float32'. */
  output?: 'float32' | 'uint8';
  /** Starts the training loader's threads (the host's; open_data.ts passes Node's). */
  startThread?: StartLoaderThread;
}

/** The stored side for a crop: 256 for the paper's 224/227 crops, else 4 pixels of play. */
export function storedSide(crop: number): number {
  return crop >= 224 ? 256 : crop + 4;
}

/** The streams a run uses over data already opened (from disk: open_data.ts; in a page, from bytes). */
export function trainingData(opened: OpenedData, o: DataOptions): TrainingData {
  const [storedChannels, storedHeight] = opened.train.shape;
  // Images smaller than the net's input (Fashion-MNIST or CIFAR-10 for the paper net) are scaled
  // up, grey replicated to the net's channels; smaller nets crop what fits. A net of fixed
  // channels gets them (colour turned grey for a grey model).
  const scaleUp = o.crop > storedHeight;
  const channels = o.fixedChannels ?? (scaleUp ? Math.max(storedChannels, o.channels ?? 0) : storedChannels);
  const data = scaleUp || channels !== storedChannels ? resampledData(opened, scaleUp ? storedSide(o.crop) : storedHeight, channels) : opened;
  const [C, H] = data.train.shape;
  const crop = Math.min(o.crop, H);
  const limit = Math.min(o.limit ?? data.train.count, data.train.count);
  const order = Array.from({ length: limit }, (_, i) => i);
  let valSet: Dataset = data.train;
  let valIndices: number[];
  let trainIndices = order;
  if (data.val) {
    if ((o.validation ?? 0) > 0) {
      throw new UsageError(`--val ${o.validation}: ${o.spec} has a validation split of its own (${data.val.count} images), so no training images are held out; leave --val out`);
    }
    valSet = data.val;
    valIndices = Array.from({ length: data.val.count }, (_, i) => i);
  } else {
    // The bundled 5,000-image subset (no dataset installed) would have nothing left after 5,000.
    const validation = o.validation ?? Math.min(5000, Math.floor(limit / 10));
    if (validation >= limit) throw new DataError(`--val ${validation} leaves no training images (the set has ${limit})`);
    new Rng(mix32(o.seed ^ 0x7a1)).shuffle(order);
    valIndices = order.slice(limit - validation);
    trainIndices = order.slice(0, limit - validation);
  }
  const testSet = data.test ?? valSet;
  const common = { crop, scale: o.scale, mean: o.mean, seed: o.seed, batch: o.batch, lighting: storedChannels === 3 && C === 3 ? 0.1 : 0, output: o.output };
  const train = new Loader(data.train, data.stats, {
    ...common, mode: o.augment === 'none' ? 'centre' : 'train', shuffle: true, indices: trainIndices, workers: o.workers, startThread: o.startThread,
  });
  const val = new Loader(valSet, data.stats, { ...common, mode: 'centre', indices: valIndices, workers: 0 });
  const test = new Loader(testSet, data.stats, { ...common, mode: o.testViews ?? 'centre', workers: 0 });
  return {
    name: data.name,
    origin: data.origin,
    notes: [...(data.notes ?? []), ...(data.test ? [] : [`${o.spec} has no test split: its validation images are the test set`])],
    classes: [...data.train.classes],
    input: [C, crop, crop],
    stats: data.stats,
    train,
    val,
    test,
    counts: { train: trainIndices.length, val: valIndices.length, test: testSet.count },
    sets: { train: data.train, test: testSet },
    centreStream: (set, indices) => new Loader(set, data.stats, { ...common, mode: 'centre', indices, workers: 0 }),
    close: async () => {
      await Promise.all([train.close(), val.close(), test.close()]);
    },
  };
}

/**
 * Refuses, before any work, a split with nothing in it: training needs images to train on, to
 * validate on (each epoch's record, the schedule) and to test on; evaluation needs test images.
 * Before, an empty split gave NaN% and exit 0.
 */
export function requireImages(data: TrainingData, spec: string, batch?: number): void {
  const { train, val, test } = data.counts;
  const inspect = `alexnet data inspect ${spec} lists the files skipped`;
  if (test === 0) throw new DataError(`${spec}: no test images to evaluate on (${inspect})`);
  if (batch === undefined) return;
  if (train === 0) throw new DataError(`${spec}: no training images (${inspect})`);
  if (val === 0) {
    throw new DataError(
      `${spec}: no validation images to score each epoch on: give --val 1 or more, or a larger --limit ` +
        '(without a val/ split, --val training images are held out, by default a tenth of them, rounded down)',
    );
  }
  if (batch > train) throw new UsageError(`--batch ${batch} is more than the ${train} training images`);
}

export type { Batch };
