// What a data spec holds, without training on it: classes, images per split and class, and the
// files left out with their reasons. Image folders are checked by their first bytes (fast) or,
// with `decode`, by decoding every file as preparation would.
import { relative } from 'node:path';
import { readIndex } from './cache.js';
import { classCounts, SPLIT_NAMES, type SkippedFile, type SplitName } from './dataset.js';
import { openDataset } from './open.js';
import { checkHeader, scanSource } from './scan.js';
import { loadWithSharp } from './load_sharp.js';

export interface SplitReport {
  images: number;
  /** Class id (folder name, wnid) -> images; ids, since ImageNet has repeated names ("crane"). */
  perClass: Record<string, number>;
  skipped: SkippedFile[];
}

export interface InspectReport {
  spec: string;
  /** How images were checked: by header bytes, by decoding, from a cache index, or loaded. */
  checked: 'header' | 'decoded' | 'cache' | 'loaded';
  /** Stored shape C, H, W, where known without decoding. */
  shape?: [number, number, number];
  classes: string[];
  classIds: string[];
  images: number;
  skipped: number;
  splits: Partial<Record<SplitName, SplitReport>>;
  /** For a cache still being prepared. */
  complete?: boolean;
}

function splitReport(classIds: readonly string[], counts: number[], skipped: SkippedFile[]): SplitReport {
  return { images: counts.reduce((a, b) => a + b, 0), perClass: Object.fromEntries(classIds.map((c, i) => [c, counts[i]])), skipped };
}

function summary(spec: string, checked: InspectReport['checked'], classes: string[], classIds: string[], splits: InspectReport['splits']): InspectReport {
  const all = Object.values(splits);
  return {
    spec, checked, classes, classIds, splits,
    images: all.reduce((n, s) => n + s.images, 0),
    skipped: all.reduce((n, s) => n + s.skipped.length, 0),
  };
}

export async function inspectSpec(spec: string, options: { decode?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<InspectReport> {
  const kind = spec.split(':')[0];
  if (kind === 'cache') {
    const dir = spec.slice('cache:'.length);
    const index = await readIndex(dir);
    if (index !== null && !index.complete) {
      return { ...summary(spec, 'cache', [], [], {}), shape: index.shape, complete: false };
    }
  }
  if (kind !== 'folder' && kind !== 'imagenet') {
    const data = await openDataset(spec, { holdOut: false });
    const splits: InspectReport['splits'] = {};
    for (const split of SPLIT_NAMES) {
      const d = data[split];
      if (d) splits[split] = splitReport(d.classIds, classCounts(d), [...d.skipped]);
    }
    const report = summary(spec, kind === 'cache' ? 'cache' : 'loaded', [...data.train.classes], [...data.train.classIds], splits);
    return { ...report, shape: [...data.train.shape] as [number, number, number], ...(kind === 'cache' ? { complete: true } : {}) };
  }

  const listing = await scanSource(spec);
  const entries = SPLIT_NAMES.flatMap((s) => (listing.splits[s] ? [[s, listing.splits[s]!] as const] : []));
  const total = entries.reduce((n, [, s]) => n + s.files.length, 0);
  let done = 0;
  const splits: InspectReport['splits'] = {};
  for (const [name, split] of entries) {
    const problems: (string | null)[] = [];
    if (options.decode) {
      // Imported here so that sharp (libvips) loads only when images must be decoded.
      const { decodeInOrder } = await loadWithSharp(() => import('./decode.js'));
      // Decoding errors do not depend on the output size; a small one is quicker.
      await decodeInOrder(split.files, 16, 4, (i, r) => {
        problems[i] = r.ok ? null : r.reason;
        options.onProgress?.(++done, total);
      });
    } else {
      for (const file of split.files) {
        problems.push(await checkHeader(file));
        options.onProgress?.(++done, total);
      }
    }
    const counts = new Array<number>(listing.classes.length).fill(0);
    const skipped = [...split.skipped];
    problems.forEach((reason, i) => {
      if (reason === null) counts[split.labels[i]]++;
      else skipped.push({ file: relative(listing.root, split.files[i]), reason });
    });
    splits[name] = splitReport(listing.classIds, counts, skipped);
  }
  return summary(spec, options.decode ? 'decoded' : 'header', listing.classes, listing.classIds, splits);
}
