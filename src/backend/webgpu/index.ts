// The WebGPU backend: every op of the Backend contract as WGSL compute shaders (wgsl/*.wgsl),
// recorded into one command encoder per submission (see context.ts). Semantics are the CPU
// backend's (src/backend/cpu/*.ts), op for op; test/webgpu_ops.test.ts holds them to it.
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
  SgdParams,
  Tensor,
} from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import { dropThreshold } from '../../rng/hash.js';
import { checkCrops, PARAMS_PER_CROP } from '../cpu/crops.js';
import { lrnScale } from '../cpu/lrn.js';
import { GpuContext, gpuTensor, GpuTensor, type ProfileEntry, type Recorded, type Use } from './context.js';
import { openDevice, type AdapterDescription, type DeviceOptions } from './device.js';
import { GpuError } from './errors.js';
import { grid1d, planGemm, tileConsts, type GemmProblem, type TileChoice } from './gemm.js';

export { GpuError } from './errors.js';
export type { ProfileEntry } from './context.js';
export { probeAdapter, type AdapterDescription, type DeviceOptions } from './device.js';

export interface WebGpuOptions extends DeviceOptions {
  /** GEMM tile shape; 'auto' picks by problem size and adapter. */
  tiles?: TileChoice;
  /** Most K slices for the weight-gradient GEMMs (1 turns split-K off); default 64. */
  maxSplits?: number;
  /** Workgroups a GEMM should offer before split-K is used; default by adapter. */
  targetWorkgroups?: number;
  /**
   * Keep the GEMM's tile loops rolled: pipelines compile several times faster on llvmpipe,
   * whose LLVM takes seconds over unrolled loops. Default: on software adapters only.
   */
  rolledLoops?: boolean;
  /** Split bindings as if the adapter allowed only this many bytes per binding (tests). */
  maxBindingBytes?: number;
}

export interface WebGpuStats {
  /** Live GPU buffers (tensors, uniforms, staging, scratch) and their bytes. */
  buffers: number;
  bytes: number;
  pipelines: number;
  submissions: number;
  dispatches: number;
}

/** A WebGPU backend on the best adapter, or null when there is no adapter (say so, then use the CPU). */
export async function createWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuBackend | null> {
  const opened = await openDevice(options);
  return opened ? new WebGpuBackend(new GpuContext(opened, options.maxBindingBytes), options) : null;
}

