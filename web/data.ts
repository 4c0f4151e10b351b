// The worker's data sets, from what the page hands over: the bundled Fashion-MNIST subset
// (fetched with the page), the user's four IDX files, a folder of class subfolders of images, or
// the classes made in the Teach panel (opened as the same images in class folders would be).
// Parsed and decoded here with the library's byte parsers and the browser's image decoder, into
// the same OpenedData that Node's data/open.ts makes from disk.
import {
  computeStats, DataError, datasetFromSet, decodeIdx, decodeRgb, fashionMnistFiles, fashionMnistSplit, holdOutTest,
  MemoryDataset, sha256Hex, sharedBytes, storedImage, type OpenedData,
} from '../src/browser.js';
import type { ClassImages, DataChoice } from './protocol.js';

const IDX_NAMES = [fashionMnistFiles('train'), fashionMnistFiles('t10k')].flatMap((f) => [f.images, f.labels]);

/** The bundled subset's files, fetched from `base` (the page's address of data/fashion-mnist-subset/). */
export async function fetchBundled(base: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  return Promise.all(
    IDX_NAMES.map(async (name) => {
      const url = new URL(`${name}.gz`, base);
      const response = await fetch(url);
      if (!response.ok) throw new DataError(`${url}: the bundled Fashion-MNIST subset could not be fetched (HTTP ${response.status})`);
      return { name: `${name}.gz`, bytes: new Uint8Array(await response.arrayBuffer()) };
    }),
  );
}

/** Fashion-MNIST from its four IDX files (any order, each optionally gzipped). */
export async function openIdx(files: { name: string; bytes: Uint8Array }[]): Promise<OpenedData> {
  const byName = (base: string) => files.find((f) => f.name === base || f.name === `${base}.gz`);
  const missing = IDX_NAMES.filter((n) => !byName(n));
  if (missing.length > 0) {
    throw new DataError(`pick the four Fashion-MNIST files (${IDX_NAMES.map((n) => `${n}.gz`).join(', ')}); missing: ${missing.join(', ')}`);
  }
  const split = async (prefix: 'train' | 't10k') => {
    const names = fashionMnistFiles(prefix);
    const images = byName(names.images)!;
    const labels = byName(names.labels)!;
    return fashionMnistSplit(await decodeIdx(images.bytes, images.name), await decodeIdx(labels.bytes, labels.name), images.name, labels.name);
  };
  const train = datasetFromSet(await split('train'), 'fashion-mnist', 'train');
  const test = datasetFromSet(await split('t10k'), 'fashion-mnist', 'test');
  return { name: 'fashion-mnist', origin: 'Fashion-MNIST IDX files', train, test, stats: computeStats(train) };
}

const SPLITS = ['train', 'val', 'test'] as const;
type Split = (typeof SPLITS)[number];
type Skipped = (file: string, reason: string) => void;
/** One image of a data set being opened: its split, its class, its path (names it; orders the images) and bytes. */
interface Entry {
  split: Split;
  cls: string;
  path: string;
  bytes: Uint8Array;
}

/**
 * Images in class folders, as `folder:DIR` reads them in Node: `class/...` paths, or
 * `train/class/...` (with optional `val/` and `test/`) where the top folders are splits. Files
 * that do not decode are skipped, and said; a training class without images is an error.
 */
export async function openFolder(files: { path: string; bytes: Uint8Array }[], side: number, skipped: Skipped): Promise<OpenedData> {
  const parts = files.map((f) => f.path.split('/').filter((p) => p !== ''));
  const splitLayout = parts.some((p) => p[0] === 'train');
  const entries = files.flatMap((f, i): Entry[] => {
    const p = parts[i];
    const split = splitLayout ? p[0] : 'train';
    const rest = splitLayout ? p.slice(1) : p;
    if (!(SPLITS as readonly string[]).includes(split) || rest.length < 2) {
      skipped(f.path, 'not inside a class folder');
      return [];
    }
    return [{ split: split as Split, cls: rest[0], path: f.path, bytes: f.bytes }];
  });
  return openEntries(entries, side, skipped, { name: 'folder', origin: 'a folder of images', unit: 'class folder', tooFew: 'the folder needs at least two class folders of images' });
}

