// The CPU backend. Two modes:
// - fast (the default): every tensor lives in one WebAssembly memory (heap.ts); conv and linear
//   run as im2col + a SIMD GEMM, LRN, max-pool, ReLU, dropout and SGD as WebAssembly SIMD kernels,
//   the rest as the loops below; every op is split over a pool of threads sharing that memory
//   (threads.ts; docs/cpu.md), with results bit-identical for any thread count. A ReLU that
//   follows a conv or linear layer in place is folded into that layer's epilogue.
// - reference (`reference: true`, or `float64: true` for gradient checks of whole nets, or a
//   runtime without WebAssembly SIMD): the plain loops of the op files, the readable
//   specification the fast mode is tested against, on typed arrays, on the calling thread.
import type { Backend, Precision, Tensor } from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import { dropoutBackward, dropoutForward, reluBackward, reluForward } from './activation.js';
import { checkCrops, cropImages, type CropGeometry } from './crops.js';
import { conv2dBackwardData, conv2dBackwardFilter, conv2dForward } from './conv.js';
import * as conv from './conv_fast.js';
import * as eltwise from './eltwise_fast.js';
import { canShareMemory, Heap } from './heap.js';
import { TASK_TABLE } from './jobs.js';
import { compileKernels, instantiateKernels, relaxedSimdSupported, simdSupported } from './kernels.js';
import { linearBackwardData, linearBackwardParams, linearForward } from './linear.js';
import * as linear from './linear_fast.js';
import { softmaxCrossEntropy } from './loss.js';
import { softmaxLoss } from './loss_fast.js';
import { lrnBackward, lrnForward } from './lrn.js';
import * as lrn from './lrn_fast.js';
import { adaptiveAvgPoolBackward, adaptiveAvgPoolForward, maxPoolBackward, maxPoolForward } from './pool.js';
import * as pooling from './pool_fast.js';
import { flagNonFinite, sgdUpdate } from './sgd.js';
import { Pool, type PoolHost } from './threads.js';
import type { Arr } from './types.js';

export class CpuTensor implements Tensor {
  constructor(
    readonly label: string,
    readonly size: number,
    /** Reference mode: the typed array itself. */
    private readonly array: Arr | null,
    /** Fast mode: the backend's memory, the tensor's first float in it, and a call that runs what the backend holds back. */
    private readonly heap: Heap | null,
    readonly at: number,
    private readonly settle: () => void = () => {},
  ) {}
  /** The tensor's floats (in fast mode a fresh view of the memory, valid until it grows). */
  get data(): Arr {
    if (!this.heap) return this.array!;
    this.settle();
    return this.heap.f32.subarray(this.at, this.at + this.size);
  }
}

/** The typed array behind a tensor made by the CPU backend. */
export function cpuData(t: Tensor): Arr {
  return cpuTensor(t).data;
}

function cpuTensor(t: Tensor): CpuTensor {
  if (!(t instanceof CpuTensor)) throw new TypeError(`tensor ${t.label} was not made by the CPU backend`);
  return t;
}

const d = cpuData;
const maybe = (t: Tensor | null) => (t ? d(t) : null);
/** A tensor's float index in the fast mode's memory; 0 for none. */
const at = (t: Tensor | null) => (t ? cpuTensor(t).at : 0);

export interface CpuOptions {
  /** Use the plain reference loops for every op (slow; the spec). */
  reference?: boolean;
  /** Keep tensors in Float64 (implies reference). */
  float64?: boolean;
  /**
   * Starts the fast mode's worker threads: host_node.ts's nodePoolHost in Node. Without one,
   * everything runs on the calling thread.
   */
  host?: PoolHost;
  /** Threads, the calling one included (default: the host's cores, or 1 without a host). */
  threads?: number;
  /** Use relaxed SIMD (fused multiply-add) where the runtime validates it (default true). */
  relaxedSimd?: boolean;
  /**
   * Share the memory between threads where the runtime allows it (default true). false: an
   * unshared memory and one thread, as in a browser page without cross-origin isolation.
   */
  sharedMemory?: boolean;
  /** Where the backend says things once (e.g. that it cannot share memory). Default: console.warn. */
  notice?: (line: string) => void;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly device: string;
  /** Threads the fast mode's ops are split over (1 in reference mode). */
  readonly threads: number;
  private readonly float64: boolean;
  private readonly heap: Heap | null = null;
  /** The fast mode's thread pool (null in reference mode): its ops, and bench/gemm.ts, run on it. */
  readonly pool: Pool | null = null;
  private referenceBytes = 0;
  /** A conv or linear forward not run yet: it takes the ReLU if the next op is that ReLU. */
  private pendingForward: { y: CpuTensor; count: number; run: (relu: boolean) => void } | null = null;

