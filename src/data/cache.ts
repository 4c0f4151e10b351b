// The prepared image cache: decoded images as fixed-size uint8 records, so image i of a split
// is bytes [(i % S) * R, (i % S + 1) * R) of shard floor(i / S) (S images per shard, R = C*H*W
// bytes, CHW). Layout of a cache directory:
//   index.json              header while preparing; everything (lists, skips, stats) when complete
//   mean.f32                the training mean image, float32 little-endian, C x H x W
//   <split>/shard-00000.u8  records; every shard but a split's last holds exactly S images
//   <split>/shard-00000.json  the shard's files, labels and skips, and where in the split's file
//                           list the next shard starts: the progress record a resumed run reads
// Every file is written under a temporary name and renamed, so an interrupted run leaves only
// whole files behind. Each image record has a CRC-32 (in its shard's sidecar and the index),
// checked at every read, and the mean image a SHA-256: a flipped byte is refused, naming the
// file, never trained on. (CRC-32 per record rather than a hash per shard: it is checked where
// the bytes are used, at ~20 us per 256 x 256 image, without reading whole shards.) The index
// and each sidecar end with the SHA-256 of the rest of their JSON, checked when they are read:
// the labels, file lists, record checksums and statistics they hold are covered too (format
// version 3; version 2 checked the pixels only, so a changed label was trained on).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { DataError } from '../core/errors.js';
import { readJsonFile, writeFileAtomic } from '../io/files.js';
import { SPLIT_NAMES, type Dataset, type ImageReader, type OpenedData, type ReaderHandle, type SkippedFile, type SplitName } from './dataset.js';
import type { ImageStats } from './stats.js';

export const CACHE_FORMAT = 'alexnet.ts image cache';
export const INDEX_FILE = 'index.json';
export const MEAN_FILE = 'mean.f32';
export const CACHE_VERSION = 3;
/** The largest index or sidecar read (ImageNet's index is ~100 MB); beyond it, not ours. */
const MAX_JSON_BYTES = 2 ** 29;

/** What identifies a cache's contents; a resumed run must match it exactly. */
export interface CacheHeader {
  format: typeof CACHE_FORMAT;
  version: typeof CACHE_VERSION;
  /** `folder:/abs/dir` or `imagenet:/abs/dir`. */
  source: string;
  layout: 'CHW uint8';
  shape: [number, number, number];
  recordBytes: number;
  imagesPerShard: number;
  /** SHA-256 of the file listing and labels. */
  fingerprint: string;
}

export interface CachedSplit {
  count: number;
  shards: number;
  /** Image files relative to the source root, in record order. */
  files: string[];
  labels: number[];
  /** Images per class, indexed by label. */
  perClass: number[];
  skipped: SkippedFile[];
  /** CRC-32 of each image record. */
  crc32: number[];
}

export type CacheIndex =
  | (CacheHeader & { complete: false })
  | (CacheHeader & {
      complete: true;
      classIds: string[];
      classes: string[];
      splits: Partial<Record<SplitName, CachedSplit>>;
      /** Training statistics; the mean image is in MEAN_FILE, with this SHA-256. */
      stats: Omit<ImageStats, 'meanImage'> & { meanImage: typeof MEAN_FILE; meanSha256: string };
    });

/** One shard's sidecar. */
export interface ShardRecord {
  /** Index into the split's file list where the next shard starts. */
  nextFile: number;
  files: string[];
  labels: number[];
  skipped: SkippedFile[];
  /** CRC-32 of each image record. */
  crc32: number[];
}

export const shardName = (k: number) => `shard-${String(k).padStart(5, '0')}`;

