// The data and the source net of the transfer benchmarks (bench/transfer.ts,
// bench/fine_tune_speed.ts), and their way of running `alexnet train`. The data are written from
// Debian's full Fashion-MNIST into a work directory:
// - source/: IDX files of classes 0-4 only (T-shirt/top, Trouser, Pullover, Dress, Coat), training
//   and test images, for the net the others start from (its classes keep Fashion-MNIST's ten
//   names; outputs 5-9 are never trained on, and a fine-tune replaces fc8 anyway);
// - a folder per target set of classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot), named
//   "5-sandal" ... "9-ankle-boot" so that the folders' sorted order is the labels' (label - 5):
//   train/ the first K images of each class in the training split, val/ the next five of each
//   class, test/ every test image of those classes (5,000). A folder's
//   class names differ from the source's, so a fine-tune gets a new fc8 of 5 outputs.
// The images are written as 32x32 PNGs: the 28x28 image with a 2-pixel border of zeros (the
// images' own background). A folder is stored at the mini's 32 (28 + 4) and centre-cropped to 28,
// so the net sees exactly the original pixels, as from the IDX files; PyTorch (which reads the IDX
// files, manifest.json says which images) sees the same.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { TrainEvent } from '../src/train/loop.js';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
export const SOURCE_CLASSES = [0, 1, 2, 3, 4];
export const TARGET_CLASSES = [5, 6, 7, 8, 9];
const FOLDER_NAMES = ['5-sandal', '6-shirt', '7-sneaker', '8-bag', '9-ankle-boot'];
const VAL_PER_CLASS = 5;
const SIDE = 28;
const PAD = 2;

interface Split {
  images: Uint8Array; // count x 28 x 28
  labels: Uint8Array;
}

function readIdx(file: string, headerBytes: number): { header: Buffer; body: Buffer } {
  const bytes = gunzipSync(readFileSync(join(FASHION_MNIST, `${file}.gz`)));
  return { header: bytes.subarray(0, headerBytes), body: bytes.subarray(headerBytes) };
}

function readSplit(prefix: 'train' | 't10k'): Split {
  return { images: readIdx(`${prefix}-images-idx3-ubyte`, 16).body, labels: readIdx(`${prefix}-labels-idx1-ubyte`, 8).body };
}

/** Indices of `split`'s images whose label is in `classes`, in order. */
function ofClasses(split: Split, classes: number[]): number[] {
  return Array.from(split.labels.keys()).filter((i) => classes.includes(split.labels[i]));
}

/** The first `count` images of each class in `classes`, skipping the first `skip` of each. */
function perClass(split: Split, classes: number[], count: number, skip = 0): number[] {
  const seen = new Map<number, number>();
  return Array.from(split.labels.keys()).filter((i) => {
    const c = split.labels[i];
    if (!classes.includes(c)) return false;
    const n = seen.get(c) ?? 0;
    seen.set(c, n + 1);
    return n >= skip && n < skip + count;
  });
}

/** IDX files holding images `indices` of a split (uncompressed; the reader takes either). */
function writeIdxSubset(dir: string, prefix: 'train' | 't10k', split: Split, indices: number[]): void {
  const images = Buffer.alloc(16 + indices.length * SIDE * SIDE);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(indices.length, 4);
  images.writeUInt32BE(SIDE, 8);
  images.writeUInt32BE(SIDE, 12);
  const labels = Buffer.alloc(8 + indices.length);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(indices.length, 4);
  indices.forEach((i, k) => {
    images.set(split.images.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE), 16 + k * SIDE * SIDE);
    labels[8 + k] = split.labels[i];
  });
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), images);
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
}

