// What training and evaluation see of a dataset: a fixed number of decoded uint8 images of one
// stored shape (C x H x W, channel planes: CHW), each with a class label, readable synchronously
// by index from memory or from a prepared shard cache. Everything else (file formats, decoding,
// bad files) is settled before a Dataset exists, so epochs never decode or fail on a file.
import { DataError } from '../core/errors.js';
import type { ImageSet } from './fashion_mnist.js';
import { ResampledReader } from './resample.js';
import { computeStats, type ImageStats } from './stats.js';
import { mix32, Rng } from '../rng/hash.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

/** A file left out of a dataset, and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/** The part of a dataset that worker threads reopen: pixels and labels by index. */
export interface ImageReader {
  /** Stored C, H, W, e.g. 3 x 256 x 256 (folders, ImageNet), 3 x 32 x 32 (CIFAR-10), 1 x 28 x 28. */
  readonly shape: readonly [number, number, number];
  readonly count: number;
  label(i: number): number;
  /** Copies image i (C*H*W bytes, CHW) into `out`. */
  readImage(i: number, out: Uint8Array): void;
  /** Releases open files; the reader is unusable afterwards. */
  close(): void;
}

export interface Dataset extends ImageReader {
  /** Spec and split, e.g. "folder:/data/pets (train)". */
  readonly name: string;
  readonly split: SplitName;
  /** Human-readable class names (ImageNet: "tench, Tinca tinca"); labels index them. */
  readonly classes: readonly string[];
  /** Class identifiers: folder names, ImageNet wnids; the class names for built-in sets. */
  readonly classIds: readonly string[];
  /** Source file of each image relative to the dataset root, where images came from files. */
  readonly files?: readonly string[];
  /** Files of this split that were left out, with reasons. */
  readonly skipped: readonly SkippedFile[];
  /** Plain data from which `openReader` rebuilds this reader in a worker thread. */
  readonly handle: ReaderHandle;
}

export type ReaderHandle =
  | { kind: 'memory'; shape: [number, number, number]; images: Uint8Array; labels: Int32Array }
  | CacheHandle
  | { kind: 'resampled'; base: ReaderHandle; side: number; channels: number }
  | { kind: 'subset'; base: ReaderHandle; indices: Int32Array };

/** A prepared cache's split on disk (cache.ts reads it). */
export interface CacheHandle {
  kind: 'cache';
  shape: [number, number, number];
  count: number;
  dir: string;
  imagesPerShard: number;
  labels: Int32Array;
  crc32: Uint32Array;
}

export interface OpenedData {
  /** The spec as given. */
  name: string;
  /** Where the images came from, said once to the user. */
  origin: string;
  train: Dataset;
  val?: Dataset;
  test?: Dataset;
  /** Statistics of the training split (mean image, channel means, RGB principal components). */
  stats: ImageStats;
  /** What the user should be told about the splits (a held-out test set). */
  notes?: string[];
}

export interface OpenOptions {
  /** Side of the stored square images decoded from files (the paper: 256). */
  side?: number;
  /**
   * For folder: and imagenet: specs, a cache directory: prepared (or its preparation resumed)
   * on first use, reused afterwards. Without it, images are decoded into memory.
   */
  cache?: string;
  /** Decoding into memory refuses datasets larger than this (bytes; default 4 GiB). */
  memoryLimit?: number;
  /** Called as images are decoded. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Hold a test split out of a data set that has no test/ or val/ split (default true); false
   * keeps every image in the training split (inspecting, checking the decoder).
   */
  holdOut?: boolean;
}

/** Pixels in a SharedArrayBuffer, so worker threads read them without copies. */
export class MemoryDataset implements Dataset {
  readonly count: number;
  readonly handle: ReaderHandle;
  private readonly size: number;

  constructor(
    readonly name: string,
    readonly split: SplitName,
    readonly shape: [number, number, number],
    readonly classes: readonly string[],
    readonly classIds: readonly string[],
    private readonly images: Uint8Array,
    private readonly labels: Int32Array,
    readonly skipped: readonly SkippedFile[] = [],
    readonly files?: readonly string[],
  ) {
    this.size = shape[0] * shape[1] * shape[2];
    this.count = labels.length;
    if (images.length !== this.count * this.size) {
      throw new DataError(`${name}: ${images.length} bytes of pixels for ${this.count} images of ${this.size} bytes`);
    }
    this.handle = { kind: 'memory', shape, images, labels };
  }

  label(i: number): number {
    return this.labels[i];
  }

  readImage(i: number, out: Uint8Array): void {
    out.set(this.images.subarray(i * this.size, (i + 1) * this.size));
  }

  close(): void {}
}

/**
 * `bytes` bytes of shared memory, which loader threads read without copies; plain memory where
 * the platform has none to share (a page that is not cross-origin isolated, whose loader then
 * runs on the calling thread).
 */
export function sharedMemory(bytes: number): ArrayBufferLike {
  return typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

/** A Uint8Array of `length` bytes of shared memory (sharedMemory). */
export function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(sharedMemory(length));
}

