// Preparing a large image set on many machines (a Slurm job array, an Indexed Job): part i of N
// decodes a contiguous share of each split's files into shards of its own under
// CACHE/parts/part-i-of-N/ (resumable, like a whole prepare), and the merge, once every part is
// done, replays their records and skips in file order into the cache's own shards and computes
// the training statistics. The merged cache is, byte for byte, the one a single
// `alexnet data prepare` would have written (test/data_sources.test.ts).
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';
import { DataError, UsageError } from '../core/errors.js';
import { makeDirectories } from '../io/files.js';
import { readShardRecords, shardName, writeJsonAtomic, type CacheIndex, type ShardRecord } from './cache.js';
import type { SplitName } from './dataset.js';
import { cacheHeader, finishCache, newProgress, ShardWriter, splitsOf, startCache, writeSplit, type PrepareOptions } from './prepare.js';
import { scanSource, type SplitListing } from './scan.js';

const DONE_FILE = 'done.json';

export const partDir = (out: string, part: number, parts: number) => join(out, 'parts', `part-${part}-of-${parts}`);

/** Files [start, end) of `count` that part `part` of `parts` takes: contiguous, sizes within one. */
export function partRange(count: number, part: number, parts: number): [number, number] {
  return [Math.floor((part * count) / parts), Math.floor(((part + 1) * count) / parts)];
}

function checkPart(part: number, parts: number): void {
  if (!Number.isInteger(parts) || parts < 1 || !Number.isInteger(part) || part < 0 || part >= parts) {
    throw new UsageError(`--part: expected i/N with 0 <= i < N (e.g. $SLURM_ARRAY_TASK_ID/8), found ${part}/${parts}`);
  }
}

/** Decodes part `part` of `parts` of a folder: or imagenet: spec (every split's share of its files). */
export async function preparePart(spec: string, out: string, part: number, parts: number, options: PrepareOptions = {}): Promise<void> {
  checkPart(part, parts);
  const listing = await scanSource(spec);
  const header = cacheHeader(listing, options);
  const dir = partDir(out, part, parts);
  await startCache(dir, header); // the part's own header: a part of another source or shape is refused
  const shares = splitsOf(listing).map(([name, split]) => [name, split, partRange(split.files.length, part, parts)] as const);
  const progress = { ...newProgress(listing), total: shares.reduce((n, [, , [start, end]]) => n + end - start, 0), skipped: 0 };
  for (const [name, split, [start, end]] of shares) {
    // Files the scan skipped are the whole split's, reported once by the merge.
    const share: SplitListing = { files: split.files.slice(start, end), labels: split.labels.slice(start, end), skipped: [] };
    await writeSplit(join(dir, name), name, share, listing, header, options, progress);
  }
  await writeJsonAtomic(join(dir, DONE_FILE), { part, parts });
}

/** Merges the `parts` finished parts in `out` into the cache itself, then removes them. */
export async function mergeParts(spec: string, out: string, parts: number, options: PrepareOptions = {}): Promise<Extract<CacheIndex, { complete: true }>> {
  checkPart(0, parts);
  const listing = await scanSource(spec);
  const header = cacheHeader(listing, options);
  const existing = await startCache(out, header);
  if (existing) return existing;
  for (let part = 0; part < parts; part++) {
    const dir = partDir(out, part, parts);
    const done = await readFile(join(dir, DONE_FILE), 'utf8').catch(() => null);
    if (done === null) throw new DataError(`${dir}: part ${part} of ${parts} is not finished: run alexnet data prepare ${spec} --out ${out} --part ${part}/${parts}`);
    await startCache(dir, header); // and it was made from the same files, at the same size
  }
  const shards: Partial<Record<SplitName, ShardRecord[]>> = {};
  for (const [name, split] of splitsOf(listing)) {
    const dir = join(out, name);
    await rm(dir, { recursive: true, force: true }); // an interrupted merge starts the split again
    await makeDirectories(dir, `--out ${out}`);
    const writer = new ShardWriter(dir, header, [], split.files.length - 1);
    const position = new Map(split.files.map((f, i) => [relative(listing.root, f), i]));
    try {
      for (let part = 0; part < parts; part++) await replayPart(join(partDir(out, part, parts), name), header.recordBytes, position, writer);
    } finally {
      await writer.close();
    }
    shards[name] = writer.shards;
  }
  const index = await finishCache(spec, out, listing, header, shards);
  await rm(join(out, 'parts'), { recursive: true, force: true });
  return index;
}

/** Feeds one part's records and skips of a split to `writer` in file order, checking each record's CRC-32. */
async function replayPart(dir: string, recordBytes: number, position: Map<string, number>, writer: ShardWriter): Promise<void> {
  const records = await readShardRecords(dir);
  type Entry = { at: number; file: string; shard: number; record: number; label: number } | { at: number; file: string; reason: string };
  const entries: Entry[] = [];
  const at = (file: string) => {
    const i = position.get(file);
    if (i === undefined) throw new DataError(`${dir}: ${file} is not in the source's listing (the files changed since the parts were made)`);
    return i;
  };
  records.forEach((r, shard) => {
    r.files.forEach((file, record) => entries.push({ at: at(file), file, shard, record, label: r.labels[record] }));
    for (const s of r.skipped) entries.push({ at: at(s.file), file: s.file, reason: s.reason });
  });
  entries.sort((a, b) => a.at - b.at);
  const pixels = new Uint8Array(recordBytes);
  let handle = null as { shard: number; file: FileHandle } | null; // (a cast: assignments in the loop are not narrowed away)
  try {
    for (const e of entries) {
      if (!('shard' in e)) {
        await writer.add(e.at, e.file, { reason: e.reason });
        continue;
      }
      if (handle?.shard !== e.shard) {
        await handle?.file.close();
        handle = { shard: e.shard, file: await open(join(dir, `${shardName(e.shard)}.u8`), 'r') };
      }
      const { bytesRead } = await handle.file.read(pixels, 0, recordBytes, e.record * recordBytes);
      if (bytesRead !== recordBytes || crc32(pixels) !== records[e.shard].crc32[e.record]) {
        throw new DataError(`${join(dir, shardName(e.shard))}.u8: record ${e.record} (${e.file}) is damaged (CRC-32 mismatch): run that part again`);
      }
      await writer.add(e.at, e.file, { pixels, label: e.label });
    }
  } finally {
    await handle?.file.close();
  }
}
