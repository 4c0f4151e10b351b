// The matrix product of the fast CPU backend: C[M, N] = A[M, K] * B[K, N] (or C +=), on the
// pool's threads, with the WebAssembly kernel of wasm/gemm.wat. Operands live in the backend's
// memory and are described by strides, so transposes cost nothing; one of each operand's strides
// must be 1.
//
// Blocking: C is cut into tiles, one task each (tiling() makes enough for the threads). A task
// walks K in blocks of KC; for each, it packs the B block of its tile columns (panels of NR) and,
// for each MC rows of its tile, the A block (panels of MR), then runs the kernel (full 4 x 8 tiles
// straight into C, the ragged edges through a scratch tile). Every element of C is therefore the
// sum over the same KC-blocks in the same order whatever the tiling, so the tiling may follow
// the thread count without changing a bit of the result.
import type { Kernels } from './kernels.js';
import type { Pool, ThreadContext } from './threads.js';

export const MR = 4; // rows of a packed A panel = rows of the kernel's register tile
export const NR = 8; // columns of a packed B panel = columns of the register tile
// Cache blocking for a core with >= 48 KiB L1d and >= 1 MiB L2 (2-core EPYC machines here).
export const KC = 256; // depth of a block: a packed B panel (KC x NR) is 8 KiB, in L1
export const MC = 128; // rows of A per block: the packed A block (MC x KC) is 128 KiB, in L2
export const NC = 512; // columns of B per block: the packed B block (KC x NC) is 512 KiB, in L2

export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** A matrix in the backend's memory: element (i, j) at float index at + i * rowStride + j * colStride. */
export interface HeapMatrix {
  at: number;
  rowStride: number;
  colStride: number;
}

/** A row-major [rows, cols] matrix from float index `at`. */
export const rowMajor = (at: number, cols: number): HeapMatrix => ({ at, rowStride: cols, colStride: 1 });
/** The transpose of a row-major [rows, cols] matrix from `at`, seen as [cols, rows]. */
export const transposed = (at: number, cols: number): HeapMatrix => ({ at, rowStride: 1, colStride: cols });

/** A thread's scratch for one product: packed A and B blocks and an edge tile (byte addresses). */
export interface GemmScratch {
  a: number;
  b: number;
  tile: number;
  /** First byte past it: where a caller's own scratch may start. */
  end: number;
}
const TILE_FLOATS = Math.max(MC * NR, MR * NC);
export const GEMM_SCRATCH_BYTES = (MC * KC + KC * NC + TILE_FLOATS) * 4;

export function gemmScratch(base: number): GemmScratch {
  const a = base;
  const b = a + MC * KC * 4;
  const tile = b + KC * NC * 4;
  return { a, b, tile, end: tile + TILE_FLOATS * 4 };
}

/**
 * Packs rows r0.. (rows of them) and columns c0.. (cols) of `m` into panels at byte address
 * `dst`: panels of MR rows for an A block (depth = columns), of NR columns for a B block.
 */
export function packBlock(k: Kernels, m: HeapMatrix, r0: number, c0: number, rows: number, cols: number, side: 'A' | 'B', dst: number): void {
  const src = (m.at + r0 * m.rowStride + c0 * m.colStride) * 4;
  const [wide, depth, W] = side === 'A' ? [rows, cols, MR] : [cols, rows, NR];
  const wideStride = side === 'A' ? m.rowStride : m.colStride;
  const depthStride = side === 'A' ? m.colStride : m.rowStride;
  if (wideStride === 1) k.gemm.pack_rows(src, depthStride, depth, wide, W, dst, depth * W * 4);
  else if (depthStride === 1) k.gemm.pack_cols(src, wideStride, depth, wide, W, dst, depth * W * 4);
  else throw new Error('gemm: an operand needs a unit stride');
}

/**
 * C[mc, nc] (leading dimension ldc, byte address c) = C + (or, without `add`, just) the product
 * of the packed blocks a [mc, kc] and b [kc, nc]: full kernel tiles in place, the ragged right
 * and bottom edges computed into `tile` and copied out.
 */
export function multiplyPacked(k: Kernels, mc: number, nc: number, kc: number, a: number, b: number, c: number, ldc: number, add: boolean, tile: number): void {
  const g = k.gemm;
  const addFlag = add ? 1 : 0;
  const mFull = mc - (mc % MR);
  const nFull = nc - (nc % NR);
  if (mFull > 0 && nFull > 0) g.kernel(mFull, nFull, kc, a, b, c, ldc, addFlag);
  if (nFull < nc) {
    g.kernel(roundUp(mc, MR), NR, kc, a, b + nFull * kc * 4, tile, NR, 0);
    g.tile_out(tile, NR, c + nFull * 4, ldc, mc, nc - nFull, addFlag);
  }
  if (mFull < mc && nFull > 0) {
    g.kernel(MR, nFull, kc, a + mFull * kc * 4, b, tile, nFull, 0);
    g.tile_out(tile, nFull, c + mFull * ldc * 4, ldc, mc - mFull, nFull, addFlag);
  }
}

