// Decoding a folder: or imagenet: source once, into memory or into a shard cache (cache.ts),
// with every unusable file skipped and reported, and the training statistics computed over the
// decoded training images. Cache preparation resumes after an interruption: finished shards
// are kept and decoding restarts where the last one ended.
import { createHash } from 'node:crypto';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';
import { DataError } from '../core/errors.js';
import { makeDirectories, writeFileAtomic } from '../io/files.js';
import {
  CACHE_FORMAT, CACHE_VERSION, CacheReader, INDEX_FILE, MEAN_FILE, readIndex, readShardRecords, shardName, writeJsonAtomic,
  type CacheHeader, type CacheIndex, type CachedSplit, type ShardRecord,
} from './cache.js';
import { classCounts, MemoryDataset, SPLIT_NAMES, sharedBytes, type OpenedData, type OpenOptions, type SplitName } from './dataset.js';
import { decodeInOrder } from './decode.js';
import { emptyClass, scanSource, type Listing, type SplitListing } from './scan.js';
import { computeStats } from './stats.js';

/** The paper's stored side: shorter side rescaled to 256, central 256 x 256 kept. */
export const DEFAULT_SIDE = 256;
/** 1024 images of 3 x 256 x 256 make 192 MiB shards: few files, resumable every few seconds. */
export const DEFAULT_IMAGES_PER_SHARD = 1024;
/** Decodes in flight; libvips spreads each over the cores as well. */
const CONCURRENCY = 4;

export interface Progress {
  split: SplitName;
  /** Files handled so far over all splits (decoded or skipped), including resumed ones. */
  done: number;
  total: number;
  skipped: number;
}

export interface PrepareOptions {
  side?: number;
  imagesPerShard?: number;
  onProgress?: (p: Progress) => void;
  /** Stops preparation between images (finished shards stay and are resumed next time). */
  signal?: AbortSignal;
}

export const splitsOf = (listing: Listing) => SPLIT_NAMES.filter((s) => listing.splits[s] !== undefined).map((s) => [s, listing.splits[s]!] as const);
const totalFiles = (listing: Listing) => splitsOf(listing).reduce((n, [, s]) => n + s.files.length, 0);

function fingerprint(listing: Listing): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([listing.classIds, listing.classes]));
  for (const [name, s] of splitsOf(listing)) hash.update(JSON.stringify([name, s.files.map((f) => relative(listing.root, f)), s.labels]));
  return hash.digest('hex');
}

/** Decodes a whole source into shared memory (small datasets; large ones need a cache). */
export async function decodeToMemory(spec: string, options: Omit<OpenOptions, 'cache'> = {}): Promise<OpenedData> {
  const side = options.side ?? DEFAULT_SIDE;
  const listing = await scanSource(spec);
  const record = 3 * side * side;
  const total = totalFiles(listing);
  const limit = options.memoryLimit ?? 4 * 2 ** 30;
  if (total * record > limit) {
    throw new DataError(
      `${spec}: ${total} images of ${record} bytes need ${((total * record) / 2 ** 30).toFixed(1)} GiB, more than decoding into memory allows; ` +
        `prepare a cache once (alexnet data prepare ${spec} --out CACHE) and use --data cache:CACHE`,
    );
  }
  const datasets: Partial<Record<SplitName, MemoryDataset>> = {};
  let done = 0;
  for (const [name, split] of splitsOf(listing)) {
    const images = sharedBytes(split.files.length * record);
    const labels: number[] = [];
    const files: string[] = [];
    const skipped = [...split.skipped];
    await decodeInOrder(split.files, side, CONCURRENCY, (i, result) => {
      const file = relative(listing.root, split.files[i]);
      if (result.ok) {
        images.set(result.pixels, labels.length * record);
        labels.push(split.labels[i]);
        files.push(file);
      } else {
        skipped.push({ file, reason: result.reason });
      }
      options.onProgress?.(++done, total);
    });
    datasets[name] = new MemoryDataset(
      `${spec} (${name})`, name, [3, side, side], listing.classes, listing.classIds,
      images.subarray(0, labels.length * record), Int32Array.from(labels), skipped, files,
    );
  }
  const train = datasets.train!;
  requireTrainingImages(classCounts(train), listing, spec);
  const skipped = Object.values(datasets).reduce((n, d) => n + d.skipped.length, 0);
  const origin = `${listing.root}, decoded into memory (${skipped} files skipped: alexnet data inspect ${spec} lists them)`;
  return { name: spec, origin, train, val: datasets.val, test: datasets.test, stats: computeStats(train) };
}