/**
 * The person's classes (the Teach panel's), as the same images in class folders would open:
 * classes in name order (as folder:DIR lists them), images by name, a tenth of each class held
 * out as the test set with the same seed.
 */
export function openClasses(classes: ClassImages[], side: number, skipped: Skipped): Promise<OpenedData> {
  const empty = classes.find((c) => c.images.length === 0);
  if (empty) throw new DataError(`class "${empty.name}" has no images: give it some, or remove it`);
  const twice = classes.find((c, i) => classes.findIndex((d) => d.name === c.name) !== i);
  if (twice) throw new DataError(`two classes are named "${twice.name}": give each its own name`);
  const entries = classes.flatMap((c) => c.images.map((image): Entry => ({ split: 'train', cls: c.name, path: `${c.name}/${image.name}`, bytes: image.bytes })));
  return openEntries(entries, side, skipped, { name: 'your classes', origin: 'your classes in this page', unit: 'class', tooFew: 'teaching needs two classes with images at least' });
}

async function openEntries(entries: Entry[], side: number, skipped: Skipped, words: { name: string; origin: string; unit: string; tooFew: string }): Promise<OpenedData> {
  const classes = [...new Set(entries.filter((e) => e.split === 'train').map((e) => e.cls))].sort();
  if (classes.length < 2) throw new DataError(`${words.tooFew}, found ${classes.length}`);
  const opened: Partial<Record<Split, MemoryDataset>> = {};
  for (const split of SPLITS) {
    const mine = entries.filter((e) => e.split === split).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    if (mine.length === 0) continue;
    const pixels: Uint8Array[] = [];
    const labels: number[] = [];
    const names: string[] = [];
    for (const e of mine) {
      const label = classes.indexOf(e.cls);
      if (label < 0) {
        skipped(e.path, `class "${e.cls}" is not among the training classes`);
        continue;
      }
      const decoded = await decodeRgb(e.bytes);
      if (!decoded.ok) {
        skipped(e.path, decoded.reason);
        continue;
      }
      pixels.push(storedImage(decoded.rgb, decoded.width, decoded.height, side));
      labels.push(label);
      names.push(e.path);
    }
    const images = sharedBytes(pixels.length * 3 * side * side);
    pixels.forEach((p, i) => images.set(p, i * p.length));
    opened[split] = new MemoryDataset(`${words.name} (${split})`, split, [3, side, side], classes, classes, images, Int32Array.from(labels), [], names);
  }
  const train = opened.train!;
  const counts = classes.map((_, c) => Array.from({ length: train.count }, (_, i) => train.label(i)).filter((l) => l === c).length);
  const empty = counts.findIndex((n) => n === 0);
  if (empty >= 0) throw new DataError(`${words.unit} ${classes[empty]} has no usable images; every training class needs one at least`);
  return holdOutTest({ name: words.name, origin: words.origin, train, val: opened.val, test: opened.test, stats: computeStats(train) }, {});
}

/** The data set a choice names, with a fingerprint of its bytes (to tell a resumed run's data). */
export async function openChoice(choice: DataChoice, bundledBase: string, side: number, skipped: Skipped): Promise<{ opened: OpenedData; fingerprint: string }> {
  const files =
    choice.kind === 'bundled' ? await fetchBundled(bundledBase)
    : choice.kind === 'idx' ? choice.files
    : choice.kind === 'folder' ? choice.files.map((f) => ({ name: f.path, bytes: f.bytes }))
    : choice.classes.flatMap((c) => c.images.map((i) => ({ name: `${c.name}/${i.name}`, bytes: i.bytes })));
  const fingerprint = choice.kind === 'bundled' ? 'bundled' : await sha256Hex(new TextEncoder().encode(files.map((f) => `${f.name}:${f.bytes.length}`).join('\n')));
  const opened =
    choice.kind === 'folder' ? await openFolder(choice.files, side, skipped)
    : choice.kind === 'classes' ? await openClasses(choice.classes, side, skipped)
    : await openIdx(files);
  return { opened, fingerprint };
}

