// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 28x28 greyscale images of clothing in
// ten balanced classes, a drop-in replacement for MNIST that small AlexNet variants do not
// solve trivially. Debian's dataset-fashion-mnist package installs the gzipped IDX files.
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, FormatError } from '../core/errors.js';
import { shapeString } from '../core/geometry.js';
import { readIdx } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Images are count x channels x height x width bytes, row-major; labels index `classes`. */
export interface ImageSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  classes: string[];
}

const SIDE = 28;

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
  const imagesFile = await findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = await findFile(dir, `${prefix}-labels-idx1-ubyte`);
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);

  const [count, height, width] = images.dims;
  if (images.dims.length !== 3 || height !== SIDE || width !== SIDE) {
    throw new FormatError(imagesFile, `expected images of shape [n, 28, 28], found ${shapeString(images.dims)}`);
  }
  if (labels.dims.length !== 1) {
    throw new FormatError(labelsFile, `expected labels of shape [n], found ${shapeString(labels.dims)}`);
  }
  if (labels.dims[0] !== count) {
    throw new FormatError(labelsFile, `${labels.dims[0]} labels, but ${imagesFile} has ${count} images`);
  }
  const bad = labels.data.findIndex((label) => label >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) {
    throw new FormatError(
      labelsFile,
      `label ${labels.data[bad]} at index ${bad} is out of range 0..${FASHION_MNIST_CLASSES.length - 1}`,
    );
  }
  return {
    images: images.data,
    labels: labels.data,
    count,
    channels: 1,
    height,
    width,
    classes: [...FASHION_MNIST_CLASSES],
  };
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