/** Image `i` of `split` as a 32x32 grey PNG (the 28x28 image inside a border of zeros). */
function png(split: Split, i: number): Promise<Buffer> {
  const side = SIDE + 2 * PAD;
  const pixels = Buffer.alloc(side * side);
  for (let y = 0; y < SIDE; y++) pixels.set(split.images.subarray(i * SIDE * SIDE + y * SIDE, i * SIDE * SIDE + (y + 1) * SIDE), (y + PAD) * side + PAD);
  return sharp(pixels, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer();
}

async function writeFolder(dir: string, split: Split, indices: number[]): Promise<void> {
  for (const name of FOLDER_NAMES) mkdirSync(join(dir, name), { recursive: true });
  for (let at = 0; at < indices.length; at += 256) {
    await Promise.all(indices.slice(at, at + 256).map(async (i) => {
      writeFileSync(join(dir, FOLDER_NAMES[split.labels[i] - TARGET_CLASSES[0]], `${i}.png`), await png(split, i));
    }));
  }
}

/** Where the benchmarks' data are, and which Fashion-MNIST images each holds (for PyTorch). */
export interface Manifest {
  fashionMnist: string;
  /** fashion-mnist:DIR of classes 0-4. */
  source: string;
  /** Per images-per-class K: folder:DIR, and the training images' indices in the training split. */
  targets: Record<string, { spec: string; train: number[] }>;
  /** Indices of the test images of classes 5-9 in the test split (every target folder's test/). */
  test: number[];
  /** Label l of a target folder is Fashion-MNIST class l + labelOffset. */
  labelOffset: number;
}

/**
 * Writes (once; an existing manifest.json is read back) the source IDX files and a target folder
 * for each of `perClassCounts`, under `work`.
 */
export async function prepareTransferData(work: string, perClassCounts: number[]): Promise<Manifest> {
  const path = join(work, 'manifest.json');
  const done: Manifest | null = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null;
  const missing = perClassCounts.filter((k) => !done?.targets[k]);
  if (done && missing.length === 0) return done;
  const train = readSplit('train');
  const test = readSplit('t10k');
  const source = join(work, 'source-idx');
  if (!done) {
    mkdirSync(source, { recursive: true });
    writeIdxSubset(source, 'train', train, ofClasses(train, SOURCE_CLASSES));
    writeIdxSubset(source, 't10k', test, ofClasses(test, SOURCE_CLASSES));
  }
  const testIndices = ofClasses(test, TARGET_CLASSES);
  const manifest: Manifest = done ?? { fashionMnist: FASHION_MNIST, source: `fashion-mnist:${source}`, targets: {}, test: testIndices, labelOffset: TARGET_CLASSES[0] };
  for (const k of missing) {
    const dir = join(work, `target-${k}`);
    const trainIndices = perClass(train, TARGET_CLASSES, k);
    await writeFolder(join(dir, 'train'), train, trainIndices);
    await writeFolder(join(dir, 'val'), train, perClass(train, TARGET_CLASSES, VAL_PER_CLASS, k)); // the next 5 of each class
    await writeFolder(join(dir, 'test'), test, testIndices);
    manifest.targets[k] = { spec: `folder:${dir}`, train: trainIndices };
  }
  writeFileSync(path, JSON.stringify(manifest));
  return manifest;
}

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;

type Event<K extends TrainEvent['event']> = Extract<TrainEvent, { event: K }>;

/** What `alexnet train --json` printed: its start, epoch, step (with --log-steps) and done lines. */
export interface TrainOutput {
  start: Event<'start'>;
  epochs: Event<'epoch'>[];
  steps: Event<'step'>[];
  done: Event<'done'>;
  /** Seconds from the process's start to its end. */
  wall: number;
}

/** `alexnet train ARGS` on the CPU with --json (it must succeed). */
export function alexnetTrain(args: string[]): TrainOutput {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [MAIN, 'train', ...args, '--backend', 'cpu', '--json', '--no-report'], { encoding: 'utf8', maxBuffer: 2 ** 28 });
  if (r.status !== 0) throw new Error(`alexnet train ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TrainEvent);
  const of = <K extends TrainEvent['event']>(kind: K) => events.filter((e): e is Event<K> => e.event === kind);
  return { start: of('start')[0], epochs: of('epoch'), steps: of('step'), done: of('done')[0], wall: (performance.now() - t0) / 1000 };
}

/** The newest checkpoint directory of a run. */
export const latestCheckpoint = (run: string) => join(run, 'checkpoints', JSON.parse(readFileSync(join(run, 'checkpoints', 'latest.json'), 'utf8')).checkpoint);

/** The source: the mini trained on classes 0-4 for `epochs` epochs (the mini's defaults otherwise), once; reused from `work`. */
export function sourceRun(work: string, manifest: Manifest, epochs: number): string {
  const dir = join(work, 'source');
  if (existsSync(join(dir, 'checkpoints', 'latest.json'))) return dir;
  const args = ['--arch', 'mini', '--data', manifest.source, '--epochs', String(epochs), '--out', dir, '--force'];
  const { done, epochs: records, wall } = alexnetTrain(args);
  console.log(JSON.stringify({ source: dir, command: `alexnet train ${args.join(' ')}`, test_top1_classes_0_4: done.test_top1, test_n: done.test_n, epochs: records, wall_s: wall }));
  return dir;
}