/** An in-memory ImageSet (IDX, CIFAR-10) as a Dataset, copied once into shared memory. */
export function datasetFromSet(set: ImageSet, name: string, split: SplitName): MemoryDataset {
  const images = sharedBytes(set.images.length);
  images.set(set.images);
  return new MemoryDataset(`${name} (${split})`, split, [set.channels, set.height, set.width], set.classes, set.classes, images, Int32Array.from(set.labels));
}

/** Images per class, indexed by label. */
export function classCounts(dataset: Pick<Dataset, 'count' | 'classes' | 'label'>): number[] {
  const counts = new Array<number>(dataset.classes.length).fill(0);
  for (let i = 0; i < dataset.count; i++) counts[dataset.label(i)]++;
  return counts;
}

/** The share of a data set without val/ or test/ folders held out as its test set. */
export const HELD_OUT_TEST_SHARE = 0.1;
/**
 * The hold-out's seed is fixed, not a run's: every run, ensemble member and `alexnet eval` of
 * a data set scores the same images, and none of them trains on them.
 */
const HOLD_OUT_SEED = 0x7e57;

/**
 * A stratified, seeded hold-out: about `share` of each class's images (at least one where the
 * class has two or more), the rest kept; both lists in index order.
 */
export function stratifiedHoldOut(set: Pick<Dataset, 'count' | 'label'>, share: number, seed = HOLD_OUT_SEED): { held: number[]; rest: number[] } {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < set.count; i++) {
    const members = byClass.get(set.label(i)) ?? [];
    members.push(i);
    byClass.set(set.label(i), members);
  }
  const held = new Set<number>();
  for (const [label, members] of byClass) {
    const take = members.length < 2 ? 0 : Math.max(1, Math.round(members.length * share));
    new Rng(mix32(seed ^ label)).shuffle(members);
    for (const i of members.slice(0, take)) held.add(i);
  }
  const all = Array.from({ length: set.count }, (_, i) => i);
  return { held: all.filter((i) => held.has(i)), rest: all.filter((i) => !held.has(i)) };
}

/**
 * A data set with neither a test nor a validation split gets a test split held out of its
 * training images (never score on images the net trained on); the training statistics are
 * then those of the images kept for training.
 */
export function holdOutTest(d: OpenedData, options: Pick<OpenOptions, 'holdOut'>): OpenedData {
  if (d.test || d.val || options.holdOut === false) return d;
  const { held, rest } = stratifiedHoldOut(d.train, HELD_OUT_TEST_SHARE);
  const train = new SubsetDataset(d.train, rest, 'train');
  const test = new SubsetDataset(d.train, held, 'test');
  const note =
    `${d.name} has no test/ or val/ split: ${held.length} of its ${d.train.count} images (${HELD_OUT_TEST_SHARE * 100}% of each class, ` +
    'a fixed seed) are held out as the test set and never trained on';
  return { ...d, train, test, stats: computeStats(train), notes: [...(d.notes ?? []), note] };
}

/** Images `indices` of `base`, renumbered from 0: a split carved out of another. */
class SubsetReader implements ImageReader {
  readonly count: number;
  readonly shape: readonly [number, number, number];

  constructor(
    private readonly base: ImageReader,
    private readonly indices: ArrayLike<number>,
  ) {
    this.count = indices.length;
    this.shape = base.shape;
  }

  label(i: number): number {
    return this.base.label(this.indices[i]);
  }

  readImage(i: number, out: Uint8Array): void {
    this.base.readImage(this.indices[i], out);
  }

  close(): void {
    this.base.close();
  }
}

/** A split carved out of another data set's images (a held-out test set). */
class SubsetDataset extends SubsetReader implements Dataset {
  readonly name: string;
  readonly classes: readonly string[];
  readonly classIds: readonly string[];
  readonly files?: readonly string[];
  readonly skipped: readonly SkippedFile[];
  readonly handle: ReaderHandle;

  constructor(
    base: Dataset,
    indices: number[],
    readonly split: SplitName,
  ) {
    super(base, indices);
    this.name = split === base.split ? base.name : `${base.name.replace(/ \(\w+\)$/, '')} (held-out ${split})`;
    this.classes = base.classes;
    this.classIds = base.classIds;
    this.files = base.files && indices.map((i) => base.files![i]);
    this.skipped = split === base.split ? base.skipped : [];
    this.handle = { kind: 'subset', base: base.handle, indices: Int32Array.from(indices) };
  }
}

/**
 * Rebuilds a reader from a handle (in a worker thread). Files are the host's: a cache handle
 * is opened by `openCache` (Node's CacheReader), which a browser never needs.
 */
export function openReader(handle: ReaderHandle, openCache?: (h: CacheHandle) => ImageReader): ImageReader {
  if (handle.kind === 'memory') return new MemoryDataset('worker', 'train', handle.shape, [], [], handle.images, handle.labels);
  if (handle.kind === 'resampled') return new ResampledReader(openReader(handle.base, openCache), handle.side, handle.channels);
  if (handle.kind === 'subset') return new SubsetReader(openReader(handle.base, openCache), handle.indices);
  if (!openCache) throw new DataError(`a cache reader (${handle.dir}) needs the Node host`);
  return openCache(handle);
}