/** Every training class must keep an image after decoding (the rest were skipped, with reasons). */
function requireTrainingImages(perClass: readonly number[], listing: Listing, spec: string): void {
  const empty = perClass.findIndex((n) => n === 0);
  if (empty >= 0) throw emptyClass(join(listing.trainDir, listing.classIds[empty]), `none of its files decodes: alexnet data inspect ${spec} --decode lists why`);
}

/** The header of the cache of `listing`: what a cache must match to be resumed or reused. */
export function cacheHeader(listing: Listing, options: PrepareOptions): CacheHeader {
  const side = options.side ?? DEFAULT_SIDE;
  return {
    format: CACHE_FORMAT, version: CACHE_VERSION, source: listing.source, layout: 'CHW uint8', shape: [3, side, side],
    recordBytes: 3 * side * side, imagesPerShard: options.imagesPerShard ?? DEFAULT_IMAGES_PER_SHARD, fingerprint: fingerprint(listing),
  };
}

/**
 * Creates the cache directory `out` for `header`, or checks the one there against it: returns
 * its index when it is complete, null when there is work to do.
 */
export async function startCache(out: string, header: CacheHeader): Promise<Extract<CacheIndex, { complete: true }> | null> {
  await makeDirectories(out, `--out ${out}`);
  const existing = await readIndex(out);
  if (existing) {
    const differs = (Object.keys(header) as (keyof CacheHeader)[]).filter((k) => JSON.stringify(existing[k]) !== JSON.stringify(header[k]));
    if (differs.length > 0) {
      const why = differs.includes('fingerprint') ? ' (files were added, removed or renamed since)' : '';
      throw new DataError(`${out} holds a different cache (its ${differs.join(', ')} differ${why}): delete it or choose another --out`);
    }
    if (existing.complete) return existing;
  } else {
    await writeJsonAtomic(join(out, INDEX_FILE), { ...header, complete: false });
  }
  return null;
}

export const newProgress = (listing: Listing) => ({ done: 0, total: totalFiles(listing), skipped: splitsOf(listing).reduce((n, [, s]) => n + s.skipped.length, 0) });

/**
 * Writes (or finishes) the cache of a folder: or imagenet: spec in `out` and returns its index.
 * A complete cache with the same header is returned as is.
 */
export async function prepareCache(spec: string, out: string, options: PrepareOptions = {}): Promise<Extract<CacheIndex, { complete: true }>> {
  const listing = await scanSource(spec);
  const header = cacheHeader(listing, options);
  const existing = await startCache(out, header);
  if (existing) return existing;
  const progress = newProgress(listing);
  const shards: Partial<Record<SplitName, ShardRecord[]>> = {};
  for (const [name, split] of splitsOf(listing)) shards[name] = await writeSplit(join(out, name), name, split, listing, header, options, progress);
  return finishCache(spec, out, listing, header, shards);
}

