// Read-back through a small pool of MAP_READ staging buffers: sizes are rounded (powers of two
// while small, whole MiBs when large) so that a training step reuses the same few, and large
// or surplus ones are destroyed once read.
import { MAP_MODE_READ, USAGE, type TrackedBuffer } from './resources.js';

/** Staging buffers above this size are destroyed after use rather than pooled. */
const KEEP_BYTES = 16 << 20;
/** Idle buffers kept beyond this many are destroyed. */
const KEEP_IDLE = 4;

export interface Stage {
  readonly buffer: TrackedBuffer;
  busy: boolean;
}

export class StagingPool {
  private readonly stages: Stage[] = [];

  constructor(
    private readonly create: (label: string, bytes: number, usage: number) => TrackedBuffer,
    private readonly destroy: (b: TrackedBuffer) => void,
  ) {}

  /** An idle staging buffer of at least `bytes`, the smallest that fits, marked busy. */
  take(bytes: number): Stage {
    let best: Stage | null = null;
    for (const s of this.stages) {
      if (!s.busy && s.buffer.bytes >= bytes && (!best || s.buffer.bytes < best.buffer.bytes)) best = s;
    }
    if (!best) {
      const size = bytes <= KEEP_BYTES ? 2 ** Math.ceil(Math.log2(Math.max(bytes, 256))) : Math.ceil(bytes / (1 << 20)) * (1 << 20);
      best = { buffer: this.create(`read-back ${size} B`, size, USAGE.MAP_READ | USAGE.COPY_DST), busy: false };
      this.stages.push(best);
    }
    best.busy = true;
    return best;
  }

  /**
   * The first `bytes` of `stage` once the GPU has filled it (a copy; the buffer is unmapped and
   * given back to the pool, also when mapping fails).
   */
  async copyOut(stage: Stage, bytes: number): Promise<ArrayBuffer> {
    try {
      await stage.buffer.gpu.mapAsync(MAP_MODE_READ, 0, bytes);
      const data = stage.buffer.gpu.getMappedRange(0, bytes).slice(0);
      stage.buffer.gpu.unmap();
      return data;
    } finally {
      this.release(stage);
    }
  }

  private release(s: Stage): void {
    s.busy = false;
    const idle = this.stages.filter((x) => !x.busy);
    if (s.buffer.bytes > KEEP_BYTES || idle.length > KEEP_IDLE) {
      this.stages.splice(this.stages.indexOf(s), 1);
      this.destroy(s.buffer);
    }
  }
}
