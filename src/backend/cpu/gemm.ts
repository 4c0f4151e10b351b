// Cache-blocked matrix product for the fast CPU path (Float32): C = A * B, or C += A * B.
// Matrices are described by strides, so transposes cost nothing: element (i, j) of a MatrixRef
// is data[offset + i * rowStride + j * colStride]. Blocks of A and B are packed into
// contiguous panels of 4 rows / 4 columns and multiplied by a 4x4 register-blocked kernel.
import type { Arr } from './types.js';

export interface MatrixRef {
  data: Arr;
  offset: number;
  rowStride: number;
  colStride: number;
}

/** A row-major [rows, cols] matrix starting at `offset`. */
export function rowMajor(data: Arr, offset: number, cols: number): MatrixRef {
  return { data, offset, rowStride: cols, colStride: 1 };
}

/** The transpose of a row-major [rows, cols] matrix, seen as [cols, rows]. */
export function transposed(data: Arr, offset: number, cols: number): MatrixRef {
  return { data, offset, rowStride: 1, colStride: cols };
}

const KC = 256; // depth of a packed block: a 4-row panel of A is 4 KiB
const MC = 64; // rows of A per block
const NC = 1024; // columns of B per block: the packed B block is 1 MiB at most

let packA = new Float32Array(MC * KC);
let packB = new Float32Array(KC * NC);

/**
 * C[M, N] (row-major, leading dimension ldc, from cOffset) = A[M, K] * B[K, N],
 * or C += A * B when `accumulate`.
 */
export function gemm(
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
  if (!accumulate) {
    for (let i = 0; i < M; i++) C.fill(0, cOffset + i * ldc, cOffset + i * ldc + N);
  }
  if (K === 0) return;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = Math.min(NC, N - j0);
      packPanels(B, k0, j0, kc, nc, false);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        packPanels(A, i0, k0, mc, kc, true);
        multiplyPacked(mc, nc, kc, C, cOffset + i0 * ldc + j0, ldc);
      }
    }
  }
}

/**
 * Packs a block into panels of 4 along the "wide" dimension, zero-padded to a multiple of 4.
 * For A (rowsArePanels): rows r..r+3 of the [mc, kc] block, stored k-major: p[(panel*kc + k)*4 + r].
 * For B: columns j..j+3 of the [kc, nc] block, stored k-major: p[(panel*kc + k)*4 + c].
 */
function packPanels(m: MatrixRef, r0: number, c0: number, rows: number, cols: number, rowsArePanels: boolean): void {
  const { data, offset, rowStride, colStride } = m;
  const wide = rowsArePanels ? rows : cols;
  const depth = rowsArePanels ? cols : rows;
  const needed = Math.ceil(wide / 4) * 4 * depth;
  if (rowsArePanels && packA.length < needed) packA = new Float32Array(needed);
  if (!rowsArePanels && packB.length < needed) packB = new Float32Array(needed);
  const p = rowsArePanels ? packA : packB;
  // Stride along the wide dimension and along the depth in the source.
  const wideStride = rowsArePanels ? rowStride : colStride;
  const depthStride = rowsArePanels ? colStride : rowStride;
  const base = offset + r0 * rowStride + c0 * colStride;
  for (let w0 = 0; w0 < wide; w0 += 4) {
    const panel = (w0 / 4) * depth * 4;
    const lanes = Math.min(4, wide - w0);
    for (let lane = 0; lane < 4; lane++) {
      let src = base + (w0 + lane) * wideStride;
      let dst = panel + lane;
      if (lane < lanes) {
        for (let d = 0; d < depth; d++, src += depthStride, dst += 4) p[dst] = data[src];
      } else {
        for (let d = 0; d < depth; d++, dst += 4) p[dst] = 0;
      }
    }
  }
}

/** C block [mc, nc] += packA [mc, kc] * packB [kc, nc], 4x4 at a time. */
function multiplyPacked(mc: number, nc: number, kc: number, C: Arr, cBase: number, ldc: number): void {
  const a = packA;
  const b = packB;
  for (let j = 0; j < nc; j += 4) {
    const bPanel = (j / 4) * kc * 4;
    const cols = Math.min(4, nc - j);
    for (let i = 0; i < mc; i += 4) {
      const aPanel = (i / 4) * kc * 4;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0, pa = aPanel, pb = bPanel; k < kc; k++, pa += 4, pb += 4) {
        const a0 = a[pa], a1 = a[pa + 1], a2 = a[pa + 2], a3 = a[pa + 3];
        const b0 = b[pb], b1 = b[pb + 1], b2 = b[pb + 2], b3 = b[pb + 3];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      const rows = Math.min(4, mc - i);
      const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
      for (let r = 0; r < rows; r++) {
        const row = cBase + (i + r) * ldc + j;
        for (let c = 0; c < cols; c++) C[row + c] += tile[r * 4 + c];
      }
    }
  }
}
