// Per-op GPU time from timestamp queries: while profiling, each dispatch runs in a compute pass
// of its own whose start and end are written to a query set, resolved at each submission. A
// little slower than unprofiled recording (one pass per dispatch), so only benchmarks use it.
import type { TrackedBuffer } from './resources.js';

export interface ProfileEntry {
  op: string;
  calls: number;
  ms: number;
}

export class OpProfiler {
  private labels: string[] = [];
  private readonly totals = new Map<string, ProfileEntry>();

  constructor(
    readonly querySet: GPUQuerySet,
    /** QUERY_RESOLVE | COPY_SRC, 16 bytes per pass. */
    readonly resolveBuffer: TrackedBuffer,
    private readonly capacity: number,
  ) {}

  /** Every query is taken: submit before the next pass. */
  get full(): boolean {
    return this.labels.length >= this.capacity;
  }

  /** Bytes of timestamps the next resolve() copies out (0: nothing timed since the last). */
  get pendingBytes(): number {
    return this.labels.length * 16;
  }

  /** A compute pass for op `label` whose start and end times are recorded. */
  beginPass(encoder: GPUCommandEncoder, label: string): GPUComputePassEncoder {
    const i = this.labels.length;
    this.labels.push(label);
    return encoder.beginComputePass({
      label,
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    });
  }

  /**
   * Records the copy of this submission's timestamps into `stage` (pendingBytes long); returns
   * what adds them to the totals once `stage` is mapped.
   */
  resolve(encoder: GPUCommandEncoder, stage: GPUBuffer): (times: BigUint64Array) => void {
    const labels = this.labels;
    this.labels = [];
    encoder.resolveQuerySet(this.querySet, 0, 2 * labels.length, this.resolveBuffer.gpu, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer.gpu, 0, stage, 0, labels.length * 16);
    return (times) =>
      labels.forEach((op, i) => {
        const ms = Number(times[2 * i + 1] - times[2 * i]) / 1e6;
        const e = this.totals.get(op) ?? { op, calls: 0, ms: 0 };
        e.calls++;
        e.ms += ms > 0 && ms < 1e6 ? ms : 0; // a reset or wrapped clock reads as nothing
        this.totals.set(op, e);
      });
  }

  /** GPU time per op so far, largest first; `reset` starts the totals again. */
  entries(reset: boolean): ProfileEntry[] {
    const out = [...this.totals.values()].sort((a, b) => b.ms - a.ms);
    if (reset) this.totals.clear();
    return out;
  }
}
