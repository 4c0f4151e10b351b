// The recording machinery under the WebGPU backend:
// - buffers, counted (live buffers and bytes) so that tests can assert that steps do not leak;
// - kernels (kernels.ts), binding ranges (resources.ts), per-op timing (profiler.ts);
// - one pending command encoder with an open compute pass: ops append dispatches, and nothing
//   is submitted until data must cross (write, read) or the uniform pool is full, so a training
//   step is one submission whose only read-back is the loss when asked;
// - uniforms: one buffer of 256-byte slots, filled in a host mirror and written once per
//   submission (the cursor restarts at each submit), so steady state allocates nothing;
// - bind groups cached by (layout, uniform slot, buffer ranges): the same step reuses them;
// - read-back through a small pool of MAP_READ staging buffers (staging.ts);
// - errors: validation / out-of-memory / internal error scopes around each submission window,
//   shader compilation messages with file:line:column, and device loss, all turned into a
//   GpuError that every later call throws.
import type { Tensor } from '../backend.js';
import { ShapeError } from '../../core/errors.js';
import type { OpenedDevice } from './device.js';
import { GpuError } from './errors.js';
import { KernelCache } from './kernels.js';
import { OpProfiler, type ProfileEntry } from './profiler.js';
import { bindRanges, gpuTensor, GpuTensor, USAGE, type BoundRange, type Kernel, type Recorded, type TrackedBuffer, type Use } from './resources.js';
import { packParams, type KernelSpec } from './shaders.js';
import { StagingPool } from './staging.js';

export { gpuTensor, GpuTensor, type Recorded, type Use } from './resources.js';
export type { ProfileEntry } from './profiler.js';

const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 256;
const BIND_GROUP_CACHE_LIMIT = 8192;

export class GpuContext {
  readonly device: GPUDevice;
  readonly limits: Record<string, number>;
  readonly maxBinding: number;
  readonly maxGroups: number;
  readonly offsetAlign: number;
  /** Live GPU buffers and their bytes (tensors, uniforms, staging, scratch). */
  liveBuffers = 0;
  liveBytes = 0;
  /** Queue submissions so far (a training step should add one). */
  submissions = 0;
  /** Dispatches recorded so far. */
  dispatches = 0;

  private nextId = 1;
  private readonly buffers = new Set<TrackedBuffer>();
  private readonly kernels: KernelCache;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly uniforms: TrackedBuffer;
  private readonly uniformMirror = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private readonly uniformView = new DataView(this.uniformMirror);
  private uniformCursor = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private windowOps: string[] = [];
  private readonly staging = new StagingPool(
    (label, bytes, usage) => this.createBuffer(label, bytes, usage),
    (b) => this.destroyBuffer(b),
  );
  private failure: GpuError | null = null;
  private checks: Promise<void>[] = [];
  private disposed = false;
  private readonly dummies: TrackedBuffer[] = [];
  private scratchBuffer: TrackedBuffer | null = null;
  private hostStaging = new Uint8Array(0);
  private profiler: OpProfiler | null = null;

