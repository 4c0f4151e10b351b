// The Backend contract: every op AlexNet needs, forward and backward, on opaque tensors.
// - Tensors are views into memory a backend allocated once (the Net's arena); ops take explicit
//   sizes, so a tensor planned for the largest batch serves smaller ones too.
// - Activation gradients are overwritten; parameter gradients are accumulated.
// - Ops enqueue work; only reading data back is asynchronous.
// - Labels travel as floats holding class indices (exact below 2^24).
import type { ConvGeometry, PoolGeometry } from '../core/geometry.js';
import type { DropoutParams } from './cpu/activation.js';
import type { CropGeometry } from './cpu/crops.js';
import type { LrnParams } from './cpu/lrn.js';
import type { LinearShape } from './cpu/linear.js';
import type { AdaptivePoolGeometry } from './cpu/pool.js';
import type { SgdParams } from './cpu/sgd.js';

export type { ConvGeometry, CropGeometry, PoolGeometry, DropoutParams, LrnParams, LinearShape, AdaptivePoolGeometry, SgdParams };

/**
 * What the GEMMs (conv and linear layers) compute in. fp32: float32 throughout. mixed: their
 * operands rounded to float16, products and sums in float32; weights, activations, gradients
 * and the SGD update stay float32 (docs/precision.md).
 */
export type Precision = 'fp32' | 'mixed';

export interface Tensor {
  readonly label: string;
  /** Number of 32-bit floats. */
  readonly size: number;
}

export interface Backend {
  readonly name: 'cpu' | 'webgpu';
  /** A human-readable description of the device. */
  readonly device: string;
  /** Bytes allocated so far. */
  readonly allocatedBytes: number;

  /** The precision its GEMMs compute in (fp32 until usePrecision says otherwise). */
  readonly precision: Precision;
  /**
   * Asks for `p`; returns the precision this device then computes in: mixed needs WebGPU with
   * shader-f16, anything else stays fp32.
   */
  usePrecision(p: Precision): Precision;

  /** Zero-filled memory for `size` floats. */
  allocate(label: string, size: number): Tensor;
  /** A window of `size` floats starting `offset` floats into `t` (offset a multiple of 64). */
  view(t: Tensor, offset: number, size: number, label: string): Tensor;
  write(t: Tensor, data: Float32Array, offset?: number): void;
  read(t: Tensor, count?: number): Promise<Float32Array>;
  fill(t: Tensor, value: number, count?: number): void;
  /**
   * Network input from stored uint8 images (cpu/crops.ts is the spec): uploads `pixels`
   * [images, C, H, W] and `params` [crops, 6], then writes each crop, mirrored, mean-subtracted,
   * lit and scaled, into `out` [crops, C, crop, crop]. The data loader's 'uint8' batches.
   */
  writeCrops(g: CropGeometry, pixels: Uint8Array, params: Float32Array, mean: Tensor, out: Tensor): void;

  conv2dForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void;
  conv2dBackwardData(g: ConvGeometry, dy: Tensor, w: Tensor, dx: Tensor): void;
  conv2dBackwardFilter(g: ConvGeometry, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void;
  /**
   * `indices` [N, C, OH, OW] is the pass's reserve: the forward pass may record each window's
   * argmax there for the backward pass of the same x (WebGPU does: one read per window instead
   * of a window's worth), which gets it back with x; the CPU recomputes from x.
   */
  maxPoolForward(g: PoolGeometry, x: Tensor, y: Tensor, indices: Tensor): void;
  maxPoolBackward(g: PoolGeometry, x: Tensor, indices: Tensor, dy: Tensor, dx: Tensor): void;
  adaptiveAvgPoolForward(g: AdaptivePoolGeometry, x: Tensor, y: Tensor): void;
  adaptiveAvgPoolBackward(g: AdaptivePoolGeometry, dy: Tensor, dx: Tensor): void;
  lrnForward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor): void;
  lrnBackward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void;
  linearForward(s: LinearShape, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void;
  linearBackwardData(s: LinearShape, dy: Tensor, w: Tensor, dx: Tensor): void;
  linearBackwardParams(s: LinearShape, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void;
  reluForward(count: number, x: Tensor, y: Tensor): void;
  reluBackward(count: number, y: Tensor, dy: Tensor, dx: Tensor): void;
  dropoutForward(count: number, d: DropoutParams, x: Tensor, y: Tensor): void;
  dropoutBackward(count: number, d: DropoutParams, dy: Tensor, dx: Tensor): void;
  /**
   * Writes the batch-mean loss into loss[0] and, unless null, its gradient into dlogits, times
   * `gradScale` (a power of two, 1 by default: loss scaling, so that small gradients survive
   * float16 operands).
   */
  softmaxCrossEntropy(batch: number, classes: number, logits: Tensor, labels: Tensor, loss: Tensor, dlogits: Tensor | null, gradScale?: number): void;
  /** Sets flag[0] to 1 when any of the first `count` values of x is NaN or infinite; leaves it otherwise. */
  flagNonFinite(count: number, x: Tensor, flag: Tensor): void;
  sgdUpdate(count: number, h: SgdParams, w: Tensor, g: Tensor, v: Tensor): void;

  /** Releases everything this backend allocated. */
  dispose(): void;
}

/** Asks `backend` for `wanted`; says so on `notice` where the device cannot, and returns what it runs. */
export function applyPrecision(backend: Backend, wanted: Precision, notice: (line: string) => void): Precision {
  const got = backend.usePrecision(wanted);
  if (got !== wanted) notice(`--precision ${wanted}: ${backend.device} has no float16 arithmetic for it (WebGPU's shader-f16); its GEMMs run in fp32`);
  return got;
}
