// gemmWasm (WebAssembly SIMD matrix product) against a plain triple loop in float64, over odd
// sizes, transposes and general strides, offsets, accumulate/overwrite, K = 0, AlexNet shapes,
// and a Float64Array C.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MatrixRef } from '../src/backend/cpu/gemm.js';
import { gemmWasm } from '../src/backend/cpu/gemm_wasm.js';
import type { Arr } from '../src/backend/cpu/types.js';
import { randomArray } from './helpers.js';

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  /** How A [M, K] and B [K, N] are laid out: row-major, transposed, or with gaps on both axes. */
  a?: Layout;
  b?: Layout;
  /** Unused elements before A, B and C in their arrays. */
  offset?: number;
  /** Extra columns of C beyond N (ldc = N + ldcPad). */
  ldcPad?: number;
  accumulate?: boolean;
  c64?: boolean;
  /** Data in A and B as Float64Array (rounded to float32 by the packing). */
  in64?: boolean;
}
type Layout = 'rowMajor' | 'transposed' | 'strided';

const cases: Case[] = [
  { name: 'tiny 1x1x1', M: 1, N: 1, K: 1 },
  { name: 'tiny 1x1x1 accumulate', M: 1, N: 1, K: 1, accumulate: true },
  { name: 'odd 7x13x5', M: 7, N: 13, K: 5 },
  { name: 'odd 33x17x65', M: 33, N: 17, K: 65 },
  { name: 'odd 33x17x65 accumulate, offsets, ldc > N', M: 33, N: 17, K: 65, accumulate: true, offset: 5, ldcPad: 3 },
  { name: 'transposed A', M: 33, N: 17, K: 65, a: 'transposed' },
  { name: 'transposed B', M: 33, N: 17, K: 65, b: 'transposed' },
  { name: 'transposed A and B, accumulate', M: 19, N: 41, K: 70, a: 'transposed', b: 'transposed', accumulate: true },
  { name: 'general strides, offsets', M: 23, N: 29, K: 31, a: 'strided', b: 'strided', offset: 7, ldcPad: 2 },
  { name: 'K = 0 overwrite', M: 5, N: 6, K: 0, ldcPad: 2 },
  { name: 'K = 0 accumulate', M: 5, N: 6, K: 0, accumulate: true, ldcPad: 2 },
  { name: 'M = 0', M: 0, N: 6, K: 3 },
  { name: 'N = 0', M: 6, N: 0, K: 3 },
  { name: 'vector 1x300x70', M: 1, N: 300, K: 70 },
  { name: 'vector 300x1x70', M: 300, N: 1, K: 70, b: 'transposed' },
  // Crosses every cache block boundary (rows, depth and column stripes) with ragged ends.
  { name: 'block edges 261x2061x523', M: 261, N: 2061, K: 523, accumulate: true, ldcPad: 1 },
  { name: 'AlexNet conv1 as GEMM 96x3025x363', M: 96, N: 3025, K: 363 },
  { name: 'AlexNet conv2 per group 128x729x1200', M: 128, N: 729, K: 1200 },
  { name: 'AlexNet conv2 weight gradient 128x1200x729 (A B^T)', M: 128, N: 1200, K: 729, b: 'transposed', accumulate: true },
  { name: 'AlexNet fc6 scaled 64x512x1152', M: 64, N: 512, K: 1152 },
  { name: 'AlexNet fc6 scaled, input gradient (A^T)', M: 64, N: 512, K: 1152, a: 'transposed' },
  { name: 'Float64Array C', M: 37, N: 45, K: 129, c64: true },
  { name: 'Float64Array C accumulate, Float64Array A and B', M: 37, N: 45, K: 129, c64: true, in64: true, accumulate: true, offset: 3, ldcPad: 4 },
];

/** A [rows, cols] matrix holding `values` (row-major) in the given layout, after `offset` unused elements. */
function layOut(values: Float64Array, rows: number, cols: number, layout: Layout, offset: number, f64: boolean): MatrixRef {
  let rowStride: number;
  let colStride: number;
  let size: number;
  if (layout === 'rowMajor') {
    [rowStride, colStride, size] = [cols, 1, rows * cols];
  } else if (layout === 'transposed') {
    [rowStride, colStride, size] = [1, rows, rows * cols];
  } else {
    // Every element three apart along rows, rows (3 * cols + 2) apart: gaps everywhere.
    [rowStride, colStride, size] = [3 * cols + 2, 3, rows * (3 * cols + 2)];
  }
  const data: Arr = f64 ? new Float64Array(offset + size) : new Float32Array(offset + size);
  data.fill(Number.NaN); // anything read outside the matrix poisons the result
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) data[offset + i * rowStride + j * colStride] = values[i * cols + j];
  }
  return { data, offset, rowStride, colStride };
}

