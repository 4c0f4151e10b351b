// Fashion-MNIST from disk (Node): `fashion-mnist` (Debian's files, or the bundled subset when
// they are absent) and `fashion-mnist:DIR`, each file read whole through the bounded reader.
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, UsageError } from '../core/errors.js';
import { readInputFile } from '../io/files.js';
import { fashionMnistFiles, fashionMnistSplit, type ImageSet } from './fashion_mnist.js';
import { decodeIdx, type IdxArray } from './idx.js';

/** Where Debian's dataset-fashion-mnist installs the gzipped IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The 4,000 + 1,000 image subset shipped in the package (scripts/make_fashion_subset.py). */
export const BUNDLED_FASHION_MNIST = fileURLToPath(new URL('../../../data/fashion-mnist-subset', import.meta.url));

export interface LoadedData {
  name: string;
  /** Where it came from, said once to the user. */
  origin: string;
  train: ImageSet;
  test: ImageSet;
}

/** Reads an IDX file, gunzipping it when it is named .gz or starts with the gzip magic. */
export async function readIdx(path: string): Promise<IdxArray> {
  return decodeIdx(await readInputFile(path, 'an IDX file'), path);
}

/** `<dir>/<base>.gz` if present, else the uncompressed `<dir>/<base>`. */
async function findFile(dir: string, base: string): Promise<string> {
  for (const name of [`${base}.gz`, base]) {
    const path = join(dir, name);
    try {
      await access(path);
      return path;
    } catch {
      // Try the next spelling.
    }
  }
  throw new DataError(`Fashion-MNIST: ${dir} has neither ${base}.gz nor ${base}`);
}

async function loadSplit(dir: string, prefix: 'train' | 't10k'): Promise<ImageSet> {
  const names = fashionMnistFiles(prefix);
  const imagesFile = await findFile(dir, names.images);
  const labelsFile = await findFile(dir, names.labels);
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  return fashionMnistSplit(images, labels, imagesFile, labelsFile);
}

export async function loadFashionMnist(dir = FASHION_MNIST_DIR): Promise<{ train: ImageSet; test: ImageSet }> {
  const problem = await stat(dir).then(
    (s) => (s.isDirectory() ? null : 'is not a directory'),
    () => 'does not exist',
  );
  if (problem !== null) {
    throw new DataError(
      `Fashion-MNIST not found: looked in ${dir}, which ${problem}. ` +
        `\`apt-get install dataset-fashion-mnist\` provides it in ${FASHION_MNIST_DIR}`,
    );
  }
  const [train, test] = await Promise.all([loadSplit(dir, 'train'), loadSplit(dir, 't10k')]);
  return { train, test };
}

/** The directory of `fashion-mnist:DIR`; for plain `fashion-mnist` (DIR ''), Debian's files, or the bundled subset without them. */
export async function fashionMnistDirectory(dir: string): Promise<string> {
  return dir || (await access(FASHION_MNIST_DIR).then(() => FASHION_MNIST_DIR, () => BUNDLED_FASHION_MNIST));
}

export async function loadData(spec: string): Promise<LoadedData> {
  const [kind, ...rest] = spec.split(':');
  const dir = rest.join(':');
  if (kind === 'fashion-mnist') {
    const where = await fashionMnistDirectory(dir);
    const { train, test } = await loadFashionMnist(where);
    const origin = where === BUNDLED_FASHION_MNIST ? `bundled subset (${where}); install dataset-fashion-mnist for all 70,000 images` : where;
    return { name: 'fashion-mnist', origin, train, test };
  }
  throw new UsageError(`unknown data spec "${spec}"; expected fashion-mnist or fashion-mnist:DIR`);
}