const WG = 256; // threads per workgroup of the element-wise kernels

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly device: string;
  readonly adapter: AdapterDescription;
  /** Bytes of tensors allocated (the Net's arena); stats() counts every GPU buffer. */
  allocatedBytes = 0;
  private readonly options: Required<Pick<WebGpuOptions, 'tiles' | 'maxSplits' | 'targetWorkgroups' | 'rolledLoops'>>;

  constructor(
    readonly ctx: GpuContext,
    options: WebGpuOptions = {},
  ) {
    const info = ctx.opened.info;
    this.adapter = info;
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    this.device = `${info.description || info.device || info.vendor || 'WebGPU adapter'} (WebGPU${nav?.gpu ? '' : ' via Dawn'})`;
    this.options = {
      tiles: options.tiles ?? 'auto',
      maxSplits: options.maxSplits ?? 64,
      targetWorkgroups: options.targetWorkgroups ?? (info.fallback ? 8 : 1024),
      rolledLoops: options.rolledLoops ?? info.fallback,
    };
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
    this.flat('fill', count, (o, n) => this.run('fill', ['fill'], { count: n, value }, { t: { t, offset: o, count: n, write: true } }, grid1d(n, WG, this.ctx.maxGroups)));
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
    const shape = { C: g.channels, H: g.height, W: g.width, crop: g.crop, views: g.views, scale: g.scale };
    this.byBatch('writeCrops', g.images, [g.views * cropSize, imageBytes / 4 + 1], (n0, b) => {
      const byte = n0 * imageBytes;
      const total = b * g.views * cropSize;
      this.run(`writeCrops ${out.label}`, ['crop_images'], { ...shape, total, byte0: byte % 4 }, {
        pixels: { t: inputs.pixels, offset: Math.floor(byte / 4), count: Math.ceil(((byte % 4) + b * imageBytes) / 4) },
        params: { t: inputs.params, offset: n0 * g.views * P, count: b * g.views * P },
        mean: { t: mean, count: imageBytes },
        out: { t: out, offset: n0 * g.views * cropSize, count: total, write: true },
      }, grid1d(total, WG, this.ctx.maxGroups));
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

  // ---- convolution ------------------------------------------------------------------------

  conv2dForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void {
    const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
    const records: Recorded[] = [];
    this.byBatch('conv2dForward', g.batch, [xs, ys], (n0, b) => {
      const K = cPerGroup * taps;
      const r = this.gemm(
        `conv2dForward ${y.label}`,
        'conv_forward',
        { M: oPerGroup, N: b * g.outHeight * g.outWidth, K, groups: g.groups },
        1,
        { ...common, has_bias: bias ? 1 : 0, relu: 0 },
        {
          x: { t: x, offset: n0 * xs, count: b * xs },
          w: { t: w, count: g.outChannels * K },
          b: bias ? { t: bias, count: g.outChannels } : { t: this.ctx.dummy(), count: 1 },
          y: { t: y, offset: n0 * ys, count: b * ys, write: true },
        },
      );
      if (r) records.push(r);
    });
    this.fusable = { t: gpuTensor(y), count: g.batch * ys, records };
  }

  conv2dBackwardData(g: ConvGeometry, dy: Tensor, w: Tensor, dx: Tensor): void {
    const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
    this.byBatch('conv2dBackwardData', g.batch, [xs, ys], (n0, b) => {
      this.gemm(
        `conv2dBackwardData ${dx.label}`,
        'conv_backward_data',
        { M: cPerGroup, N: b * g.inHeight * g.inWidth, K: oPerGroup * taps, groups: g.groups },
        1,
        common,
        {
          dy: { t: dy, offset: n0 * ys, count: b * ys },
          w: { t: w, count: g.outChannels * cPerGroup * taps },
          dx: { t: dx, offset: n0 * xs, count: b * xs, write: true },
        },
      );
    });
  }

  conv2dBackwardFilter(g: ConvGeometry, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
    const { cPerGroup, oPerGroup, taps, xs, ys, common } = convCommon(g);
    const patch = cPerGroup * taps;
    const wSize = g.outChannels * patch;
    const plane = g.outHeight * g.outWidth;
    // Partial sums of split-K must fit one binding too.
    const maxSplits = Math.max(1, Math.min(this.options.maxSplits, Math.floor((this.ctx.maxBinding - 256) / 4 / wSize)));
    this.byBatch('conv2dBackwardFilter', g.batch, [xs, ys], (n0, b) => {
      const op = `conv2dBackwardFilter ${dw.label}`;
      const problem = { M: oPerGroup, N: patch, K: b * plane, groups: g.groups };
      const splits = this.plan(problem, maxSplits).params.splits;
      const part = splits > 1 ? this.ctx.scratch(splits * wSize) : this.ctx.dummy();
      this.gemm(op, 'conv_backward_filter', problem, maxSplits, common, {
        x: { t: x, offset: n0 * xs, count: b * xs },
        dy: { t: dy, offset: n0 * ys, count: b * ys },
        dw: { t: dw, count: wSize, write: true },
        part: { t: part, count: splits > 1 ? splits * wSize : 1, write: true },
      });
      if (splits > 1) {
        this.run(op, ['sum_splits'], { size: wSize, splits }, {
          part: { t: part, count: splits * wSize },
          out: { t: dw, count: wSize, write: true },
        }, grid1d(wSize, WG, this.ctx.maxGroups));
      }
      if (db) this.biasGrad(`conv2dBackwardFilter ${db.label}`, g.outChannels, plane, b, dy, n0 * ys, db);
    });
  }

  private biasGrad(op: string, O: number, inner: number, batch: number, dy: Tensor, dyOffset: number, db: Tensor): void {
    this.run(op, ['bias_grad'], { O, inner, batch }, {
      dy: { t: dy, offset: dyOffset, count: batch * O * inner },
      db: { t: db, count: O, write: true },
    }, grid1d(O, 1, this.ctx.maxGroups));
  }

  // ---- linear -----------------------------------------------------------------------------

  linearForward(s: LinearShape, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void {
    const { batch: N, inFeatures: I, outFeatures: O } = s;
    const records: Recorded[] = [];
    this.byRows('linearForward', O, I, (o0, rows) => {
      const r = this.gemm(`linearForward ${y.label}`, 'linear_forward', { M: N, N: rows, K: I, groups: 1 }, 1, { out_features: O, o0, has_bias: bias ? 1 : 0, relu: 0 }, {
        x: { t: x, count: N * I },
        w: { t: w, offset: o0 * I, count: rows * I },
        b: bias ? { t: bias, count: O } : { t: this.ctx.dummy(), count: 1 },
        y: { t: y, count: N * O, write: true },
      });
      if (r) records.push(r);
    });
    this.fusable = { t: gpuTensor(y), count: N * O, records };
  }

  linearBackwardData(s: LinearShape, dy: Tensor, w: Tensor, dx: Tensor): void {
    const { batch: N, inFeatures: I, outFeatures: O } = s;
    this.byRows('linearBackwardData', O, I, (o0, rows) => {
      this.gemm(`linearBackwardData ${dx.label}`, 'linear_backward_data', { M: N, N: I, K: rows, groups: 1 }, 1, { out_features: O, o0, accumulate: o0 > 0 ? 1 : 0 }, {
        dy: { t: dy, count: N * O },
        w: { t: w, offset: o0 * I, count: rows * I },
        dx: { t: dx, count: N * I, write: true },
      });
    });
  }

  linearBackwardParams(s: LinearShape, x: Tensor, dy: Tensor, dw: Tensor, db: Tensor | null): void {
    const { batch: N, inFeatures: I, outFeatures: O } = s;
    this.byRows('linearBackwardParams', O, I, (o0, rows) => {
      this.gemm(`linearBackwardParams ${dw.label}`, 'linear_backward_params', { M: rows, N: I, K: N, groups: 1 }, 1, { out_features: O, o0 }, {
        x: { t: x, count: N * I },
        dy: { t: dy, count: N * O },
        dw: { t: dw, offset: o0 * I, count: rows * I, write: true },
      });
    });
    if (db) this.biasGrad(`linearBackwardParams ${db.label}`, O, 1, N, dy, 0, db);
  }

  // ---- pooling and normalisation ----------------------------------------------------------

  maxPoolForward(g: PoolGeometry, x: Tensor, y: Tensor): void {
    const xs = g.channels * g.inHeight * g.inWidth;
    const ys = g.channels * g.outHeight * g.outWidth;
    this.byBatch('maxPoolForward', g.batch, [xs, ys], (n0, b) => {
      this.run(`maxPoolForward ${y.label}`, ['maxpool_forward'], { total: b * ys, ...poolParams(g) }, {
        x: { t: x, offset: n0 * xs, count: b * xs },
        y: { t: y, offset: n0 * ys, count: b * ys, write: true },
      }, grid1d(b * ys, WG, this.ctx.maxGroups));
    });
  }

  maxPoolBackward(g: PoolGeometry, x: Tensor, dy: Tensor, dx: Tensor): void {
    const xs = g.channels * g.inHeight * g.inWidth;
    const ys = g.channels * g.outHeight * g.outWidth;
    this.byBatch('maxPoolBackward', g.batch, [xs, ys], (n0, b) => {
      this.run(`maxPoolBackward ${dx.label}`, ['maxpool_backward'], { total: b * xs, ...poolParams(g) }, {
        x: { t: x, offset: n0 * xs, count: b * xs },
        dy: { t: dy, offset: n0 * ys, count: b * ys },
        dx: { t: dx, offset: n0 * xs, count: b * xs, write: true },
      }, grid1d(b * xs, WG, this.ctx.maxGroups));
    });
  }

  adaptiveAvgPoolForward(g: AdaptivePoolGeometry, x: Tensor, y: Tensor): void {
    const xs = g.inHeight * g.inWidth;
    const ys = g.outHeight * g.outWidth;
    this.byBatch('adaptiveAvgPoolForward', g.planes, [xs, ys], (p0, planes) => {
      this.run(`adaptiveAvgPoolForward ${y.label}`, ['avgpool_forward'], { total: planes * ys, H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth }, {
        x: { t: x, offset: p0 * xs, count: planes * xs },
        y: { t: y, offset: p0 * ys, count: planes * ys, write: true },
      }, grid1d(planes * ys, WG, this.ctx.maxGroups));
    });
  }

  adaptiveAvgPoolBackward(g: AdaptivePoolGeometry, dy: Tensor, dx: Tensor): void {
    const xs = g.inHeight * g.inWidth;
    const ys = g.outHeight * g.outWidth;
    this.byBatch('adaptiveAvgPoolBackward', g.planes, [xs, ys], (p0, planes) => {
      this.run(`adaptiveAvgPoolBackward ${dx.label}`, ['avgpool_backward'], { total: planes * xs, H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth }, {
        dy: { t: dy, offset: p0 * ys, count: planes * ys },
        dx: { t: dx, offset: p0 * xs, count: planes * xs, write: true },
      }, grid1d(planes * xs, WG, this.ctx.maxGroups));
    });
  }

  lrnForward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor): void {
    const [N, C, H, W] = shape;
    const s = C * H * W;
    this.byBatch('lrnForward', N, [s], (n0, b) => {
      this.run(`lrnForward ${y.label}`, ['lrn_forward'], { total: b * s, ...lrnParams(p, C, H * W) }, {
        x: { t: x, offset: n0 * s, count: b * s },
        y: { t: y, offset: n0 * s, count: b * s, write: true },
      }, grid1d(b * s, WG, this.ctx.maxGroups));
    });
  }

  lrnBackward(p: LrnParams, shape: readonly number[], x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void {
    const [N, C, H, W] = shape;
    const s = C * H * W;
    this.byBatch('lrnBackward', N, [s], (n0, b) => {
      const range = { offset: n0 * s, count: b * s };
      this.run(`lrnBackward ${dx.label}`, ['lrn_backward'], { total: b * s, ...lrnParams(p, C, H * W) }, {
        x: { t: x, ...range },
        y: { t: y, ...range },
        dy: { t: dy, ...range },
        dx: { t: dx, ...range, write: true },
      }, grid1d(b * s, WG, this.ctx.maxGroups));
    });
  }

  // ---- element-wise -----------------------------------------------------------------------

  reluForward(count: number, x: Tensor, y: Tensor): void {
    if (this.tryFuseRelu(count, x, y)) return;
    const inPlace = sameRange(x, y);
    this.flat('reluForward', count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      if (inPlace) this.run(`reluForward ${y.label}`, ['relu_forward_inplace'], { count: n }, { x: { t: x, offset: o, count: n, write: true } }, grid);
      else this.run(`reluForward ${y.label}`, ['relu_forward'], { count: n }, { x: { t: x, offset: o, count: n }, y: { t: y, offset: o, count: n, write: true } }, grid);
    });
  }

  reluBackward(count: number, y: Tensor, dy: Tensor, dx: Tensor): void {
    const inPlace = sameRange(dy, dx);
    this.flat('reluBackward', count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      const yUse = { t: y, offset: o, count: n };
      if (inPlace) this.run(`reluBackward ${dx.label}`, ['relu_backward_inplace'], { count: n }, { y: yUse, d: { t: dx, offset: o, count: n, write: true } }, grid);
      else this.run(`reluBackward ${dx.label}`, ['relu_backward'], { count: n }, { y: yUse, dy: { t: dy, offset: o, count: n }, dx: { t: dx, offset: o, count: n, write: true } }, grid);
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
    this.flat(op, count, (o, n) => {
      const grid = grid1d(n, WG, this.ctx.maxGroups);
      const params = { ...common, count: n, index0: o };
      if (inPlace) this.run(op, ['hash', 'dropout_inplace'], params, { d: { t: dst, offset: o, count: n, write: true } }, grid);
      else this.run(op, ['hash', 'dropout'], params, { src: { t: src, offset: o, count: n }, dst: { t: dst, offset: o, count: n, write: true } }, grid);
    });
  }

  softmaxCrossEntropy(batch: number, classes: number, logits: Tensor, labels: Tensor, loss: Tensor, dlogits: Tensor | null): void {
    this.run('softmaxCrossEntropy', ['softmax_xent'], { batch, classes, has_dlogits: dlogits ? 1 : 0 }, {
      logits: { t: logits, count: batch * classes },
      labels: { t: labels, count: batch },
      loss: { t: loss, count: 1, write: true },
      dlogits: dlogits ? { t: dlogits, count: batch * classes, write: true } : { t: this.ctx.dummy(), count: 1, write: true },
    }, [1, 1, 1]);
  }

  sgdUpdate(count: number, h: SgdParams, w: Tensor, g: Tensor, v: Tensor): void {
    const common = { form: h.form === 'paper' ? 0 : 1, lr: h.lr, momentum: h.momentum, wd: h.weightDecay, wd_lr: h.weightDecay * h.lr };
    this.flat('sgdUpdate', count, (o, n) => {
      this.run('sgdUpdate', ['sgd'], { ...common, count: n }, {
        w: { t: w, offset: o, count: n, write: true },
        g: { t: g, offset: o, count: n },
        v: { t: v, offset: o, count: n, write: true },
      }, grid1d(n, WG, this.ctx.maxGroups));
    });
  }

  dispose(): void {
    this.ctx.dispose();
    this.allocatedBytes = 0;
  }

  // ---- launching --------------------------------------------------------------------------

  /** Binds `uses`, builds (or reuses) the kernel, and records one dispatch. */
  private run(op: string, files: readonly string[], params: Record<string, number>, uses: Record<string, Use>, grid: [number, number, number], consts?: Record<string, string>): Recorded | null {
    const { ranges, bases, readWrite } = this.ctx.bind(op, uses);
    const kernel = this.ctx.kernel(op, { files, consts, readWrite });
    return this.ctx.dispatch(op, kernel, { ...params, ...bases }, ranges, grid);
  }

  private plan(p: GemmProblem, maxSplits: number) {
    return planGemm(p, {
      choice: this.options.tiles,
      fallback: this.adapter.fallback,
      maxGroups: this.ctx.maxGroups,
      maxSplits,
      targetWorkgroups: this.options.targetWorkgroups,
      workgroupBytes: this.limits.maxComputeWorkgroupStorageSize ?? 16384,
    });
  }

  private gemm(op: string, part: string, p: GemmProblem, maxSplits: number, params: Record<string, number>, uses: Record<string, Use>): Recorded | null {
    if (p.M === 0 || p.N === 0) return null;
    const plan = this.plan(p, maxSplits);
    return this.run(op, [part, 'gemm'], { ...params, ...plan.params }, uses, plan.grid, tileConsts(plan.tiles, this.options.rolledLoops));
  }

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

  /** Calls fn over chunks of the batch small enough that per-sample tensors fit one binding. */
  private byBatch(op: string, batch: number, perSample: readonly number[], fn: (n0: number, count: number) => void): void {
    const maxFloats = Math.floor((this.ctx.maxBinding - this.ctx.offsetAlign) / 4);
    const chunk = Math.min(batch, ...perSample.map((s) => Math.floor(maxFloats / Math.max(s, 1))));
    if (chunk < 1) throw new GpuError(`${op}: one sample needs more than this adapter's ${this.ctx.maxBinding}-byte binding limit`);
    for (let n0 = 0; n0 < batch; n0 += chunk) fn(n0, Math.min(chunk, batch - n0));
  }

  /** Calls fn over blocks of rows of a [rows, cols] weight that fit one binding. */
  private byRows(op: string, rows: number, cols: number, fn: (r0: number, count: number) => void): void {
    this.byBatch(op, rows, [cols], fn);
  }

  /** Calls fn over chunks of `count` elements that fit one binding (multiples of 256 floats). */
  private flat(op: string, count: number, fn: (offset: number, n: number) => void): void {
    if (count <= 0) return;
    const chunk = Math.floor((this.ctx.maxBinding - this.ctx.offsetAlign) / 4 / 256) * 256;
    if (chunk < 1) throw new GpuError(`${op}: the binding limit is too small`);
    for (let o = 0; o < count; o += chunk) fn(o, Math.min(chunk, count - o));
  }
}

function sameRange(a: Tensor, b: Tensor): boolean {
  const ga = gpuTensor(a);
  const gb = gpuTensor(b);
  return ga.buffer === gb.buffer && ga.offset === gb.offset;
}

function convCommon(g: ConvGeometry) {
  const cPerGroup = g.inChannels / g.groups;
  const oPerGroup = g.outChannels / g.groups;
  const taps = g.kernelH * g.kernelW;
  return {
    cPerGroup,
    oPerGroup,
    taps,
    xs: g.inChannels * g.inHeight * g.inWidth,
    ys: g.outChannels * g.outHeight * g.outWidth,
    common: {
      C: g.inChannels,
      H: g.inHeight,
      W: g.inWidth,
      O: g.outChannels,
      KH: g.kernelH,
      KW: g.kernelW,
      stride: g.stride,
      pad: g.pad,
      OH: g.outHeight,
      OW: g.outWidth,
      c_per_group: cPerGroup,
      o_per_group: oPerGroup,
    },
  };
}

function poolParams(g: PoolGeometry) {
  return { H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth, size: g.size, stride: g.stride, pad: g.pad };
}

function lrnParams(p: LrnParams, C: number, HW: number) {
  return {
    C,
    HW,
    lo: Math.floor(p.size / 2),
    hi: Math.floor((p.size - 1) / 2),
    beta_is_3_4: p.beta === 0.75 ? 1 : 0,
    a: lrnScale(p),
    k: p.k,
    beta: p.beta,
  };
}