/** Seeded unit normals, rounded to float32 so that the float64 reference sees the same inputs. */
function float32Values(size: number, seed: number): Float64Array {
  const values = randomArray(size, seed);
  for (let i = 0; i < size; i++) values[i] = Math.fround(values[i]);
  return values;
}

/** Element (i, j) of a MatrixRef. */
const at = (m: MatrixRef, i: number, j: number): number => m.data[m.offset + i * m.rowStride + j * m.colStride];

for (const c of cases) {
  test(`gemmWasm: ${c.name}`, () => {
    const { M, N, K } = c;
    const offset = c.offset ?? 0;
    const ldc = N + (c.ldcPad ?? 0);
    const A = layOut(float32Values(M * K, 1), M, K, c.a ?? 'rowMajor', offset, c.in64 ?? false);
    const B = layOut(float32Values(K * N, 2), K, N, c.b ?? 'rowMajor', offset, c.in64 ?? false);
    const cSize = offset + (M > 0 ? (M - 1) * ldc + N : 0) + 2;
    const C: Arr = c.c64 ? new Float64Array(cSize) : new Float32Array(cSize);
    const initial = randomArray(cSize, 3);
    for (let i = 0; i < cSize; i++) C[i] = c.c64 ? initial[i] : Math.fround(initial[i]);
    const before = Float64Array.from(C);

    gemmWasm(M, N, K, A, B, C, offset, ldc, c.accumulate ?? false);

    // Reference in float64 (i-k-j loops over dense copies of A and B).
    const a = new Float64Array(M * K);
    const b = new Float64Array(K * N);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) a[i * K + k] = at(A, i, k);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) b[k * N + j] = at(B, k, j);
    const inBlock = new Uint8Array(cSize);
    let worst = 0;
    let where = '';
    const row = new Float64Array(N);
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const aik = a[i * K + k];
        for (let j = 0, bk = k * N; j < N; j++) row[j] += aik * b[bk + j];
      }
      for (let j = 0; j < N; j++) {
        const idx = offset + i * ldc + j;
        inBlock[idx] = 1;
        const base = c.accumulate ? before[idx] : 0;
        const want = base + row[j];
        // Relative 1e-5, with an absolute floor of 1e-5 of the typical size of one sum
        // (sums of K products of unit normals are ~sqrt(K)): float32 accumulation is exact to
        // about 1e-7 * sqrt(K) of that, so near-zero results are not held to a relative bound.
        const floor = Math.max(Math.abs(base), Math.sqrt(K), 1e-3);
        const err = Math.abs(C[idx] - want) / Math.max(Math.abs(want), floor);
        if (!(err <= worst)) {
          worst = err;
          where = `C[${i}, ${j}] = ${C[idx]}, want ${want}`;
        }
      }
    }
    assert.ok(worst <= 1e-5, `${c.name}: worst relative error ${worst.toExponential(3)} at ${where}`);
    // Nothing outside the [M, N] block of C (offset, row padding, tail) is touched.
    for (let i = 0; i < cSize; i++) {
      if (!inBlock[i]) assert.equal(C[i], before[i], `${c.name}: C[${i}] outside the block changed`);
    }
  });
}

test('gemmWasm: a small product after a large one (memory grown, stale stripe)', () => {
  const big = 40;
  const A = { data: new Float32Array(big * big).fill(1), offset: 0, rowStride: big, colStride: 1 };
  const C = new Float32Array(big * big);
  gemmWasm(big, big, big, A, A, C, 0, big, false);
  assert.equal(C[0], big);
  const a = { data: Float32Array.of(2), offset: 0, rowStride: 1, colStride: 1 };
  const b = { data: Float32Array.of(3), offset: 0, rowStride: 1, colStride: 1 };
  const c = Float32Array.of(7);
  gemmWasm(1, 1, 1, a, b, c, 0, 1, false);
  assert.equal(c[0], 6);
  gemmWasm(1, 1, 1, a, b, c, 0, 1, true);
  assert.equal(c[0], 12);
});
