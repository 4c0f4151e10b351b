// The fast CPU backend's memory: one WebAssembly memory holding every tensor, the pool's control
// block and each thread's scratch, so that the WebAssembly kernels of every thread work on the
// tensors in place. It is shared (a SharedArrayBuffer underneath) where the runtime allows it,
// which is what lets the pool's workers see it. Allocation is a bump pointer: tensors live as long
// as the backend (the Net's arena is allocated once), scratch areas are allocated anew only when
// an op needs more than before. Fresh memory is zero-filled.
import { PAGE, webAssembly, type WasmMemory } from './wasm_api.js';

/** Allocations start on 64-byte lines (a v128 load never straddles one). */
export const ALIGN_BYTES = 64;
/** The largest memory a 32-bit WebAssembly address reaches: 4 GiB. */
const MAX_PAGES = 65536;
/**
 * Bytes kept addressable past the last allocation: packing routines may read a few vectors past
 * the end of an operand (into lanes they then ignore), and must never leave the memory.
 */
const SLACK = 4096;

export class Heap {
  readonly memory: WasmMemory;
  private used = ALIGN_BYTES; // address 0 is never handed out
  private f32view: Float32Array;
  private i32view: Int32Array;

  constructor(readonly shared: boolean) {
    if (!webAssembly) throw new Error('this runtime has no WebAssembly');
    this.memory = new webAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared });
    this.f32view = new Float32Array(this.memory.buffer);
    this.i32view = new Int32Array(this.memory.buffer);
  }

  /** Bytes allocated so far. */
  get allocatedBytes(): number {
    return this.used;
  }

  /** The byte address of `bytes` new zero-filled bytes, aligned to ALIGN_BYTES. */
  allocate(bytes: number, what: string): number {
    const at = this.used;
    const end = Math.ceil((at + Math.max(bytes, 0)) / ALIGN_BYTES) * ALIGN_BYTES;
    const need = end + SLACK;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      const pages = Math.ceil((need - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new RangeError(
          `CPU backend: ${what} needs ${(need / 2 ** 30).toFixed(2)} GiB of WebAssembly memory in all, over its 4 GiB limit (try a smaller batch)`,
        );
      }
      this.memory.grow(pages);
    }
    this.used = end;
    return at;
  }

  /** A Float32Array over the whole memory (taken anew after the memory grew). */
  get f32(): Float32Array {
    if (this.f32view.buffer !== this.memory.buffer) this.f32view = new Float32Array(this.memory.buffer);
    return this.f32view;
  }

  /** An Int32Array over the whole memory (for Atomics on the pool's control block). */
  get i32(): Int32Array {
    if (this.i32view.buffer !== this.memory.buffer) this.i32view = new Int32Array(this.memory.buffer);
    return this.i32view;
  }
}

/** Whether this runtime can share a WebAssembly memory between threads. */
export function canShareMemory(): boolean {
  if (!webAssembly || typeof SharedArrayBuffer === 'undefined') return false;
  try {
    return new webAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false; // e.g. a browser page that is not cross-origin isolated
  }
}