/** Writes `value` as JSON with the SHA-256 of that JSON appended as its last field, `sha256`. */
export const writeJsonAtomic = (path: string, value: object) => {
  const text = JSON.stringify(value);
  return writeFileAtomic(path, `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"sha256":"${sha256(text)}"}\n`);
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The JSON object in `path` (as writeJsonAtomic wrote it), without its SHA-256, after `check`
 * (which may refuse it first, e.g. an older format) and the SHA-256; `again` says how to make it anew.
 */
async function readSealedJson(path: string, again: () => string, check: (value: Record<string, unknown>) => void = () => {}): Promise<Record<string, unknown>> {
  const value = await readJsonFile(path, 'a cache index or shard record', MAX_JSON_BYTES);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataError(`${path}: expected a JSON object written by alexnet data prepare`);
  const { sha256: recorded, ...rest } = value as Record<string, unknown>;
  check(rest);
  if (recorded !== sha256(JSON.stringify(rest))) {
    const fault = recorded === undefined ? 'it has no SHA-256 of its contents' : 'its contents (labels, file names, checksums) do not match the SHA-256 recorded in it when it was written';
    throw new DataError(`${path}: corrupt: ${fault}; ${again()}`);
  }
  return rest;
}

/** The cache's index, or null when `dir` has none. */
export async function readIndex(dir: string): Promise<CacheIndex | null> {
  const path = join(dir, INDEX_FILE);
  if (!(await stat(path).catch(() => null))) return null;
  let source = 'SPEC';
  const index = await readSealedJson(path, () => `prepare the source again (alexnet data prepare ${source} --out ${dir})`, (i) => {
    if (i.format !== CACHE_FORMAT) throw new DataError(`${path}: not an ${CACHE_FORMAT} index`);
    source = String(i.source);
    if (i.version !== CACHE_VERSION) {
      throw new DataError(
        `${path}: version ${i.version} of the cache (its labels are not covered by checksums); prepare the source again into a new folder (alexnet data prepare ${source} --out NEW_DIR)`,
      );
    }
  });
  return index as unknown as CacheIndex;
}

/** The sidecars of a split's finished shards, in order (stopping at the first missing one), each checked. */
export async function readShardRecords(splitDir: string): Promise<ShardRecord[]> {
  const records: ShardRecord[] = [];
  for (;;) {
    const path = join(splitDir, `${shardName(records.length)}.json`);
    if (!(await stat(path).catch(() => null))) return records;
    records.push((await readSealedJson(path, () => 'delete it and its .u8 shard, and prepare again (the shards before it are kept)')) as unknown as ShardRecord);
  }
}

/** Reads records from shard files with positioned reads; files open on first use. */
export class CacheReader implements ImageReader {
  readonly shape: [number, number, number];
  readonly count: number;
  private readonly recordBytes: number;
  private readonly fds = new Map<number, number>();

  constructor(protected readonly source: Extract<ReaderHandle, { kind: 'cache' }>) {
    this.shape = source.shape;
    this.count = source.count;
    this.recordBytes = source.shape[0] * source.shape[1] * source.shape[2];
  }

  label(i: number): number {
    return this.source.labels[i];
  }

  readImage(i: number, out: Uint8Array): void {
    const shard = Math.floor(i / this.source.imagesPerShard);
    const path = join(this.source.dir, `${shardName(shard)}.u8`);
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds.set(shard, fd);
    }
    const offset = (i % this.source.imagesPerShard) * this.recordBytes;
    const read = readSync(fd, out, 0, this.recordBytes, offset);
    if (read !== this.recordBytes) throw new DataError(`${path}: truncated: image ${i} needs bytes ${offset}..${offset + this.recordBytes}, file ends sooner`);
    if (crc32(out.subarray(0, this.recordBytes)) !== this.source.crc32[i]) {
      throw new DataError(
        `${path}: corrupt: image ${i} (bytes ${offset}..${offset + this.recordBytes}) does not match the CRC-32 recorded when the cache was prepared; prepare it again`,
      );
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

class CacheDataset extends CacheReader implements Dataset {
  constructor(
    readonly name: string,
    readonly split: SplitName,
    readonly classes: readonly string[],
    readonly classIds: readonly string[],
    readonly files: readonly string[],
    readonly skipped: readonly SkippedFile[],
    readonly handle: Extract<ReaderHandle, { kind: 'cache' }>,
  ) {
    super(handle);
  }
}

/** Opens a complete cache; its shard sizes are checked against the index first. */
export async function openCache(dir: string): Promise<OpenedData> {
  const index = await readIndex(dir);
  if (index === null) throw new DataError(`${dir} is not a data cache: it has no ${INDEX_FILE} (write one with alexnet data prepare SPEC --out ${dir})`);
  if (!index.complete) {
    throw new DataError(`cache ${dir} is incomplete: run \`alexnet data prepare ${index.source} --out ${dir}\` again to finish it`);
  }
  const meanPath = join(dir, MEAN_FILE);
  const meanBytes = await readFile(meanPath);
  if (createHash('sha256').update(meanBytes).digest('hex') !== index.stats.meanSha256) {
    throw new DataError(`${meanPath}: corrupt: its SHA-256 does not match the one recorded in ${INDEX_FILE} when the cache was prepared; prepare it again`);
  }
  const meanImage = new Float32Array(meanBytes.buffer.slice(meanBytes.byteOffset, meanBytes.byteOffset + meanBytes.length));
  if (meanImage.length !== index.recordBytes) throw new DataError(`${meanPath}: ${meanImage.length} values, expected ${index.recordBytes}`);

  const datasets: Partial<Record<SplitName, Dataset>> = {};
  for (const split of SPLIT_NAMES) {
    const s = index.splits[split];
    if (!s) continue;
    const splitDir = join(dir, split);
    for (let k = 0; k < s.shards; k++) {
      const path = join(splitDir, `${shardName(k)}.u8`);
      const records = k < s.shards - 1 ? index.imagesPerShard : s.count - k * index.imagesPerShard;
      const size = statSync(path, { throwIfNoEntry: false })?.size;
      if (size !== records * index.recordBytes) {
        throw new DataError(`${path}: ${size === undefined ? 'missing' : `${size} bytes`}, expected ${records} images of ${index.recordBytes} bytes`);
      }
    }
    const handle = { kind: 'cache' as const, shape: index.shape, count: s.count, dir: splitDir, imagesPerShard: index.imagesPerShard, labels: Int32Array.from(s.labels), crc32: Uint32Array.from(s.crc32) };
    datasets[split] = new CacheDataset(`cache:${dir} (${split})`, split, index.classes, index.classIds, s.files, s.skipped, handle);
  }
  if (!datasets.train) throw new DataError(`cache ${dir} has no training split`);
  const { meanSha256: _checked, ...stats } = index.stats;
  return {
    name: `cache:${dir}`,
    origin: `cache ${dir} (prepared from ${index.source})`,
    train: datasets.train,
    val: datasets.val,
    test: datasets.test,
    stats: { ...stats, meanImage },
  };
}
