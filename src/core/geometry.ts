// Convolution and pooling geometry: the one place where padding, stride and output-size
// rounding are decided. cuda-convnet and Caffe round pooled sizes up (ceil), PyTorch down
// (floor); with 227x227 inputs AlexNet's sizes are exact either way.
import { ShapeError } from './errors.js';

export type Rounding = 'floor' | 'ceil';

/** Output length of a sliding window over `inSize` (padding on both sides). */
export function windowOutputSize(
  inSize: number,
  kernel: number,
  stride: number,
  pad: number,
  rounding: Rounding = 'floor',
): number {
  const span = inSize + 2 * pad - kernel;
  if (span < 0) {
    throw new ShapeError(`window ${kernel} with padding ${pad} does not fit input of size ${inSize}`);
  }
  let out = (rounding === 'ceil' ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // As in PyTorch: with ceil rounding the last window must start inside the input (or its
  // left padding), never wholly in the right padding.
  if (rounding === 'ceil' && (out - 1) * stride >= inSize + pad) out -= 1;
  return out;
}

/** Geometry of a 2-D convolution over NCHW input with OIHW weights (I = C / groups). */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  pad: number;
  groups: number;
  outHeight: number;
  outWidth: number;
}

export function convGeometry(
  batch: number,
  inChannels: number,
  inHeight: number,
  inWidth: number,
  outChannels: number,
  kernel: number,
  stride: number,
  pad: number,
  groups: number,
  name = 'conv',
): ConvGeometry {
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new ShapeError(
      `${name}: groups=${groups} must divide in channels (${inChannels}) and out channels (${outChannels})`,
    );
  }
  if (stride < 1) throw new ShapeError(`${name}: stride must be >= 1, found ${stride}`);
  return {
    batch,
    inChannels,
    inHeight,
    inWidth,
    outChannels,
    kernelH: kernel,
    kernelW: kernel,
    stride,
    pad,
    groups,
    outHeight: windowOutputSize(inHeight, kernel, stride, pad),
    outWidth: windowOutputSize(inWidth, kernel, stride, pad),
  };
}

/** Geometry of a max-pool over NCHW input. Windows that overhang the edge are clipped. */
export interface PoolGeometry {
  batch: number;
  channels: number;
  inHeight: number;
  inWidth: number;
  size: number;
  stride: number;
  pad: number;
  outHeight: number;
  outWidth: number;
}

export function poolGeometry(
  batch: number,
  channels: number,
  inHeight: number,
  inWidth: number,
  size: number,
  stride: number,
  pad = 0,
  rounding: Rounding = 'floor',
): PoolGeometry {
  return {
    batch,
    channels,
    inHeight,
    inWidth,
    size,
    stride,
    pad,
    outHeight: windowOutputSize(inHeight, size, stride, pad, rounding),
    outWidth: windowOutputSize(inWidth, size, stride, pad, rounding),
  };
}

/** Input rows [start, end) pooled into output row `i` of an adaptive average pool. */
export function adaptiveWindow(i: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws a ShapeError unless `found` equals `expected`. */
export function expectShape(what: string, found: readonly number[], expected: readonly number[]): void {
  if (found.length !== expected.length || found.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${what}: expected shape ${shapeString(expected)}, found ${shapeString(found)}`);
  }
}
