// The CPU backend: tensors are typed-array views. By default Float32 with the fast paths
// (im2col + WebAssembly SIMD GEMM for conv and linear); `reference: true` runs the plain loops of
// conv.ts and linear.ts instead, and `float64: true` keeps everything in Float64 for
// gradient checks of whole nets.
import type { Backend, Tensor } from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import { dropoutBackward, dropoutForward, reluBackward, reluForward } from './activation.js';
import { checkCrops, cropImages, type CropGeometry } from './crops.js';
import { conv2dBackwardData, conv2dBackwardFilter, conv2dForward } from './conv.js';
import { conv2dBackwardDataGemm, conv2dBackwardFilterGemm, conv2dForwardGemm } from './conv_gemm.js';
import {
  linearBackwardData,
  linearBackwardDataGemm,
  linearBackwardParams,
  linearBackwardParamsGemm,
  linearForward,
  linearForwardGemm,
} from './linear.js';
import { softmaxCrossEntropy } from './loss.js';
import { lrnBackward, lrnForward } from './lrn.js';
import { adaptiveAvgPoolBackward, adaptiveAvgPoolForward, maxPoolBackward, maxPoolForward } from './pool.js';
import { sgdUpdate } from './sgd.js';
import type { Arr } from './types.js';

export class CpuTensor implements Tensor {
  constructor(
    readonly label: string,
    readonly data: Arr,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

/** The typed array behind a tensor made by the CPU backend. */
export function cpuData(t: Tensor): Arr {
  if (!(t instanceof CpuTensor)) throw new TypeError(`tensor ${t.label} was not made by the CPU backend`);
  return t.data;
}

const d = cpuData;
const maybe = (t: Tensor | null) => (t ? d(t) : null);

export interface CpuOptions {
  /** Use the plain reference loops for conv and linear (slow; the spec). */
  reference?: boolean;
  /** Keep tensors in Float64 (implies reference: the GEMM path is Float32). */
  float64?: boolean;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly device: string;
  allocatedBytes = 0;
  private readonly float64: boolean;
  private readonly conv;
  private readonly linear;

  constructor(options: CpuOptions = {}) {
    this.float64 = options.float64 ?? false;
    const reference = options.reference || this.float64;
    this.device = reference ? 'CPU (reference loops)' : 'CPU (im2col + WebAssembly SIMD GEMM)';
    this.conv = reference
      ? { forward: conv2dForward, data: conv2dBackwardData, filter: conv2dBackwardFilter }
      : { forward: conv2dForwardGemm, data: conv2dBackwardDataGemm, filter: conv2dBackwardFilterGemm };
    this.linear = reference
      ? { forward: linearForward, data: linearBackwardData, params: linearBackwardParams }
      : { forward: linearForwardGemm, data: linearBackwardDataGemm, params: linearBackwardParamsGemm };
  }

  allocate(label: string, size: number): Tensor {
    this.allocatedBytes += size * (this.float64 ? 8 : 4);
    return new CpuTensor(label, this.float64 ? new Float64Array(size) : new Float32Array(size));
  }
  view(t: Tensor, offset: number, size: number, label: string): Tensor {
    return new CpuTensor(label, d(t).subarray(offset, offset + size));
  }
  write(t: Tensor, data: Float32Array, offset = 0): void {
    d(t).set(data, offset);
  }
  writeCrops(g: CropGeometry, pixels: Uint8Array, params: Float32Array, mean: Tensor, out: Tensor): void {
    const fault = checkCrops(g, pixels.length, params, mean.size, out.size);
    if (fault) throw new ShapeError(`writeCrops to ${out.label}: ${fault}`);
    cropImages(g, pixels, params, d(mean), d(out));
  }
  async read(t: Tensor, count = t.size): Promise<Float32Array> {
    return Float32Array.from(d(t).subarray(0, count));
  }
  fill(t: Tensor, value: number, count = t.size): void {
    d(t).fill(value, 0, count);
  }

  conv2dForward: Backend['conv2dForward'] = (g, x, w, b, y) => this.conv.forward(g, d(x), d(w), maybe(b), d(y));
  conv2dBackwardData: Backend['conv2dBackwardData'] = (g, dy, w, dx) => this.conv.data(g, d(dy), d(w), d(dx));
  conv2dBackwardFilter: Backend['conv2dBackwardFilter'] = (g, x, dy, dw, db) =>
    this.conv.filter(g, d(x), d(dy), d(dw), maybe(db));
  maxPoolForward: Backend['maxPoolForward'] = (g, x, y) => maxPoolForward(g, d(x), d(y));
  maxPoolBackward: Backend['maxPoolBackward'] = (g, x, dy, dx) => maxPoolBackward(g, d(x), d(dy), d(dx));
  adaptiveAvgPoolForward: Backend['adaptiveAvgPoolForward'] = (g, x, y) => adaptiveAvgPoolForward(g, d(x), d(y));
  adaptiveAvgPoolBackward: Backend['adaptiveAvgPoolBackward'] = (g, dy, dx) => adaptiveAvgPoolBackward(g, d(dy), d(dx));
  lrnForward: Backend['lrnForward'] = (p, shape, x, y) => lrnForward(p, shape, d(x), d(y));
  lrnBackward: Backend['lrnBackward'] = (p, shape, x, y, dy, dx) => lrnBackward(p, shape, d(x), d(y), d(dy), d(dx));
  linearForward: Backend['linearForward'] = (s, x, w, b, y) => this.linear.forward(s, d(x), d(w), maybe(b), d(y));
  linearBackwardData: Backend['linearBackwardData'] = (s, dy, w, dx) => this.linear.data(s, d(dy), d(w), d(dx));
  linearBackwardParams: Backend['linearBackwardParams'] = (s, x, dy, dw, db) =>
    this.linear.params(s, d(x), d(dy), d(dw), maybe(db));
  reluForward: Backend['reluForward'] = (n, x, y) => reluForward(n, d(x), d(y));
  reluBackward: Backend['reluBackward'] = (n, y, dy, dx) => reluBackward(n, d(y), d(dy), d(dx));
  dropoutForward: Backend['dropoutForward'] = (n, p, x, y) => dropoutForward(n, p, d(x), d(y));
  dropoutBackward: Backend['dropoutBackward'] = (n, p, dy, dx) => dropoutBackward(n, p, d(dy), d(dx));
  softmaxCrossEntropy: Backend['softmaxCrossEntropy'] = (batch, classes, logits, labels, loss, dlogits) => {
    d(loss)[0] = softmaxCrossEntropy(batch, classes, d(logits), d(labels), maybe(dlogits));
  };
  sgdUpdate: Backend['sgdUpdate'] = (n, h, w, g, v) => sgdUpdate(n, h, d(w), d(g), d(v));

  dispose(): void {
    this.allocatedBytes = 0;
  }
}