/** Tiles of C for `threads` threads: whole rows where there are enough column tiles. */
export function tiling(M: number, N: number, threads: number): { tileM: number; tileN: number; tilesM: number; tilesN: number } {
  const want = threads > 1 ? 3 * threads : 1;
  let tileN = Math.min(NC, roundUp(N, NR));
  if (Math.ceil(N / tileN) < want) tileN = Math.max(64, roundUp(Math.ceil(N / want), NR));
  const tilesN = Math.ceil(N / tileN);
  const tilesM = Math.min(Math.ceil(M / MR), Math.max(1, Math.ceil(want / tilesN)));
  const tileM = roundUp(Math.ceil(M / tilesM), MR);
  return { tileM, tileN, tilesM: Math.ceil(M / tileM), tilesN };
}

// Job arguments, in order.
const enum G { M, N, K, Aat, Ars, Acs, Bat, Brs, Bcs, Cat, Ldc, Accumulate, TileM, TileN, TilesN, Bias, Relu }

/** One tile of C (args: G). */
export function gemmTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const k = ctx.kernels;
  const [M, N, K, tileM, tileN] = [args[G.M], args[G.N], args[G.K], args[G.TileM], args[G.TileN]];
  const A = { at: args[G.Aat], rowStride: args[G.Ars], colStride: args[G.Acs] };
  const B = { at: args[G.Bat], rowStride: args[G.Brs], colStride: args[G.Bcs] };
  const [cAt, ldc] = [args[G.Cat], args[G.Ldc]];
  const i0 = Math.floor(task / args[G.TilesN]) * tileM;
  const j0 = (task % args[G.TilesN]) * tileN;
  const mt = Math.min(tileM, M - i0);
  const nt = Math.min(tileN, N - j0);
  const s = gemmScratch(ctx.scratch());
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    packBlock(k, B, k0, j0, kc, nt, 'B', s.b);
    for (let ib = i0; ib < i0 + mt; ib += MC) {
      const mc = Math.min(MC, i0 + mt - ib);
      packBlock(k, A, ib, k0, mc, kc, 'A', s.a);
      multiplyPacked(k, mc, nt, kc, s.a, s.b, (cAt + ib * ldc + j0) * 4, ldc, k0 > 0 || args[G.Accumulate] === 1, s.tile);
    }
  }
  if (args[G.Bias] || args[G.Relu]) {
    k.eltwise.bias_act((cAt + i0 * ldc + j0) * 4, ldc, mt, nt, args[G.Bias] ? (args[G.Bias] + j0) * 4 : 0, 0, args[G.Relu]);
  }
}

export interface GemmOptions {
  accumulate?: boolean;
  /** Float index of a bias vector [N] added to every row of C after the product (0: none). */
  bias?: number;
  /** C = max(C, 0) (NaN kept) after the bias. */
  relu?: boolean;
}

/** C[M, N] (float index cAt, leading dimension ldc) = A * B (+ C with `accumulate`), then bias and ReLU. */
export function gemm(pool: Pool, M: number, N: number, K: number, A: HeapMatrix, B: HeapMatrix, cAt: number, ldc: number, o: GemmOptions = {}): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) throw new Error('gemm: K must be positive');
  const t = tiling(M, N, pool.active);
  pool.scratch(GEMM_SCRATCH_BYTES);
  const args: number[] = [];
  args[G.M] = M; args[G.N] = N; args[G.K] = K;
  [args[G.Aat], args[G.Ars], args[G.Acs]] = [A.at, A.rowStride, A.colStride];
  [args[G.Bat], args[G.Brs], args[G.Bcs]] = [B.at, B.rowStride, B.colStride];
  [args[G.Cat], args[G.Ldc], args[G.Accumulate]] = [cAt, ldc, o.accumulate ? 1 : 0];
  [args[G.TileM], args[G.TileN], args[G.TilesN]] = [t.tileM, t.tileN, t.tilesN];
  [args[G.Bias], args[G.Relu]] = [o.bias ?? 0, o.relu ? 1 : 0];
  pool.run(gemmTask, args, t.tilesM * t.tilesN);
}
