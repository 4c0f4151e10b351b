// CIFAR-10 (Krizhevsky, 2009), binary version: data_batch_1.bin .. data_batch_5.bin (training)
// and test_batch.bin, each a run of 3073-byte records: one label byte (0..9), then a 32x32 image
// as three 1024-byte planes R, G, B (already CHW). batches.meta.txt names the classes.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, FormatError } from '../core/errors.js';
import { readInputFile } from '../io/files.js';
import type { ImageSet } from './fashion_mnist.js';

const SIDE = 32;
const IMAGE_BYTES = 3 * SIDE * SIDE;
const RECORD_BYTES = 1 + IMAGE_BYTES;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = 'test_batch.bin';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The images (CHW) and labels of one batch file. */
function parseBatch(bytes: Uint8Array, file: string): { images: Uint8Array; labels: Uint8Array } {
  if (bytes.length === 0 || bytes.length % RECORD_BYTES !== 0) {
    throw new FormatError(file, `${bytes.length} bytes is not a whole number of ${RECORD_BYTES}-byte records (1 label + 3072 pixels)`);
  }
  const count = bytes.length / RECORD_BYTES;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = bytes[n * RECORD_BYTES];
    if (label >= CIFAR10_CLASSES.length) throw new FormatError(file, `record ${n} has label ${label}, expected 0..9`);
    labels[n] = label;
    images.set(bytes.subarray(n * RECORD_BYTES + 1, (n + 1) * RECORD_BYTES), n * IMAGE_BYTES);
  }
  return { images, labels };
}

async function loadFiles(dir: string, names: string[], classes: string[]): Promise<ImageSet> {
  const parts = await Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      const bytes = await readInputFile(file, 'a CIFAR-10 batch file').catch((err) => {
        if (err instanceof FormatError && err.fault === 'file not found') {
          throw new DataError(`CIFAR-10: ${file} is missing (expected ${[...TRAIN_FILES, TEST_FILE].join(', ')})`);
        }
        throw err; // a directory, a device, too large: said as such
      });
      return parseBatch(bytes, file);
    }),
  );
  const count = parts.reduce((n, p) => n + p.labels.length, 0);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * IMAGE_BYTES);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return { images, labels, count, channels: 3, height: SIDE, width: SIDE, classes };
}

/** Class names from batches.meta.txt (one per line), or the standard ten when it is absent. */
async function classNames(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'batches.meta.txt'), 'utf8').catch(() => null);
  if (text === null) return [...CIFAR10_CLASSES];
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (names.length !== CIFAR10_CLASSES.length) {
    throw new FormatError(join(dir, 'batches.meta.txt'), `${names.length} class names, expected ${CIFAR10_CLASSES.length}`);
  }
  return names;
}

/** Loads `DIR` or `DIR/cifar-10-batches-bin` (the archive's folder). */
export async function loadCifar10(dir: string): Promise<{ train: ImageSet; test: ImageSet; origin: string }> {
  const inner = join(dir, 'cifar-10-batches-bin');
  const where = await stat(join(inner, TEST_FILE)).then(() => inner, () => dir);
  const isDir = await stat(where).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new DataError(`CIFAR-10 directory ${dir} does not exist`);
  const classes = await classNames(where);
  const [train, test] = await Promise.all([loadFiles(where, TRAIN_FILES, classes), loadFiles(where, [TEST_FILE], classes)]);
  return { train, test, origin: where };
}
