// How the WebGPU backend's ops record work: one dispatch of a composed kernel with its
// bindings and uniforms, GEMMs with a tile plan, and the loops that split an op where a
// binding would exceed the adapter's limit. Plus the uniform parameters of convolutions.
import type { ConvGeometry, Precision, Tensor } from '../backend.js';
import { gpuTensor, type GpuContext, type Recorded, type Use } from './context.js';
import type { AdapterDescription } from './device.js';
import { GpuError } from './errors.js';
import { planGemm, tileConsts, type GemmProblem, type TileChoice, type TileConfig } from './gemm.js';

/** Threads per workgroup of the element-wise kernels. */
export const WG = 256;

export interface LaunchOptions {
  /** What the GEMMs stage their operands as (mixed: float16; see operand_f16.wgsl). */
  precision: Precision;
  tiles: TileChoice;
  maxSplits: number;
  targetWorkgroups: number;
  rolledLoops: boolean;
}

export class Launcher {
  /** Tiles autotune chose, by gemmKey; used where `options.tiles` is auto. */
  readonly tuned = new Map<string, TileConfig>();
  /** While autotune runs: the GEMM problems (gemmKey) each op label dispatched. */
  seen: Map<string, Set<string>> | null = null;

  constructor(
    readonly ctx: GpuContext,
    private readonly adapter: AdapterDescription,
    /** precision changes with WebGpuBackend.usePrecision, tiles while autotune runs. */
    readonly options: LaunchOptions,
  ) {}

  /** Binds `uses`, builds (or reuses) the kernel, and records one dispatch. */
  run(op: string, files: readonly string[], params: Record<string, number>, uses: Record<string, Use>, grid: [number, number, number], consts?: Record<string, string>): Recorded | null {
    const { ranges, bases, readWrite } = this.ctx.bind(op, uses);
    const kernel = this.ctx.kernel(op, { files, consts, readWrite });
    return this.ctx.dispatch(op, kernel, { ...params, ...bases }, ranges, grid);
  }

  /** One tiled GEMM (`part` supplies the operands; see gemm.wgsl); null when it is empty. */
  gemm(op: string, part: string, p: GemmProblem, maxSplits: number, params: Record<string, number>, uses: Record<string, Use>): Recorded | null {
    if (p.M === 0 || p.N === 0) return null;
    if (this.seen) {
      const keys = this.seen.get(op) ?? new Set<string>();
      this.seen.set(op, keys.add(this.gemmKey(part, p)));
    }
    const plan = this.plan(part, p, maxSplits);
    const operands = this.options.precision === 'mixed' ? 'operand_f16' : 'operand_f32';
    return this.run(op, [operands, 'nan', part, 'gemm'], { ...params, ...plan.params }, uses, plan.grid, tileConsts(plan.tiles, this.options.rolledLoops));
  }

  /** A GEMM problem's name in `tuned` and in the tile cache (tile_cache.ts). */
  gemmKey(part: string, p: GemmProblem): string {
    return `${part} ${this.options.precision} ${p.M}x${p.N}x${p.K}x${p.groups}`;
  }

  plan(part: string, p: GemmProblem, maxSplits: number) {
    const choice = this.options.tiles;
    return planGemm(p, {
      choice: choice === 'auto' ? (this.tuned.get(this.gemmKey(part, p)) ?? 'auto') : choice,
      fallback: this.adapter.fallback,
      maxGroups: this.ctx.maxGroups,
      maxSplits,
      targetWorkgroups: this.options.targetWorkgroups,
      workgroupBytes: this.ctx.opened.limits.maxComputeWorkgroupStorageSize ?? 16384,
    });
  }

  /** Calls fn over chunks of the batch small enough that per-sample tensors fit one binding. */
  byBatch(op: string, batch: number, perSample: readonly number[], fn: (n0: number, count: number) => void): void {
    const maxFloats = Math.floor((this.ctx.maxBinding - this.ctx.offsetAlign) / 4);
    const chunk = Math.min(batch, ...perSample.map((s) => Math.floor(maxFloats / Math.max(s, 1))));
    if (chunk < 1) throw new GpuError(`${op}: one sample needs more than this adapter's ${this.ctx.maxBinding}-byte binding limit`);
    for (let n0 = 0; n0 < batch; n0 += chunk) fn(n0, Math.min(chunk, batch - n0));
  }

  /** Calls fn over blocks of rows of a [rows, cols] weight that fit one binding. */
  byRows(op: string, rows: number, cols: number, fn: (r0: number, count: number) => void): void {
    this.byBatch(op, rows, [cols], fn);
  }

  /** Calls fn over chunks of `count` elements that fit one binding (multiples of 256 floats). */
  flat(op: string, count: number, fn: (offset: number, n: number) => void): void {
    if (count <= 0) return;
    const chunk = Math.floor((this.ctx.maxBinding - this.ctx.offsetAlign) / 4 / 256) * 256;
    if (chunk < 1) throw new GpuError(`${op}: the binding limit is too small`);
    for (let o = 0; o < count; o += chunk) fn(o, Math.min(chunk, count - o));
  }
}

/** Whether two tensors start at the same place (in-place ops take their own kernels). */
export function sameRange(a: Tensor, b: Tensor): boolean {
  const ga = gpuTensor(a);
  const gb = gpuTensor(b);
  return ga.buffer === gb.buffer && ga.offset === gb.offset;
}

/** Sizes and the uniforms every convolution kernel takes. */
export function convCommon(g: ConvGeometry) {
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