/** The index of a cache whose shards are all written: each split's summary, then the training statistics and the mean image. */
export async function finishCache(
  spec: string, out: string, listing: Listing, header: CacheHeader, shardsOf: Partial<Record<SplitName, ShardRecord[]>>,
): Promise<Extract<CacheIndex, { complete: true }>> {
  const splits: Partial<Record<SplitName, CachedSplit>> = {};
  for (const [name, split] of splitsOf(listing)) {
    const shards = shardsOf[name]!;
    const labels = shards.flatMap((s) => s.labels);
    splits[name] = {
      count: labels.length, shards: shards.length, files: shards.flatMap((s) => s.files), labels,
      perClass: classCounts({ count: labels.length, classes: listing.classes, label: (i) => labels[i] }), skipped: [...split.skipped, ...shards.flatMap((s) => s.skipped)],
      crc32: shards.flatMap((s) => s.crc32),
    };
  }
  const trainSplit = splits.train!;
  requireTrainingImages(trainSplit.perClass, listing, spec);
  const train = new CacheReader({
    kind: 'cache', shape: header.shape, count: trainSplit.count, dir: join(out, 'train'), imagesPerShard: header.imagesPerShard, labels: Int32Array.from(trainSplit.labels),
    crc32: Uint32Array.from(trainSplit.crc32),
  });
  const stats = computeStats(train);
  train.close();
  const meanBytes = new Uint8Array(stats.meanImage.buffer);
  await writeFileAtomic(join(out, MEAN_FILE), meanBytes);
  const meanSha256 = createHash('sha256').update(meanBytes).digest('hex');
  const index: Extract<CacheIndex, { complete: true }> = {
    ...header, complete: true, classIds: listing.classIds, classes: listing.classes, splits, stats: { ...stats, meanImage: MEAN_FILE, meanSha256 },
  };
  await writeJsonAtomic(join(out, INDEX_FILE), index);
  return index;
}

/** Decodes one split into shards in `dir` from where its finished shards end; returns all its sidecars. */
export async function writeSplit(
  dir: string, name: SplitName, split: SplitListing, listing: Listing, header: CacheHeader, options: PrepareOptions, progress: Omit<Progress, 'split'>,
): Promise<ShardRecord[]> {
  await makeDirectories(dir, 'the cache folder');
  const writer = new ShardWriter(dir, header, await readShardRecords(dir), split.files.length - 1);
  const start = writer.nextFile;
  progress.done += start;
  progress.skipped += writer.shards.reduce((n, s) => n + s.skipped.length, 0);
  try {
    await decodeInOrder(split.files.slice(start), header.shape[1], CONCURRENCY, async (k, result) => {
      const i = start + k;
      const file = relative(listing.root, split.files[i]);
      await writer.add(i, file, result.ok ? { pixels: result.pixels, label: split.labels[i] } : { reason: result.reason });
      if (!result.ok) progress.skipped++;
      progress.done++;
      options.onProgress?.({ split: name, ...progress });
    }, options.signal);
  } finally {
    await writer.close();
  }
  return writer.shards;
}

/**
 * A split's shards, written as its files are handled in order (file i: its record, or why it was
 * skipped). A shard closes when it holds imagesPerShard records or after the split's last file,
 * so the same sequence of files always gives the same shards and sidecars.
 */
export class ShardWriter {
  private current: ShardRecord;
  private file: FileHandle | null = null;

  /** `shards`: the split's finished shards, if any (writing goes on after them); `lastFile`: the split's last file index. */
  constructor(
    private readonly dir: string,
    private readonly header: CacheHeader,
    readonly shards: ShardRecord[],
    private readonly lastFile: number,
  ) {
    this.current = this.emptyShard(shards.at(-1)?.nextFile ?? 0);
  }

  /** Index of the next file to handle. */
  get nextFile(): number {
    return this.current.nextFile;
  }

  async add(i: number, file: string, entry: { pixels: Uint8Array; label: number } | { reason: string }): Promise<void> {
    const path = join(this.dir, shardName(this.shards.length));
    this.file ??= await open(`${path}.u8.tmp`, 'w');
    const c = this.current;
    if ('pixels' in entry) {
      await this.file.write(entry.pixels, 0, entry.pixels.length, c.files.length * this.header.recordBytes);
      c.files.push(file);
      c.labels.push(entry.label);
      c.crc32.push(crc32(entry.pixels));
    } else {
      c.skipped.push({ file, reason: entry.reason });
    }
    if (c.files.length === this.header.imagesPerShard || i === this.lastFile) {
      // Shard first, then its sidecar: a sidecar on disk means its shard is whole.
      c.nextFile = i + 1;
      await this.file.sync();
      await this.file.close();
      this.file = null;
      await rename(`${path}.u8.tmp`, `${path}.u8`);
      await writeJsonAtomic(`${path}.json`, c);
      this.shards.push(c);
      this.current = this.emptyShard(i + 1);
    }
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = null;
  }

  private emptyShard(nextFile: number): ShardRecord {
    return { nextFile, files: [], labels: [], skipped: [], crc32: [] };
  }
}