  constructor(options: CpuOptions = {}) {
    this.float64 = options.float64 ?? false;
    let threads = options.threads ?? options.host?.cores ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`CPU backend: threads must be a positive integer, found ${threads}`);
    if (threads > 1 && !options.host) throw new RangeError('CPU backend: more than one thread needs a host to start them (host_node.ts)');
    if (options.reference || this.float64 || !simdSupported()) {
      this.threads = 1;
      this.device = options.reference || this.float64 ? 'CPU (reference loops)' : 'CPU (reference loops: this runtime has no WebAssembly SIMD)';
      return;
    }
    const shared = (options.sharedMemory ?? true) && canShareMemory();
    if (threads > 1 && !shared) {
      (options.notice ?? console.warn)(
        'CPU backend: memory cannot be shared between threads here (a page needs cross-origin isolation: COOP same-origin and COEP require-corp), so it runs on one thread',
      );
      threads = 1;
    }
    const relaxed = (options.relaxedSimd ?? true) && relaxedSimdSupported();
    this.heap = new Heap(shared);
    const modules = compileKernels(shared, relaxed);
    this.pool = new Pool(this.heap, options.host ?? null, threads, modules, instantiateKernels(modules, this.heap.memory), TASK_TABLE);
    this.threads = threads;
    this.device = `CPU (WebAssembly SIMD${relaxed ? ' with relaxed FMA' : ''}, ${threads} thread${threads > 1 ? 's' : ''})`;
  }

  /** Always fp32: the CPU has no float16 arithmetic worth having (WebAssembly has none). */
  readonly precision = 'fp32';
  usePrecision(_p: Precision): Precision {
    return 'fp32';
  }

  get allocatedBytes(): number {
    return this.heap ? this.heap.allocatedBytes : this.referenceBytes;
  }

  /** Starts timing the kernel jobs (fast mode only: returns false in reference mode). */
  startProfile(): boolean {
    this.pool?.startProfile();
    return this.pool !== null;
  }

  /** Wall time per kernel job since startProfile(), largest first (conv and linear forwards include their fused ReLU). */
  async profile(): Promise<{ op: string; calls: number; ms: number }[]> {
    this.flush();
    return this.pool?.profile() ?? [];
  }

  stopProfile(): void {
    this.pool?.stopProfile();
  }

  /** Starts the worker threads now, without blocking (for a thread that may not block). */
  async start(): Promise<void> {
    await this.pool?.start();
  }

  allocate(label: string, size: number): Tensor {
    if (this.heap) return new CpuTensor(label, size, null, this.heap, this.heap.allocate(size * 4, label) / 4, this.settle);
    this.referenceBytes += size * (this.float64 ? 8 : 4);
    return new CpuTensor(label, size, this.float64 ? new Float64Array(size) : new Float32Array(size), null, 0);
  }
  view(t: Tensor, offset: number, size: number, label: string): Tensor {
    const c = cpuTensor(t);
    if (this.heap) return new CpuTensor(label, size, null, this.heap, c.at + offset, this.settle);
    return new CpuTensor(label, size, c.data.subarray(offset, offset + size), null, 0);
  }
  write(t: Tensor, data: Float32Array, offset = 0): void {
    this.flush();
    d(t).set(data, offset);
  }
  writeCrops(g: CropGeometry, pixels: Uint8Array, params: Float32Array, mean: Tensor, out: Tensor): void {
    this.flush();
    const fault = checkCrops(g, pixels.length, params, mean.size, out.size);
    if (fault) throw new ShapeError(`writeCrops to ${out.label}: ${fault}`);
    cropImages(g, pixels, params, d(mean), d(out));
  }
  async read(t: Tensor, count = t.size): Promise<Float32Array> {
    this.flush();
    return Float32Array.from(d(t).subarray(0, count));
  }
  fill(t: Tensor, value: number, count = t.size): void {
    this.flush();
    d(t).fill(value, 0, count);
  }

  /** Runs a conv or linear forward held back for a ReLU that did not come. */
  private flush(): void {
    const p = this.pendingForward;
    this.pendingForward = null;
    p?.run(false);
  }
  private readonly settle = () => this.flush();

  /** Holds a forward back (fast mode) until the next op says whether it takes a ReLU. */
  private forward(y: Tensor, count: number, run: (relu: boolean) => void): void {
    this.flush();
    this.pendingForward = { y: cpuTensor(y), count, run };
  }

  conv2dForward: Backend['conv2dForward'] = (g, x, w, b, y) => {
    if (!this.pool) return conv2dForward(g, d(x), d(w), maybe(b), d(y));
    const pool = this.pool;
    this.forward(y, g.batch * g.outChannels * g.outHeight * g.outWidth, (relu) => conv.convForward(pool, g, at(x), at(w), at(b), at(y), relu));
  };
  conv2dBackwardData: Backend['conv2dBackwardData'] = (g, dy, w, dx) => {
    this.flush();
    if (this.pool) conv.convBackwardData(this.pool, g, at(dy), at(w), at(dx));
    else conv2dBackwardData(g, d(dy), d(w), d(dx));
  };
  conv2dBackwardFilter: Backend['conv2dBackwardFilter'] = (g, x, dy, dw, db) => {
    this.flush();
    if (this.pool) conv.convBackwardFilter(this.pool, g, at(x), at(dy), at(dw), at(db));
    else conv2dBackwardFilter(g, d(x), d(dy), d(dw), maybe(db));
  };
  linearForward: Backend['linearForward'] = (s, x, w, b, y) => {
    if (!this.pool) return linearForward(s, d(x), d(w), maybe(b), d(y));
    const pool = this.pool;
    this.forward(y, s.batch * s.outFeatures, (relu) => linear.linearForward(pool, s, at(x), at(w), at(b), at(y), relu));
  };
  linearBackwardData: Backend['linearBackwardData'] = (s, dy, w, dx) => {
    this.flush();
    if (this.pool) linear.linearBackwardData(this.pool, s, at(dy), at(w), at(dx));
    else linearBackwardData(s, d(dy), d(w), d(dx));
  };
  linearBackwardParams: Backend['linearBackwardParams'] = (s, x, dy, dw, db) => {
    this.flush();
    if (this.pool) linear.linearBackwardParams(this.pool, s, at(x), at(dy), at(dw), at(db));
    else linearBackwardParams(s, d(x), d(dy), d(dw), maybe(db));
  };
  // The CPU recomputes each window's argmax from x in the backward pass (as cheap as reading a
  // stored one from memory here): `indices` stays untouched.
  maxPoolForward: Backend['maxPoolForward'] = (g, x, y) => {
    this.flush();
    if (this.pool) pooling.maxPoolForward(this.pool, g, at(x), at(y));
    else maxPoolForward(g, d(x), d(y));
  };
  maxPoolBackward: Backend['maxPoolBackward'] = (g, x, _indices, dy, dx) => {
    this.flush();
    if (this.pool) pooling.maxPoolBackward(this.pool, g, at(x), at(dy), at(dx));
    else maxPoolBackward(g, d(x), d(dy), d(dx));
  };
  adaptiveAvgPoolForward: Backend['adaptiveAvgPoolForward'] = (g, x, y) => {
    this.flush();
    if (this.pool) pooling.adaptiveAvgPoolForward(this.pool, g, at(x), at(y));
    else adaptiveAvgPoolForward(g, d(x), d(y));
  };
  adaptiveAvgPoolBackward: Backend['adaptiveAvgPoolBackward'] = (g, dy, dx) => {
    this.flush();
    if (this.pool) pooling.adaptiveAvgPoolBackward(this.pool, g, at(dy), at(dx));
    else adaptiveAvgPoolBackward(g, d(dy), d(dx));
  };
  lrnForward: Backend['lrnForward'] = (p, shape, x, y) => {
    this.flush();
    if (this.pool) lrn.lrnForward(this.pool, p, shape, at(x), at(y));
    else lrnForward(p, shape, d(x), d(y));
  };
  lrnBackward: Backend['lrnBackward'] = (p, shape, x, y, dy, dx) => {
    this.flush();
    if (this.pool) lrn.lrnBackward(this.pool, p, shape, at(x), at(y), at(dy), at(dx));
    else lrnBackward(p, shape, d(x), d(y), d(dy), d(dx));
  };
  reluForward: Backend['reluForward'] = (n, x, y) => {
    const p = this.pendingForward;
    if (p && at(x) === p.y.at && at(y) === p.y.at && n === p.count) {
      this.pendingForward = null;
      return p.run(true);
    }
    this.flush();
    if (this.pool) eltwise.relu(this.pool, n, at(x), at(y));
    else reluForward(n, d(x), d(y));
  };
  reluBackward: Backend['reluBackward'] = (n, y, dy, dx) => {
    this.flush();
    if (this.pool) eltwise.reluBackward(this.pool, n, at(y), at(dy), at(dx));
    else reluBackward(n, d(y), d(dy), d(dx));
  };
  dropoutForward: Backend['dropoutForward'] = (n, p, x, y) => {
    this.flush();
    if (this.pool) eltwise.dropout(this.pool, n, p, at(x), at(y));
    else dropoutForward(n, p, d(x), d(y));
  };
  dropoutBackward: Backend['dropoutBackward'] = (n, p, dy, dx) => {
    this.flush();
    if (this.pool) eltwise.dropout(this.pool, n, p, at(dy), at(dx));
    else dropoutBackward(n, p, d(dy), d(dx));
  };
  softmaxCrossEntropy: Backend['softmaxCrossEntropy'] = (batch, classes, logits, labels, loss, dlogits, gradScale = 1) => {
    this.flush();
    d(loss)[0] = this.pool
      ? softmaxLoss(this.pool, batch, classes, at(logits), at(labels), at(dlogits), gradScale)
      : softmaxCrossEntropy(batch, classes, d(logits), d(labels), maybe(dlogits), gradScale);
  };
  flagNonFinite: Backend['flagNonFinite'] = (n, x, flag) => {
    this.flush();
    flagNonFinite(n, d(x), d(flag));
  };
  sgdUpdate: Backend['sgdUpdate'] = (n, h, w, g, v) => {
    this.flush();
    if (this.pool) eltwise.sgd(this.pool, n, h, at(w), at(g), at(v));
    else sgdUpdate(n, h, d(w), d(g), d(v));
  };

  /** Stops the worker threads; the backend's memory is released with the backend. */
  dispose(): void {
    this.flush();
    this.pool?.stop();
    this.referenceBytes = 0;
  }
}
