// The architectures of SPEC.md section 2: the paper's net, Caffe's and torchvision's ports,
// Dive into Deep Learning's, and "mini", a small AlexNet-shaped net that trains on a CPU.
import { UsageError } from '../core/errors.js';
import type { LrnParams } from '../backend/cpu/lrn.js';
import type { Rounding } from '../core/geometry.js';
import type { Architecture, LayerSpec } from './layers.js';

/** The paper's LRN: k=2, n=5, alpha=1e-4 (not divided by n), beta=0.75. */
export const PAPER_LRN: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 2, alphaDividedBySize: false };
/** Caffe's bvlc_alexnet LRN: alpha/n with alpha=1e-4, k=1. */
export const CAFFE_LRN: LrnParams = { size: 5, alpha: 1e-4, beta: 0.75, k: 1, alphaDividedBySize: true };

/** Widths and options of the paper's topology, so that reduced copies share its code. */
export interface PaperFamilyOptions {
  name: string;
  input: [number, number, number];
  classes: number;
  conv: [number, number, number, number, number]; // output channels of conv1 ... conv5
  conv1Kernel: number;
  conv1Stride: number;
  conv1Pad: number;
  conv2Kernel: number;
  hidden: number; // width of fc6 and fc7
  lrn: LrnParams | null;
  groups: number; // the two-tower split in conv2, conv4, conv5
  rounding: Rounding;
  dropout: number;
  convBiasInit: number; // the paper's 1 for conv2, conv4, conv5
  fcBiasInit: number; // the paper's 1 for fc6, fc7
}

/**
 * conv1 ReLU LRN pool, conv2 ReLU LRN pool, conv3 ReLU, conv4 ReLU, conv5 ReLU pool,
 * fc6 ReLU dropout, fc7 ReLU dropout, fc8: the paper's section 3.5.
 */
export function paperFamily(o: PaperFamilyOptions): Architecture {
  const conv = (i: number, kernel: number, stride: number, pad: number, groups: number, biasInit: number): LayerSpec => ({
    kind: 'conv',
    name: `conv${i + 1}`,
    outChannels: o.conv[i],
    kernel,
    stride,
    pad,
    groups,
    biasInit,
  });
  const relu: LayerSpec = { kind: 'relu' };
  const pool: LayerSpec = { kind: 'maxpool', size: 3, stride: 2, rounding: o.rounding };
  const lrn: LayerSpec[] = o.lrn ? [{ kind: 'lrn', params: o.lrn }] : [];
  const dropout: LayerSpec = { kind: 'dropout', p: o.dropout };
  return {
    name: o.name,
    input: o.input,
    classes: o.classes,
    defaultInit: 'paper',
    inputScale: 1,
    defaults: { batch: 128, lr: 0.01, schedule: 'plateau' },
    layers: [
      conv(0, o.conv1Kernel, o.conv1Stride, o.conv1Pad, 1, 0), relu, ...lrn, pool,
      conv(1, o.conv2Kernel, 1, Math.floor(o.conv2Kernel / 2), o.groups, o.convBiasInit), relu, ...lrn, pool,
      conv(2, 3, 1, 1, 1, 0), relu,
      conv(3, 3, 1, 1, o.groups, o.convBiasInit), relu,
      conv(4, 3, 1, 1, o.groups, o.convBiasInit), relu, pool,
      { kind: 'flatten' },
      { kind: 'linear', name: 'fc6', outFeatures: o.hidden, biasInit: o.fcBiasInit }, relu, dropout,
      { kind: 'linear', name: 'fc7', outFeatures: o.hidden, biasInit: o.fcBiasInit }, relu, dropout,
      { kind: 'linear', name: 'fc8', outFeatures: o.classes, biasInit: 0 },
    ],
  };
}

const PAPER: PaperFamilyOptions = {
  name: 'paper',
  input: [3, 227, 227],
  classes: 1000,
  conv: [96, 256, 384, 384, 256],
  conv1Kernel: 11,
  conv1Stride: 4,
  conv1Pad: 0,
  conv2Kernel: 5,
  hidden: 4096,
  lrn: PAPER_LRN,
  groups: 2,
  rounding: 'floor',
  dropout: 0.5,
  convBiasInit: 1,
  fcBiasInit: 1,
};

function torchvision(): Architecture {
  const conv = (i: number, outChannels: number, kernel: number, stride: number, pad: number): LayerSpec => ({
    kind: 'conv', name: `conv${i}`, outChannels, kernel, stride, pad, groups: 1, biasInit: 0,
  });
  const relu: LayerSpec = { kind: 'relu' };
  const pool: LayerSpec = { kind: 'maxpool', size: 3, stride: 2, rounding: 'floor' };
  const dropout: LayerSpec = { kind: 'dropout', p: 0.5 };
  const names = (key: string) => ({ weight: `${key}.weight`, bias: `${key}.bias` });
  return {
    name: 'torchvision',
    input: [3, 224, 224],
    classes: 1000,
    defaultInit: 'he',
    inputScale: 1 / 255,
    defaults: { batch: 128, lr: 0.01, schedule: 'plateau' },
    layers: [
      conv(1, 64, 11, 4, 2), relu, pool,
      conv(2, 192, 5, 1, 2), relu, pool,
      conv(3, 384, 3, 1, 1), relu,
      conv(4, 256, 3, 1, 1), relu,
      conv(5, 256, 3, 1, 1), relu, pool,
      { kind: 'adaptiveavgpool', outSize: 6 },
      { kind: 'flatten' },
      dropout, { kind: 'linear', name: 'fc6', outFeatures: 4096, biasInit: 0 }, relu,
      dropout, { kind: 'linear', name: 'fc7', outFeatures: 4096, biasInit: 0 }, relu,
      { kind: 'linear', name: 'fc8', outFeatures: 1000, biasInit: 0 },
    ],
    // torchvision's state_dict keys, so its pretrained file loads as is.
    fileNames: {
      conv1: names('features.0'),
      conv2: names('features.3'),
      conv3: names('features.6'),
      conv4: names('features.8'),
      conv5: names('features.10'),
      fc6: names('classifier.1'),
      fc7: names('classifier.4'),
      fc8: names('classifier.6'),
    },
  };
}

