// The WebGPU backend: every op of the Backend contract as WGSL compute shaders (wgsl/*.wgsl),
// recorded into one command encoder per submission (context.ts, launch.ts; conv and linear in
// gemm_ops.ts, pooling and LRN in pool_ops.ts). Semantics are the CPU backend's (src/backend/cpu/*.ts), op for op;
// test/webgpu_gemm_ops.test.ts and test/webgpu_ops.test.ts hold them to it.
//
// Limits met here rather than by callers:
// - a binding over maxStorageBufferBindingSize is split: linear layers run over blocks of output
//   rows (fc6's 151 MB weight on adapters with 128 MiB bindings), per-sample ops over chunks of
//   the batch, flat ops (ReLU, dropout, fill, SGD) over chunks of elements;
// - more than 65,535 workgroups in a dimension become a 2-D grid;
// - a buffer bound both read-only and writable in one dispatch is declared read_write, and
//   in-place ReLU and dropout (x and y the same range, as the Net runs them) use their own kernels.
import type {
  AdaptivePoolGeometry,
  Backend,
  ConvGeometry,
  CropGeometry,
  DropoutParams,
  LinearShape,
  LrnParams,
  PoolGeometry,
  Precision,
  SgdParams,
  Tensor,
} from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import { dropThreshold } from '../../rng/hash.js';
import { checkCrops, PARAMS_PER_CROP } from '../cpu/crops.js';
import { GpuContext, gpuTensor, GpuTensor, type ProfileEntry, type Recorded } from './context.js';
import { openDevice, platformGpu, type AdapterDescription, type DeviceOptions } from './device.js';
import { defaultTargetWorkgroups, grid1d, parseTileChoice, type TileChoice } from './gemm.js';
import * as gemmOps from './gemm_ops.js';
import * as poolOps from './pool_ops.js';
import { Launcher, sameRange, WG } from './launch.js';

export { GpuError } from './errors.js';
export type { ProfileEntry } from './context.js';
export { describeInfo, platformGpu, probeGpu, type AdapterDescription, type AdapterProbe, type DeviceOptions, type InfoFields } from './device.js';

export interface WebGpuOptions extends DeviceOptions {
  /** The GPU to open: navigator.gpu by default (a browser); Node passes Dawn's (dawn.ts). */
  gpu?: GPU | null;
  /** What the GEMMs compute in (see usePrecision); default fp32. */
  precision?: Precision;
  /** GEMM tile shape; 'auto' picks by problem size and adapter. Default: env ALEXNET_GEMM_TILES, else 'auto'. */
  tiles?: TileChoice;
  /**
   * Tune GEMM tiles on first use where a Node run asks (tile_cache.ts). Default: on hardware
   * adapters only; on a software one, timing every candidate takes minutes for shapes its rule
   * already picks.
   */
  autotune?: boolean;
  /** Most K slices for the weight-gradient GEMMs (1 turns split-K off); default 64. */
  maxSplits?: number;
  /** Workgroups a GEMM should offer before split-K is used; default by adapter. */
  targetWorkgroups?: number;
  /**
   * Keep the GEMM's tile loops rolled: pipelines compile several times faster on llvmpipe,
   * whose LLVM takes seconds over unrolled loops. Default: on software adapters only.
   */
  rolledLoops?: boolean;
}

export interface WebGpuStats {
  /** Live GPU buffers (tensors, uniforms, staging, scratch) and their bytes. */
  buffers: number;
  bytes: number;
  pipelines: number;
  submissions: number;
  dispatches: number;
}

/** The tile shape named by ALEXNET_GEMM_TILES (for tuning runs from the command line), else 'auto'. */
export function tilesFromEnv(): TileChoice {
  const name = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.ALEXNET_GEMM_TILES;
  return name ? parseTileChoice(name, 'ALEXNET_GEMM_TILES') : 'auto';
}

