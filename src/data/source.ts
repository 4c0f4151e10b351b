// Data specs on the command line: `fashion-mnist` (Debian's files, or the bundled subset when
// they are absent) and `fashion-mnist:DIR`. More sources (cifar10:, folder:, imagenet:) come
// with the data pipeline.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { FASHION_MNIST_DIR, loadFashionMnist, type ImageSet } from './fashion_mnist.js';

/** The 4,000 + 1,000 image subset shipped in the package (scripts/make_fashion_subset.py). */
export const BUNDLED_FASHION_MNIST = fileURLToPath(new URL('../../../data/fashion-mnist-subset', import.meta.url));

export interface LoadedData {
  name: string;
  /** Where it came from, said once to the user. */
  origin: string;
  train: ImageSet;
  test: ImageSet;
}

export async function loadData(spec: string): Promise<LoadedData> {
  const [kind, ...rest] = spec.split(':');
  const dir = rest.join(':');
  if (kind === 'fashion-mnist') {
    const where = dir || (existsSync(FASHION_MNIST_DIR) ? FASHION_MNIST_DIR : BUNDLED_FASHION_MNIST);
    const { train, test } = await loadFashionMnist(where);
    const origin = where === BUNDLED_FASHION_MNIST ? `bundled subset (${where}); install dataset-fashion-mnist for all 70,000 images` : where;
    return { name: 'fashion-mnist', origin, train, test };
  }
  throw new UsageError(`unknown data spec "${spec}"; expected fashion-mnist or fashion-mnist:DIR`);
}
