// What identifies the data a run trained on, saved in every checkpoint: a resumed run whose data
// changed since (files added, removed, edited; another spec) is told what changed, on stderr,
// before it trains on. Cheap to compute: counts, classes, every label, and the bytes of a fixed
// sample of images, hashed.
import { sha256Hex } from '../core/digest.js';
import type { Dataset } from '../data/dataset.js';
import type { TrainingData } from './data.js';

export interface DataFingerprint {
  spec: string;
  classes: string[];
  shape: number[];
  counts: { train: number; val: number; test: number };
  /** SHA-256 of the training and test sets' labels and of up to 64 images of each. */
  sample: string;
}

const SAMPLED_IMAGES = 64;

function sampleBytes(set: Dataset): Uint8Array[] {
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  const step = Math.max(1, Math.floor(set.count / SAMPLED_IMAGES));
  const parts: Uint8Array[] = [Uint8Array.from({ length: set.count }, (_, i) => set.label(i) & 0xff)];
  for (let i = 0; i < set.count; i += step) {
    const image = new Uint8Array(size);
    set.readImage(i, image);
    parts.push(image);
  }
  return parts;
}

export async function fingerprintData(spec: string, data: TrainingData): Promise<DataFingerprint> {
  const parts = [...sampleBytes(data.sets.train), ...sampleBytes(data.sets.test)];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  return { spec, classes: data.classes, shape: [...data.sets.train.shape], counts: data.counts, sample: await sha256Hex(all) };
}

/** What differs between the data a checkpoint was trained on and the data now, in words. */
export function dataChanges(before: DataFingerprint, now: DataFingerprint): string[] {
  const changes: string[] = [];
  if (before.spec !== now.spec) changes.push(`the spec (${before.spec} -> ${now.spec})`);
  if (before.classes.join('\n') !== now.classes.join('\n')) changes.push(`the classes (${before.classes.length} -> ${now.classes.length})`);
  if (before.shape.join() !== now.shape.join()) changes.push(`the image shape (${before.shape.join('x')} -> ${now.shape.join('x')})`);
  for (const split of ['train', 'val', 'test'] as const) {
    if (before.counts[split] !== now.counts[split]) changes.push(`${split} images (${before.counts[split]} -> ${now.counts[split]})`);
  }
  if (changes.length === 0 && before.sample !== now.sample) changes.push('the labels or pixels of the images (same counts)');
  return changes;
}