const BUILDERS: Record<string, () => Architecture> = {
  paper: () => paperFamily(PAPER),
  caffe: () => paperFamily({ ...PAPER, name: 'caffe', lrn: CAFFE_LRN, rounding: 'ceil' }),
  torchvision,
  // d2l.ai's AlexNet for 1x224x224 Fashion-MNIST: conv1 pad 1, no LRN, no groups, 10 classes.
  d2l: () => ({
    ...paperFamily({ ...PAPER, name: 'd2l', input: [1, 224, 224], classes: 10, conv1Pad: 1, lrn: null, groups: 1, convBiasInit: 0, fcBiasInit: 0 }),
    defaultInit: 'he',
    inputScale: 1 / 255,
  }),
  mini: () => miniArchitecture(),
};

export const ARCHITECTURE_NAMES = Object.keys(BUILDERS);

/**
 * Every component of the paper's net (ReLU, LRN, overlapping pools, groups, dropout) at a width
 * that trains on a 2-core CPU in minutes (two epochs of Fashion-MNIST: about 35): 28x28 -> 13 -> 6 -> 2
 * spatially. `changes` replace
 * its options and training defaults (experiments: bench/mini_sweep.ts).
 */
export function miniArchitecture(changes: Partial<PaperFamilyOptions> = {}, defaults: Partial<Architecture['defaults']> = {}): Architecture {
  return {
    ...paperFamily({
      ...PAPER,
      name: 'mini',
      input: [1, 28, 28],
      classes: 10,
      // Twice the widths first tried (24-48-64-64-48): on an H200, two epochs of Fashion-MNIST
      // reached 88.2% test top-1 against 86.8% (bench/mini_sweep.js, BENCHMARKS.md), at 2.2x
      // the CPU time.
      conv: [48, 96, 128, 128, 96],
      conv1Kernel: 5,
      conv1Stride: 1,
      conv1Pad: 2,
      hidden: 512,
      // Dropout 0.25 rather than the paper's 0.5: two epochs are too few for half the units of
      // 512-wide layers to be dropped (measured on 15,000 images x 2 epochs: 82.2% test top-1
      // against 80.4% at 0.5).
      dropout: 0.25,
      convBiasInit: 0.1,
      fcBiasInit: 0.1,
      ...changes,
    }),
    defaultInit: 'he',
    // Mean-subtracted pixels / 64 have a standard deviation near 1.4, which offsets the two
    // LRNs' fixed k^-beta = 0.59 shrinkage for a He-initialised net.
    inputScale: 1 / 64,
    // Short runs on a CPU: small batches give more updates, and the rate decays to zero along a
    // cosine over the run, step by step. Measured on an H200 (bench/mini_sweep.js, BENCHMARKS.md):
    // two epochs, seeds 1-3, reached 88.31-89.03% test top-1 with cosine against 88.16-88.41% with
    // /10 after the first epoch; eight cosine epochs reached 91.26% and 91.58%. Batch 64 at lr 0.02
    // and lr 0.005 did no better; on 3,000 images at batch 32, lr 0.02 diverged early (29%).
    defaults: { batch: 32, lr: 0.01, schedule: 'cosine', ...defaults },
  };
}

/** Makes `build` trainable by `name` (train, eval and the rest look architectures up by name). */
export function registerArchitecture(name: string, build: () => Architecture): void {
  if (BUILDERS[name]) throw new UsageError(`architecture "${name}" exists already`);
  BUILDERS[name] = build;
}

/** The file names of the weight and bias of `arch`'s layer `layer` (conv1 ... fc8). */
export function parameterNames(arch: Architecture, layer: string): { weight: string; bias: string } {
  return arch.fileNames?.[layer] ?? { weight: `${layer}.weight`, bias: `${layer}.bias` };
}

/** The named architecture; `input` overrides the image shape (e.g. 3x32x32 for mini on CIFAR-10). */
export function architecture(name: string, input?: [number, number, number], classes?: number): Architecture {
  const build = BUILDERS[name];
  if (!build) throw new UsageError(`unknown architecture "${name}"; expected one of ${ARCHITECTURE_NAMES.join(', ')}`);
  const arch = build();
  if (input) arch.input = input;
  if (classes !== undefined) {
    arch.classes = classes;
    const last = arch.layers[arch.layers.length - 1];
    if (last.kind === 'linear') last.outFeatures = classes;
  }
  return arch;
}
