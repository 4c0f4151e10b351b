// The matrix product of gemm.ts on WebAssembly SIMD128: same contract, about 10x faster.
// Loops as in gemm.ts (stripes of NC columns of C, blocks of KC along k, blocks of MC rows of A).
// Each block of A and B is packed into the module's memory (A in panels of 4 rows, B in panels
// of 8 columns, both k-major and zero-padded), then the 4x8 register-tiled kernel of
// wasm/gemm.wat adds A block * B block into a float32 stripe of C kept in that memory, which is
// finally copied (or added) into C. Packing a float32 operand with a unit stride takes bulk
// copies of its contiguous runs (TypedArray.set) into a staging area and a SIMD rearrangement in
// the module; any other operand (float64 data, general strides) is packed element by element in
// JS straight into the memory's Float32Array view.
// The module comes as base64 (wasm/gemm_wasm.generated.ts, built by scripts/build-wasm.mjs) and
// is instantiated synchronously on first use, so this works the same in Node and in browsers.
// Single-threaded: a two-thread version (worker + shared memory) gave only 1.2x to 1.5x on the
// 2-core machine it was tried on, not worth a worker and a shared memory.
import { gemm, type MatrixRef } from './gemm.js';
import type { Arr } from './types.js';
import { GEMM_WASM_BASE64 } from './wasm/gemm_wasm.generated.js';

// The little of the WebAssembly JS API used here (the project compiles without the DOM library).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
type KernelFn = (mc: number, nc: number, kc: number, a: number, b: number, c: number, ldc: number) => void;
type PackFn = (src: number, ld: number, depth: number, panels: number, W: number, dst: number) => void;

const MR = 4; // rows of a packed A panel = rows of the register tile
const NR = 8; // columns of a packed B panel = columns of the register tile

// Cache blocking, for a Xeon with 48 KiB L1d and 2 MiB L2 per core. KC 128..512, MC 96..512 and
// NC 1024..4096 measured within noise of each other on it; these keep the scratch memory small.
const KC = 256; // depth of a block: a packed B panel (KC x NR) is 8 KiB and stays in L1
const MC = 128; // rows of A per block: the packed A block (MC x KC) is 128 KiB, in L2
const NC = 1024; // columns per stripe of C: the packed B block (KC x NC) is 1 MiB, in L2

// Layout of the module's memory, in bytes.
const PAGE = 65536;
const A_BASE = 0; // packed A block, MC * KC floats
const B_BASE = A_BASE + MC * KC * 4; // packed B block, KC * NC floats
const S_BASE = B_BASE + KC * NC * 4; // staging for a block before pack_rows / pack_cols
const C_BASE = S_BASE + KC * NC * 4; // float32 stripe of C, (M rounded up to MR) x stripe ld floats

interface Wasm {
  kernel: KernelFn;
  packRows: PackFn;
  packCols: PackFn;
  memory: WasmMemory;
}
let wasm: Wasm | null = null;
let heap: Float32Array; // view of memory.buffer, re-taken whenever the memory grows

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Instantiates the module once (synchronously: it is small). */
function getWasm(): Wasm {
  if (wasm) return wasm;
  const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const { exports } = new api.Instance(new api.Module(decodeBase64(GEMM_WASM_BASE64)), {});
  wasm = {
    kernel: exports.kernel as KernelFn,
    packRows: exports.pack_rows as PackFn,
    packCols: exports.pack_cols as PackFn,
    memory: exports.memory as WasmMemory,
  };
  heap = new Float32Array(wasm.memory.buffer);
  return wasm;
}

/** Grows the module's memory to at least `bytes` and refreshes the view. */
function ensureMemory(memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / PAGE));
  if (heap.buffer !== memory.buffer) heap = new Float32Array(memory.buffer);
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * C[M, N] (row-major, leading dimension ldc, from cOffset) = A[M, K] * B[K, N],
 * or C += A * B when `accumulate`. Same contract as gemm() of gemm.ts; the products are
 * summed in float32 whatever the type of C.
 */
