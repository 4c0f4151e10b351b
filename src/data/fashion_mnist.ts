// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 28x28 greyscale images of clothing in
// ten balanced classes, a drop-in replacement for MNIST that small AlexNet variants do not
// solve trivially. Debian's dataset-fashion-mnist package installs the gzipped IDX files
// (data/source.ts reads them from disk; the page from what the user picks).
import { FormatError } from '../core/errors.js';
import { shapeString } from '../core/geometry.js';
import type { IdxArray } from './idx.js';

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

/** The file names of a split: `train-images-idx3-ubyte` and so on, each optionally `.gz`. */
export function fashionMnistFiles(prefix: 'train' | 't10k'): { images: string; labels: string } {
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

/** One split from its images and labels IDX arrays, checked against each other. */
export function fashionMnistSplit(images: IdxArray, labels: IdxArray, imagesFile: string, labelsFile: string): ImageSet {
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
