// What the WebGPU recorder hands around: tracked buffers, tensors as buffer ranges, compiled
// kernels, recorded dispatches; and bindRanges, which turns an op's tensors into aligned
// binding ranges and refuses the aliasing WebGPU forbids.
import type { Tensor } from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import { GpuError } from './errors.js';
import type { ComposedShader } from './shaders.js';

export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
export const MAP_MODE_READ = 1;

export interface TrackedBuffer {
  readonly id: number;
  readonly gpu: GPUBuffer;
  readonly bytes: number;
  readonly label: string;
  destroyed: boolean;
}

export class GpuTensor implements Tensor {
  constructor(
    readonly label: string,
    readonly size: number,
    readonly buffer: TrackedBuffer,
    /** Bytes from the start of the buffer. */
    readonly offset: number,
  ) {}
}

/** A tensor made by the WebGPU backend, or a clear error. */
export function gpuTensor(t: Tensor): GpuTensor {
  if (!(t instanceof GpuTensor)) throw new TypeError(`tensor ${t.label} was not made by the WebGPU backend`);
  return t;
}

/** A range of a tensor to bind: `count` floats from `offset` floats into it. */
export interface Use {
  t: Tensor;
  offset?: number;
  count: number;
  write?: boolean;
}

export interface BoundRange {
  buffer: TrackedBuffer;
  offset: number;
  size: number;
  write: boolean;
}

export interface Kernel {
  name: string;
  shader: ComposedShader;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutKey: string;
}

/** A dispatch recorded by dispatch(): its uniform slot, in the submission it belongs to. */
export interface Recorded {
  slot: number;
  kernel: Kernel;
  submission: number;
  dispatch: number;
}

/**
 * Buffer ranges for `uses`, aligned down to `offsetAlign` (the remainder, in floats, becomes
 * the `<name>_base` parameter), and which read bindings must be declared read_write because
 * their buffer is written in the same dispatch. A written range that overlaps another binding is
 * refused: WebGPU forbids it (in-place ops have own kernels).
 */
export function bindRanges(
  op: string,
  uses: Readonly<Record<string, Use>>,
  offsetAlign: number,
  maxBinding: number,
): { ranges: Record<string, BoundRange>; bases: Record<string, number>; readWrite: string[] } {
  const ranges: Record<string, BoundRange> = {};
  const bases: Record<string, number> = {};
  for (const [name, u] of Object.entries(uses)) {
    const t = gpuTensor(u.t);
    const offset = u.offset ?? 0;
    const count = Math.max(1, u.count);
    if (offset + u.count > t.size) {
      throw new ShapeError(`${op}: ${name} (${t.label}) holds ${t.size} floats; the op needs ${offset + u.count}`);
    }
    const start = t.offset + offset * 4;
    const aligned = start - (start % offsetAlign);
    const size = start + count * 4 - aligned;
    if (size > maxBinding) {
      throw new GpuError(
        `${op}: ${name} (${t.label}) needs a ${size}-byte binding, over this adapter's maxStorageBufferBindingSize (${maxBinding}); use a smaller batch`,
      );
    }
    ranges[name] = { buffer: t.buffer, offset: aligned, size: Math.min(size, t.buffer.bytes - aligned), write: Boolean(u.write) };
    bases[`${name}_base`] = (start - aligned) / 4;
  }
  const readWrite: string[] = [];
  const names = Object.keys(ranges);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const [a, b] = [names[i], names[j]];
      const [ra, rb] = [ranges[a], ranges[b]];
      if (ra.buffer !== rb.buffer || !(ra.write || rb.write)) continue;
      if (ra.offset < rb.offset + rb.size && rb.offset < ra.offset + ra.size) {
        throw new GpuError(`${op}: ${a} and ${b} overlap in buffer ${ra.buffer.label} and one is written; this op cannot run in place`);
      }
      for (const [n, r] of [[a, ra], [b, rb]] as const) if (!r.write && !readWrite.includes(n)) readWrite.push(n);
    }
  }
  return { ranges, bases, readWrite };
}