export function gemmWasm(
  M: number,
  N: number,
  K: number,
  A: MatrixRef,
  B: MatrixRef,
  C: Arr,
  cOffset: number,
  ldc: number,
  accumulate: boolean,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) for (let i = 0; i < M; i++) C.fill(0, cOffset + i * ldc, cOffset + i * ldc + N);
    return;
  }
  const w = getWasm();
  const mPad = roundUp(M, MR);
  // Leading dimension of the C stripe: a whole number of tiles, but not a multiple of 1 KiB,
  // so that the 4 rows of a tile do not land in the same L1 set.
  const stripeLd = (n: number): number => {
    const ld = roundUp(n, NR);
    return ld % 256 === 0 ? ld + NR : ld;
  };
  ensureMemory(w.memory, C_BASE + mPad * stripeLd(Math.min(N, NC)) * 4);
  const mem = heap;
  const c32 = C instanceof Float32Array ? C : null;
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    const ldS = stripeLd(nc);
    // Stripe <- C, or zeros (a Float64Array C is added at the end instead, in float64). The
    // rows past M, which the kernel also writes, are zeroed too, so no stale value lingers.
    const stripe = C_BASE / 4;
    if (accumulate && c32) {
      for (let i = 0; i < M; i++) {
        const src = cOffset + i * ldc + j0;
        mem.set(c32.subarray(src, src + nc), stripe + i * ldS);
      }
      mem.fill(0, stripe + M * ldS, stripe + mPad * ldS);
    } else {
      mem.fill(0, stripe, stripe + mPad * ldS);
    }
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = Math.min(KC, K - k0);
      // B block [kc, nc]: panels of NR columns ("wide" = columns, depth = rows).
      packBlock(w, B, k0, j0, kc, nc, false, B_BASE);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        // A block [mc, kc]: panels of MR rows ("wide" = rows, depth = columns).
        packBlock(w, A, i0, k0, mc, kc, true, A_BASE);
        w.kernel(roundUp(mc, MR), roundUp(nc, NR), kc, A_BASE, B_BASE, C_BASE + i0 * ldS * 4, ldS);
      }
    }
    // Stripe -> C.
    for (let i = 0; i < M; i++) {
      const src = stripe + i * ldS;
      const dst = cOffset + i * ldc + j0;
      if (c32) {
        c32.set(mem.subarray(src, src + nc), dst);
      } else if (accumulate) {
        for (let j = 0; j < nc; j++) C[dst + j] += mem[src + j];
      } else {
        for (let j = 0; j < nc; j++) C[dst + j] = mem[src + j];
      }
    }
  }
}

/**
 * Packs the block of `m` from (r0, c0), `rows` x `cols`, into panels at byte address `dst`:
 * of MR rows for A (rowsArePanels), of NR columns for B. A float32 source with one unit stride
 * is staged with bulk copies and packed by the module; anything else is packed here.
 */
function packBlock(w: Wasm, m: MatrixRef, r0: number, c0: number, rows: number, cols: number, rowsArePanels: boolean, dst: number): void {
  const W = rowsArePanels ? MR : NR;
  const wide = rowsArePanels ? rows : cols;
  const depth = rowsArePanels ? cols : rows;
  const wideStride = rowsArePanels ? m.rowStride : m.colStride;
  const depthStride = rowsArePanels ? m.colStride : m.rowStride;
  const base = m.offset + r0 * m.rowStride + c0 * m.colStride;
  const panels = Math.ceil(wide / W);
  const widePad = panels * W;
  const data = m.data;
  const mem = heap;
  const stage = S_BASE / 4;
  if (data instanceof Float32Array && wideStride === 1 && wide >= 16) {
    // Each step of depth is a contiguous run of `wide` values: stage them as rows of widePad.
    for (let d = 0; d < depth; d++) {
      const src = base + d * depthStride;
      const row = stage + d * widePad;
      mem.set(data.subarray(src, src + wide), row);
      for (let l = wide; l < widePad; l++) mem[row + l] = 0;
    }
    w.packRows(S_BASE, widePad, depth, panels, W, dst);
  } else if (data instanceof Float32Array && depthStride === 1 && depth >= 16) {
    // Each lane is a contiguous run of `depth` values: stage them as rows of depth.
    for (let l = 0; l < wide; l++) {
      const src = base + l * wideStride;
      mem.set(data.subarray(src, src + depth), stage + l * depth);
    }
    mem.fill(0, stage + wide * depth, stage + widePad * depth);
    w.packCols(S_BASE, depth, depth, panels, W, dst);
  } else {
    packPanels(data, base, wideStride, depthStride, wide, depth, W, mem, dst / 4);
  }
}

/**
 * Packs a [wide, depth] block (element (w, d) at data[base + w * wideStride + d * depthStride])
 * into panels of W along "wide", k-major: out[dst + (w - w % W) * depth + d * W + w % W],
 * zero-filling the lanes past `wide` in the last panel.
 */
function packPanels(
  data: Arr,
  base: number,
  wideStride: number,
  depthStride: number,
  wide: number,
  depth: number,
  W: number,
  out: Float32Array,
  dst: number,
): void {
  for (let w0 = 0; w0 < wide; w0 += W) {
    const lanes = Math.min(W, wide - w0);
    const panel = dst + w0 * depth;
    const src0 = base + w0 * wideStride;
    if (wideStride === 1 && lanes === W) {
      // The lanes of one step are contiguous in the source: copy W at a time.
      for (let d = 0, src = src0, o = panel; d < depth; d++, src += depthStride, o += W) {
        for (let l = 0; l < W; l++) out[o + l] = data[src + l];
      }
    } else {
      // One lane at a time, walking the depth (contiguous in the source when depthStride is 1).
      for (let l = 0; l < W; l++) {
        let o = panel + l;
        if (l < lanes) {
          for (let d = 0, src = src0 + l * wideStride; d < depth; d++, src += depthStride, o += W) out[o] = data[src];
        } else {
          for (let d = 0; d < depth; d++, o += W) out[o] = 0;
        }
      }
    }
  }
}

/** Whether this runtime accepts the SIMD module (every current browser and Node >= 16 do). */
function simdSupported(): boolean {
  const api = (globalThis as unknown as { WebAssembly?: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
  return api !== undefined && api.validate(decodeBase64(GEMM_WASM_BASE64));
}

/** The GEMM the fast CPU paths use: WebAssembly SIMD where available, else the plain-JS gemm. */
export const fastGemm: typeof gemm = simdSupported() ? gemmWasm : gemm;
