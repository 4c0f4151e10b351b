// Opening a data spec from disk (Node): Fashion-MNIST's IDX files, CIFAR-10's batches, image
// folders and the ImageNet layout (decoded into memory or into a shard cache), a prepared cache.
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { openCache } from './cache.js';
import { loadCifar10 } from './cifar10.js';
import { datasetFromSet, holdOutTest, type OpenedData, type OpenOptions } from './dataset.js';
import { fashionMnistDirectory, loadData } from './source.js';
import { computeStats } from './stats.js';
import { loadWithSharp } from './load_sharp.js';

const SPEC_KINDS = ['fashion-mnist', 'cifar10', 'folder', 'imagenet', 'cache'];

/** The kind and directory of a data spec (directory '' for plain fashion-mnist); refuses an unknown kind or a missing directory. */
export function parseDataSpec(spec: string): { kind: string; dir: string } {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? '' : spec.slice(colon + 1);
  if (!SPEC_KINDS.includes(kind)) {
    throw new UsageError(`unknown data spec "${spec}": expected fashion-mnist[:DIR], cifar10:DIR, folder:DIR, imagenet:DIR or cache:DIR`);
  }
  if (kind !== 'fashion-mnist' && dir === '') throw new UsageError(`data spec "${spec}" names no directory: expected ${kind}:DIR`);
  return { kind, dir };
}

/** The folder a data spec reads (plain fashion-mnist: the one it finds), absolute. */
export async function dataDirectory(spec: string): Promise<string> {
  const { kind, dir } = parseDataSpec(spec);
  return resolve(kind === 'fashion-mnist' ? await fashionMnistDirectory(dir) : dir);
}

/**
 * The spec with its directory made absolute against `base`: a spec recorded in a checkpoint or
 * a sweep means the same data from any working directory (tasks run elsewhere; eval later).
 */
export function absoluteDataSpec(spec: string, base = process.cwd()): string {
  const { kind, dir } = parseDataSpec(spec);
  return dir === '' || isAbsolute(dir) ? spec : `${kind}:${resolve(base, dir)}`;
}

/**
 * Opens a data spec:
 * - `fashion-mnist[:DIR]` IDX files, in memory (train and test; see source.ts);
 * - `cifar10:DIR` the CIFAR-10 binary batches, in memory (train and test);
 * - `folder:DIR` class-per-subfolder images, or DIR/train, DIR/val, DIR/test each laid out so;
 * - `imagenet:DIR` the ILSVRC-2012 layout (train/<wnid>/, val/ with ground truth);
 * - `cache:DIR` a cache written by `alexnet data prepare` (or by the `cache` option).
 * folder: and imagenet: are decoded into memory unless `options.cache` names a cache directory.
 */
export async function openDataset(spec: string, options: OpenOptions = {}): Promise<OpenedData> {
  const { kind, dir } = parseDataSpec(spec);
  switch (kind) {
    case 'fashion-mnist': {
      const data = await loadData(spec);
      const train = datasetFromSet(data.train, data.name, 'train');
      return { name: spec, origin: data.origin, train, test: datasetFromSet(data.test, data.name, 'test'), stats: computeStats(train) };
    }
    case 'cifar10': {
      const data = await loadCifar10(dir);
      const train = datasetFromSet(data.train, 'cifar10', 'train');
      return { name: spec, origin: data.origin, train, test: datasetFromSet(data.test, 'cifar10', 'test'), stats: computeStats(train) };
    }
    case 'folder':
    case 'imagenet': {
      // Imported here so that sharp (libvips) loads only when images must be decoded.
      const { decodeToMemory, prepareCache } = await loadWithSharp(() => import('./prepare.js'));
      if (options.cache === undefined) return holdOutTest(await decodeToMemory(spec, options), options);
      await prepareCache(spec, options.cache, { side: options.side, onProgress: (p) => options.onProgress?.(p.done, p.total) });
      return holdOutTest(await openCache(options.cache), options);
    }
    case 'cache':
    default: // the kinds were checked above
      return holdOutTest(await openCache(dir), options);
  }
}