/** A WebGPU backend on the best adapter, or null when there is no adapter (say so, then use the CPU). */
export async function createWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuBackend | null> {
  const opened = await openDevice(options.gpu === undefined ? platformGpu() : options.gpu, options);
  return opened ? new WebGpuBackend(new GpuContext(opened), options) : null;
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly device: string;
  readonly adapter: AdapterDescription;
  /** Bytes of tensors allocated (the Net's arena); stats() counts every GPU buffer. */
  allocatedBytes = 0;
  /** Whether tile_cache.ts's tuneOnFirstUse tunes this device (WebGpuOptions.autotune). */
  readonly autotuneOnFirstUse: boolean;
  /** How ops are recorded; autotune.ts sets its tiles while it measures. */
  readonly launch: Launcher;

  constructor(
    readonly ctx: GpuContext,
    options: WebGpuOptions = {},
  ) {
    const info = ctx.opened.info;
    this.adapter = info;
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    this.device = `${info.description || info.device || info.vendor || 'WebGPU adapter'} (WebGPU${nav?.gpu ? '' : ' via Dawn'})`;
    this.launch = new Launcher(ctx, info, {
      precision: 'fp32',
      tiles: options.tiles ?? tilesFromEnv(),
      maxSplits: options.maxSplits ?? 64,
      targetWorkgroups: options.targetWorkgroups ?? defaultTargetWorkgroups(info.fallback),
      rolledLoops: options.rolledLoops ?? info.fallback,
    });
    if (options.precision) this.usePrecision(options.precision);
    this.autotuneOnFirstUse = options.autotune ?? !info.fallback;
  }

  get precision(): Precision {
    return this.launch.options.precision;
  }

  /**
   * mixed: the GEMMs stage float16 operands where the device has shader-f16 (else they stay
   * fp32, and the answer says so). Takes effect from the next op recorded.
   */
  usePrecision(p: Precision): Precision {
    this.launch.options.precision = p === 'mixed' && this.features.includes('shader-f16') ? 'mixed' : 'fp32';
    return this.launch.options.precision;
  }

  /** Features enabled on the device and every limit, for `alexnet info` and reports. */
  get features(): string[] {
    return this.ctx.opened.features;
  }
  get limits(): Record<string, number> {
    return this.ctx.opened.limits;
  }

  stats(): WebGpuStats {
    const c = this.ctx;
    return { buffers: c.liveBuffers, bytes: c.liveBytes, pipelines: c.pipelineCount, submissions: c.submissions, dispatches: c.dispatches };
  }

  /** Submits recorded work and waits until the GPU has finished it (for timing). */
  async synchronize(): Promise<void> {
    this.ctx.check();
    this.ctx.flush();
    await this.ctx.device.queue.onSubmittedWorkDone();
    await this.ctx.settle();
  }

  /** Per-op GPU timing with timestamp queries; false when the adapter lacks them. */
  startProfile(): boolean {
    return this.ctx.startProfile();
  }
  profile(reset = true): Promise<ProfileEntry[]> {
    return this.ctx.profile(reset);
  }
  stopProfile(): void {
    this.ctx.stopProfile();
  }

  // ---- memory -----------------------------------------------------------------------------

  allocate(label: string, size: number): Tensor {
    const t = this.ctx.allocate(label, size);
    this.allocatedBytes += t.buffer.bytes;
    return t;
  }

  view(t: Tensor, offset: number, size: number, label: string): Tensor {
    const g = gpuTensor(t);
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || offset + size > g.size) {
      throw new ShapeError(`view ${label}: [${offset}, ${offset + size}) is outside ${g.label} (${g.size} floats)`);
    }
    return new GpuTensor(label, size, g.buffer, g.offset + offset * 4);
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    this.ctx.write(t, data, offset);
  }

  read(t: Tensor, count = t.size): Promise<Float32Array> {
    return this.ctx.read(t, count);
  }

  fill(t: Tensor, value: number, count = t.size): void {
    this.launch.flat('fill', count, (o, n) => this.launch.run('fill', ['fill'], { count: n, value }, { t: { t, offset: o, count: n, write: true } }, grid1d(n, WG, this.ctx.maxGroups)));
  }

  /** Where writeCrops uploads images and crop params (grown when a batch needs more, never shrunk). */
  private cropInputs: { pixels: GpuTensor; params: GpuTensor } | null = null;

  writeCrops(g: CropGeometry, pixels: Uint8Array, params: Float32Array, mean: Tensor, out: Tensor): void {
    const fault = checkCrops(g, pixels.length, params, mean.size, out.size);
    if (fault) throw new ShapeError(`writeCrops to ${out.label}: ${fault}`);
    const imageBytes = g.channels * g.height * g.width;
    const cropSize = g.channels * g.crop * g.crop;
    const P = PARAMS_PER_CROP;
    const inputs = this.cropInputsFor(Math.ceil((g.images * imageBytes) / 4), g.images * g.views * P);
    this.ctx.writeBytes(inputs.pixels, pixels.subarray(0, g.images * imageBytes));
    this.ctx.write(inputs.params, params.subarray(0, g.images * g.views * P));
    const shape = { C: g.channels, H: g.height, W: g.width, crop: g.crop, views: g.views, scale0: g.scale[0], scale1: g.scale[1] ?? 0, scale2: g.scale[2] ?? 0 };
    this.launch.byBatch('writeCrops', g.images, [g.views * cropSize, imageBytes / 4 + 1], (n0, b) => {
      const byte = n0 * imageBytes;
      const total = b * g.views * cropSize;
      this.launch.run(`writeCrops ${out.label}`, ['crop_images'], { ...shape, rows: b * g.views * g.channels * g.crop, byte0: byte % 4 }, {
        pixels: { t: inputs.pixels, offset: Math.floor(byte / 4), count: Math.ceil(((byte % 4) + b * imageBytes) / 4) },
        params: { t: inputs.params, offset: n0 * g.views * P, count: b * g.views * P },
        mean: { t: mean, count: imageBytes },
        out: { t: out, offset: n0 * g.views * cropSize, count: total, write: true },
      }, grid1d(b * g.views * g.channels * g.crop, 64, this.ctx.maxGroups));
    });
  }

  private cropInputsFor(pixelWords: number, paramFloats: number): { pixels: GpuTensor; params: GpuTensor } {
    const c = this.cropInputs;
    if (c && c.pixels.size >= pixelWords && c.params.size >= paramFloats) return c;
    if (c) {
      this.ctx.flush(); // recorded work may still read the old buffers
      for (const t of [c.pixels, c.params]) this.ctx.destroyBuffer(t.buffer);
    }
    this.cropInputs = {
      pixels: this.ctx.allocate('uint8 images', Math.max(pixelWords, c?.pixels.size ?? 0)),
      params: this.ctx.allocate('crop params', Math.max(paramFloats, c?.params.size ?? 0)),
    };
    return this.cropInputs;
  }

  // ---- convolution and linear layers (gemm_ops.ts) ------------------------------------------

  conv2dForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void {
    const records = gemmOps.conv2dForward(this.launch, g, x, w, bias, y);
    this.fusable = { t: gpuTensor(y), count: g.batch * g.outChannels * g.outHeight * g.outWidth, records };
  }

  conv2dBackwardData(g: ConvGeometry, dy: Tensor, w: Tensor, dx: Tensor): void {
    gemmOps.conv2dBackwardData(this.launch, g, dy, w, dx);
  }

  conv2dBackwardFilter(g: ConvGeometry, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
    gemmOps.conv2dBackwardFilter(this.launch, g, x, dy, dw, db);
  }

  linearForward(s: LinearShape, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void {
    const records = gemmOps.linearForward(this.launch, s, x, w, bias, y);
    this.fusable = { t: gpuTensor(y), count: s.batch * s.outFeatures, records };
  }

  linearBackwardData(s: LinearShape, dy: Tensor, w: Tensor, dx: Tensor): void {
    gemmOps.linearBackwardData(this.launch, s, dy, w, dx);
  }

  linearBackwardParams(s: LinearShape, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
    gemmOps.linearBackwardParams(this.launch, s, x, dy, dw, db);
  }

  // ---- pooling and normalisation (pool_ops.ts) ---------------------------------------------

  maxPoolForward(g: PoolGeometry, x: Tensor, y: Tensor, indices: Tensor): void {
    poolOps.maxPoolForward(this.launch, g, x, y, indices);
  }

  maxPoolBackward(g: PoolGeometry, _x: Tensor, indices: Tensor, dy: Tensor, dx: Tensor): void {
    poolOps.maxPoolBackward(this.launch, g, indices, dy, dx);
  }

  adaptiveAvgPoolForward(g: AdaptivePoolGeometry, x: Tensor, y: Tensor): void {
    poolOps.adaptiveAvgPoolForward(this.launch, g, x, y);
  }

  adaptiveAvgPoolBackward(g: AdaptivePoolGeometry, dy: Tensor, dx: Tensor): void {
    poolOps.adaptiveAvgPoolBackward(this.launch, g, dy, dx);
  }

  lrnForward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor): void {
    poolOps.lrnForward(this.launch, p, shape, x, y);
  }

  lrnBackward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void {
    poolOps.lrnBackward(this.launch, p, shape, x, y, dy, dx);
  }

  // ---- element-wise -----------------------------------------------------------------------

  reluForward(count: number, x: Tensor, y: Tensor): void {
    if (this.tryFuseRelu(count, x, y)) return;
    const inPlace = sameRange(x, y);
    this.launch.flat('reluForward', count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      if (inPlace) this.launch.run(`reluForward ${y.label}`, ['nan', 'relu_forward_inplace'], { count: n }, { x: { t: x, offset: o, count: n, write: true } }, grid);
      else this.launch.run(`reluForward ${y.label}`, ['nan', 'relu_forward'], { count: n }, { x: { t: x, offset: o, count: n }, y: { t: y, offset: o, count: n, write: true } }, grid);
    });
  }

  reluBackward(count: number, y: Tensor, dy: Tensor, dx: Tensor): void {
    const inPlace = sameRange(dy, dx);
    this.launch.flat('reluBackward', count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      const yUse = { t: y, offset: o, count: n };
      if (inPlace) this.launch.run(`reluBackward ${dx.label}`, ['nan', 'relu_backward_inplace'], { count: n }, { y: yUse, d: { t: dx, offset: o, count: n, write: true } }, grid);
      else this.launch.run(`reluBackward ${dx.label}`, ['nan', 'relu_backward'], { count: n }, { y: yUse, dy: { t: dy, offset: o, count: n }, dx: { t: dx, offset: o, count: n, write: true } }, grid);
    });
  }

  dropoutForward(count: number, d: DropoutParams, x: Tensor, y: Tensor): void {
    this.dropout(`dropoutForward ${y.label}`, count, d, x, y);
  }

  dropoutBackward(count: number, d: DropoutParams, dy: Tensor, dx: Tensor): void {
    this.dropout(`dropoutBackward ${dx.label}`, count, d, dy, dx);
  }

  private dropout(op: string, count: number, d: DropoutParams, src: Tensor, dst: Tensor): void {
    const scale = 1 / (1 - d.p);
    const common = { seed: d.seed >>> 0, stream: d.stream >>> 0, threshold: dropThreshold(d.p), scale: Number.isFinite(scale) ? scale : 0 };
    const inPlace = sameRange(src, dst);
    this.launch.flat(op, count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      const params = { ...common, count: n, index0: ((d.offset ?? 0) + o) >>> 0 };
      if (inPlace) this.launch.run(op, ['hash', 'dropout_inplace'], params, { d: { t: dst, offset: o, count: n, write: true } }, grid);
      else this.launch.run(op, ['hash', 'dropout'], params, { src: { t: src, offset: o, count: n }, dst: { t: dst, offset: o, count: n, write: true } }, grid);
    });
  }

  softmaxCrossEntropy(batch: number, classes: number, logits: Tensor, labels: Tensor, loss: Tensor, dlogits: Tensor | null, gradScale = 1): void {
    this.launch.run('softmaxCrossEntropy', ['softmax_xent'], { batch, classes, has_dlogits: dlogits ? 1 : 0, grad_scale: gradScale }, {
      logits: { t: logits, count: batch * classes },
      labels: { t: labels, count: batch },
      loss: { t: loss, count: 1, write: true },
      dlogits: dlogits ? { t: dlogits, count: batch * classes, write: true } : { t: this.ctx.dummy(), count: 1, write: true },
    }, [1, 1, 1]);
  }

  sgdUpdate(count: number, h: SgdParams, w: Tensor, g: Tensor, v: Tensor): void {
    const common = { form: h.form === 'paper' ? 0 : 1, lr: h.lr, momentum: h.momentum, wd: h.weightDecay, wd_lr: h.weightDecay * h.lr, grad_scale: h.gradScale ?? 1 };
    this.launch.flat('sgdUpdate', count, (o, n) => {
      this.launch.run('sgdUpdate', ['sgd'], { ...common, count: n }, {
        w: { t: w, offset: o, count: n, write: true },
        g: { t: g, offset: o, count: n },
        v: { t: v, offset: o, count: n, write: true },
      }, grid1d(n, WG, this.ctx.maxGroups));
    });
  }

  flagNonFinite(count: number, x: Tensor, flag: Tensor): void {
    this.launch.flat('flagNonFinite', count, (o, n) => {
      this.launch.run('flagNonFinite', ['flag_nonfinite'], { count: n }, {
        x: { t: x, offset: o, count: n },
        flag: { t: flag, count: 1, write: true },
      }, grid1d(n, WG, this.ctx.maxGroups));
    });
  }

  dispose(): void {
    this.ctx.dispose();
    this.allocatedBytes = 0;
  }

  // ---- ReLU fusion ---------------------------------------------------------------------

  /**
   * A conv or linear forward just recorded, whose epilogue can take the ReLU that the Net runs
   * next, in place on the same output (the contract has no fused op, so the fusion is found
   * here: the dispatches' uniforms are still in the host mirror until submit).
   */
  private fusable: { t: GpuTensor; count: number; records: Recorded[] } | null = null;

  private tryFuseRelu(count: number, x: Tensor, y: Tensor): boolean {
    const f = this.fusable;
    this.fusable = null;
    if (!f || !sameRange(x, y) || !sameRange(f.t, y) || f.count !== count || f.records.length === 0) return false;
    if (!this.ctx.isLast(f.records[f.records.length - 1])) return false;
    if (f.records.some((r) => r.submission !== f.records[0].submission)) return false;
    for (const r of f.records) this.ctx.patchParam(r, 'relu', 1);
    this.fusedRelus++;
    return true;
  }

  /** ReLUs folded into the preceding conv or linear forward so far. */
  fusedRelus = 0;
}