  constructor(readonly opened: OpenedDevice) {
    this.device = opened.device;
    this.limits = opened.limits;
    this.maxBinding = this.limits.maxStorageBufferBindingSize ?? 128 << 20;
    this.maxGroups = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    this.offsetAlign = Math.max(this.limits.minStorageBufferOffsetAlignment ?? 256, 4);
    this.device.lost.then((info) => {
      if (!this.disposed) this.fail(`the GPU device was lost (${info.reason}): ${info.message || 'no message'}`);
    });
    this.device.addEventListener('uncapturederror', (e) => {
      this.fail(`uncaptured GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    this.kernels = new KernelCache(this.device, (check) => this.checks.push(check), (message) => this.fail(message));
    this.openScopes();
    this.uniforms = this.createBuffer('uniforms', UNIFORM_SLOT * UNIFORM_SLOTS, USAGE.UNIFORM | USAGE.COPY_DST);
    for (let i = 0; i < 2; i++) this.dummies.push(this.createBuffer(`unused binding ${i}`, 256, USAGE.STORAGE));
  }

  // ---- failures ---------------------------------------------------------------------------

  private fail(message: string): void {
    this.failure ??= new GpuError(message);
  }

  /** Throws the first failure seen, as a GpuError, on every call after it. */
  check(): void {
    if (this.disposed) throw new GpuError('the WebGPU backend was disposed');
    if (this.failure) throw new GpuError(this.failure.message);
  }

  private openScopes(): void {
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  /** Closes the scopes of the current window; their errors name the window's ops. */
  private closeScopes(): void {
    const ops = this.windowOps;
    this.windowOps = [];
    const describe = () => {
      const unique = [...new Set(ops)];
      return unique.length ? ` (in ${unique.slice(0, 8).join(', ')}${unique.length > 8 ? ', ...' : ''})` : '';
    };
    for (let i = 0; i < 3; i++) {
      this.checks.push(
        this.device.popErrorScope().then(
          (err) => {
            if (err) this.fail(`GPU ${err.constructor?.name ?? 'error'}${describe()}: ${err.message}`);
          },
          () => undefined, // no scope left: the device is gone, and `lost` says why
        ),
      );
    }
    this.openScopes();
  }

  /** Waits for every pending error check; throws the first failure. */
  async settle(): Promise<void> {
    const checks = this.checks;
    this.checks = [];
    await Promise.all(checks);
    this.check();
  }

  // ---- buffers ----------------------------------------------------------------------------

  createBuffer(label: string, bytes: number, usage: number): TrackedBuffer {
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    const maxBuffer = this.limits.maxBufferSize ?? 256 << 20;
    if (size > maxBuffer) {
      throw new GpuError(`${label}: ${size} bytes exceed this adapter's maxBufferSize (${maxBuffer})`);
    }
    const gpu = this.device.createBuffer({ label, size, usage });
    const b: TrackedBuffer = { id: this.nextId++, gpu, bytes: size, label, destroyed: false };
    this.buffers.add(b);
    this.liveBuffers++;
    this.liveBytes += size;
    return b;
  }

  destroyBuffer(b: TrackedBuffer): void {
    if (b.destroyed) return;
    b.destroyed = true;
    b.gpu.destroy();
    this.buffers.delete(b);
    this.liveBuffers--;
    this.liveBytes -= b.bytes;
    const tag = `#${b.id}@`;
    for (const key of this.bindGroups.keys()) if (key.includes(tag)) this.bindGroups.delete(key);
  }

  /** A storage buffer for tensors: zero-filled, copyable both ways. */
  allocate(label: string, size: number): GpuTensor {
    this.check();
    if (!Number.isInteger(size) || size < 0) throw new ShapeError(`${label}: size must be a non-negative integer, found ${size}`);
    const b = this.createBuffer(label, size * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
    return new GpuTensor(label, size, b, 0);
  }

  /** A scratch buffer of at least `floats` floats (grown, never shrunk). */
  scratch(floats: number): GpuTensor {
    if (!this.scratchBuffer || this.scratchBuffer.bytes < floats * 4) {
      if (this.scratchBuffer) {
        this.flush(); // pending dispatches may use the old one
        this.destroyBuffer(this.scratchBuffer);
      }
      this.scratchBuffer = this.createBuffer('split-K partial sums', floats * 4, USAGE.STORAGE);
    }
    return new GpuTensor('split-K partial sums', this.scratchBuffer.bytes / 4, this.scratchBuffer, 0);
  }

  /** A small buffer bound where a kernel's binding is unused (no bias, no dlogits). */
  dummy(i = 0): GpuTensor {
    return new GpuTensor('unused', 64, this.dummies[i], 0);
  }

  // ---- kernels and binding ----------------------------------------------------------------

  kernel(op: string, spec: KernelSpec): Kernel {
    return this.kernels.get(op, spec);
  }

  get pipelineCount(): number {
    return this.kernels.size;
  }

  /** Aligned binding ranges for `uses` within this adapter's limits (see bindRanges). */
  bind(op: string, uses: Readonly<Record<string, Use>>): { ranges: Record<string, BoundRange>; bases: Record<string, number>; readWrite: string[] } {
    return bindRanges(op, uses, this.offsetAlign, this.maxBinding);
  }

  // ---- recording --------------------------------------------------------------------------

  private ensurePass(label: string): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: `submission ${this.submissions + 1}` });
    if (this.profiler) {
      this.pass?.end();
      if (this.profiler.full) {
        this.pass = null;
        this.flush();
        this.encoder = this.device.createCommandEncoder({ label: `submission ${this.submissions + 1}` });
      }
      this.pass = this.profiler.beginPass(this.encoder, label);
      return this.pass;
    }
    this.pass ??= this.encoder.beginComputePass({ label: 'ops' });
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: `submission ${this.submissions + 1}` });
    this.pass?.end();
    this.pass = null;
    return this.encoder;
  }

  /**
   * Records one dispatch of `kernel` over `grid` workgroups with `params` (the Params struct)
   * and `ranges` (from bind()). `op` names it in errors and profiles.
   */
  dispatch(op: string, kernel: Kernel, params: Record<string, number>, ranges: Record<string, BoundRange>, grid: readonly [number, number, number]): Recorded | null {
    this.check();
    if (grid.some((g) => g === 0)) return null;
    for (const g of grid) {
      if (g > this.maxGroups) throw new GpuError(`${op}: a grid of ${grid.join('x')} workgroups exceeds ${this.maxGroups} in one dimension`);
    }
    if (this.uniformCursor === UNIFORM_SLOTS) this.flush();
    const slot = this.uniformCursor++;
    packParams(op, kernel.shader.fields, params, this.uniformView, slot * UNIFORM_SLOT);
    let key = `${kernel.layoutKey}|${slot}`;
    const entries: GPUBindGroupEntry[] = [];
    for (const b of kernel.shader.bindings) {
      if (b.kind === 'uniform') {
        entries.push({ binding: b.binding, resource: { buffer: this.uniforms.gpu, offset: slot * UNIFORM_SLOT, size: kernel.shader.uniformBytes } });
        key += `|u${kernel.shader.uniformBytes}`;
        continue;
      }
      const r = ranges[b.name];
      if (!r) throw new GpuError(`${op}: no tensor given for binding ${b.name} of ${kernel.name}.wgsl`);
      entries.push({ binding: b.binding, resource: { buffer: r.buffer.gpu, offset: r.offset, size: r.size } });
      key += `|#${r.buffer.id}@${r.offset}+${r.size}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size >= BIND_GROUP_CACHE_LIMIT) this.bindGroups.clear();
      group = this.device.createBindGroup({ label: `${op} bindings`, layout: kernel.layout, entries });
      this.bindGroups.set(key, group);
    }
    const pass = this.ensurePass(op);
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.windowOps.push(op);
    this.dispatches++;
    return { slot, kernel, submission: this.submissions, dispatch: this.dispatches };
  }

  /** Whether `r` is the last dispatch recorded and its uniforms are not yet submitted. */
  isLast(r: Recorded): boolean {
    return r.submission === this.submissions && r.dispatch === this.dispatches && this.encoder !== null;
  }

  /** Changes a parameter of a recorded, unsubmitted dispatch (its uniforms are written at submit). */
  patchParam(r: Recorded, name: string, value: number): void {
    if (r.submission !== this.submissions || this.encoder === null) throw new GpuError(`patchParam ${name}: that dispatch was submitted`);
    const i = r.kernel.shader.fields.findIndex((f) => f.name === name);
    if (i < 0 || r.kernel.shader.fields[i].type !== 'u32') throw new GpuError(`patchParam: ${r.kernel.name} has no u32 parameter ${name}`);
    this.uniformView.setUint32(r.slot * UNIFORM_SLOT + 4 * i, value, true);
  }

  /** Submits everything recorded (uniforms first). */
  flush(): void {
    if (!this.encoder) return;
    const encoder = this.endPass();
    this.encoder = null;
    if (this.uniformCursor > 0) {
      this.device.queue.writeBuffer(this.uniforms.gpu, 0, this.uniformMirror, 0, this.uniformCursor * UNIFORM_SLOT);
    }
    this.uniformCursor = 0;
    const profiled = this.profiler && this.profiler.pendingBytes > 0 ? this.resolveProfile(encoder, this.profiler) : null;
    this.device.queue.submit([encoder.finish()]);
    this.submissions++;
    this.closeScopes();
    if (profiled) this.checks.push(profiled());
  }

  /** Uploads `data` to `t` at `offset` floats, after everything recorded before it. */
  write(t: Tensor, data: Float32Array, offset = 0): void {
    const g = gpuTensor(t);
    if (offset + data.length > g.size) {
      throw new ShapeError(`write to ${g.label}: ${data.length} floats at ${offset} do not fit in ${g.size}`);
    }
    this.writeBytes(t, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  }

  /** Uploads raw bytes (e.g. uint8 images, 4 per float slot) to `t` at `offset` floats. */
  writeBytes(t: Tensor, bytes: Uint8Array, offset = 0): void {
    this.check();
    const g = gpuTensor(t);
    if (offset * 4 + bytes.length > g.size * 4) {
      throw new ShapeError(`write to ${g.label}: ${bytes.length} bytes at float ${offset} do not fit in ${g.size} floats`);
    }
    if (bytes.length === 0) return;
    this.flush(); // queue.writeBuffer would otherwise overtake recorded, unsubmitted work
    let src = bytes;
    const padded = Math.ceil(bytes.length / 4) * 4; // writeBuffer moves whole 4-byte words
    if (!(bytes.buffer instanceof ArrayBuffer) || padded !== bytes.length) {
      // writeBuffer takes only ArrayBuffers (the data loader's workers fill SharedArrayBuffers).
      if (this.hostStaging.length < padded) this.hostStaging = new Uint8Array(padded);
      src = this.hostStaging.subarray(0, padded);
      src.set(bytes);
    }
    this.device.queue.writeBuffer(g.buffer.gpu, g.offset + offset * 4, src.buffer, src.byteOffset, src.byteLength);
  }

  /** The first `count` floats of `t`, after everything recorded before it. */
  async read(t: Tensor, count: number): Promise<Float32Array> {
    this.check();
    const g = gpuTensor(t);
    if (!Number.isInteger(count) || count < 0 || count > g.size) {
      throw new ShapeError(`read of ${g.label}: count must be in 0..${g.size}, found ${count}`);
    }
    if (count === 0) {
      this.flush();
      await this.settle();
      return new Float32Array(0);
    }
    const bytes = count * 4;
    const stage = this.staging.take(bytes);
    this.endPass().copyBufferToBuffer(g.buffer.gpu, g.offset, stage.buffer.gpu, 0, bytes);
    this.windowOps.push(`read ${g.label}`);
    this.flush();
    let out: Float32Array;
    try {
      out = new Float32Array(await this.staging.copyOut(stage, bytes));
    } catch (e) {
      // A failed mapping most often means the device is gone, and its `lost` promise (which may
      // settle a moment later) says why: that is the error to report.
      await Promise.race([this.device.lost, new Promise((resolve) => setTimeout(resolve, 1000))]);
      await this.settle();
      throw new GpuError(`read of ${g.label}: mapping the staging buffer failed: ${(e as Error).message}`);
    }
    await this.settle();
    return out;
  }

  // ---- profiling (profiler.ts) -------------------------------------------------------------

  /** Starts per-op GPU timing; false when the adapter has no timestamp queries. */
  startProfile(): boolean {
    if (!this.device.features.has('timestamp-query')) return false;
    if (this.profiler) return true;
    this.flush();
    const capacity = 1024;
    this.profiler = new OpProfiler(
      this.device.createQuerySet({ label: 'op timestamps', type: 'timestamp', count: 2 * capacity }),
      this.createBuffer('op timestamps', 2 * capacity * 8, USAGE.QUERY_RESOLVE | USAGE.COPY_SRC),
      capacity,
    );
    return true;
  }

  /** Records the read-back of this submission's timestamps; the returned function adds them up once it is done. */
  private resolveProfile(encoder: GPUCommandEncoder, p: OpProfiler): () => Promise<void> {
    const bytes = p.pendingBytes;
    const stage = this.staging.take(bytes);
    const add = p.resolve(encoder, stage.buffer.gpu);
    // A failed mapping (device lost) drops these timings; the loss itself is reported elsewhere.
    return () => this.staging.copyOut(stage, bytes).then((times) => add(new BigUint64Array(times)), () => undefined);
  }

  /** GPU time per op since startProfile() (or the last reset), largest first. */
  async profile(reset = true): Promise<ProfileEntry[]> {
    if (!this.profiler) return [];
    this.flush();
    await this.settle();
    return this.profiler.entries(reset);
  }

  stopProfile(): void {
    if (!this.profiler) return;
    this.flush();
    this.profiler.querySet.destroy();
    this.destroyBuffer(this.profiler.resolveBuffer);
    this.profiler = null;
  }

  // ---- teardown ---------------------------------------------------------------------------

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.encoder = null;
    this.pass = null;
    for (const b of [...this.buffers]) this.destroyBuffer(b);
    this.bindGroups.clear();
    this.kernels.clear();
    this.device.destroy();
  }
}
