// Layer specifications: what an architecture is made of. A spec is plain data; the Net turns
// a list of specs into planned memory and op calls.
import type { Rounding } from '../core/geometry.js';
import type { LrnParams } from '../backend/cpu/lrn.js';

export interface ConvSpec {
  kind: 'conv';
  name: string; // parameter prefix in our weight files: conv1 ... conv5
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  groups: number;
  biasInit: number; // the paper sets 1 in conv2, conv4, conv5; 0 elsewhere
}

export interface LinearSpec {
  kind: 'linear';
  name: string; // fc6 ... fc8
  outFeatures: number;
  biasInit: number;
}

export interface ReluSpec {
  kind: 'relu';
}

export interface LrnSpec {
  kind: 'lrn';
  params: LrnParams;
}

export interface MaxPoolSpec {
  kind: 'maxpool';
  size: number;
  stride: number;
  rounding: Rounding;
}

/** Average-pools any H x W to a fixed size (torchvision's AdaptiveAvgPool2d). */
export interface AdaptiveAvgPoolSpec {
  kind: 'adaptiveavgpool';
  outSize: number;
}

export interface FlattenSpec {
  kind: 'flatten';
}

export interface DropoutSpec {
  kind: 'dropout';
  p: number;
}

export type LayerSpec =
  | ConvSpec
  | LinearSpec
  | ReluSpec
  | LrnSpec
  | MaxPoolSpec
  | AdaptiveAvgPoolSpec
  | FlattenSpec
  | DropoutSpec;

export type InitScheme = 'paper' | 'he';

export interface Architecture {
  name: string;
  /** [channels, height, width] of one input image. */
  input: [number, number, number];
  classes: number;
  layers: LayerSpec[];
  /** Initialisation used unless the caller picks another. */
  defaultInit: InitScheme;
  /**
   * Factor on mean-subtracted pixels (0..255 units) when training from images: 1 is the
   * paper's raw range, matched to its N(0, 0.01^2) init; "he"-initialised nets take 1/255.
   */
  inputScale: number;
  /**
   * Training settings used unless the user picks others (the paper: batch 128, lr 0.01, divided
   * by 10 when the validation error stops improving).
   */
  defaults: { batch: number; lr: number; schedule: string };
  /**
   * Names of the parameter tensors in weight files, for each parameterised layer by its spec
   * name; absent means `${name}.weight` / `${name}.bias`.
   */
  fileNames?: Record<string, { weight: string; bias: string }>;
}
