// Training-set statistics for the paper's preprocessing: the mean image (subtracted from every
// crop) and the principal components of RGB pixel values (PCA lighting). One pass over the
// stored images; the sums are exact in float64 for any realistic dataset.
import type { ImageReader } from './dataset.js';

export interface ImageStats {
  /** Images the statistics were computed over. */
  images: number;
  /** C, H, W of the stored images (the mean image's shape). */
  shape: [number, number, number];
  /** Mean image, C x H x W, in pixel units (0..255). */
  meanImage: Float32Array;
  /** Per-channel means in pixel units (0..255). */
  channelMean: number[];
  /**
   * Covariance of a pixel's channel values over all pixels of all images, with values scaled to
   * [0, 1] (pixel / 255). At that scale the paper's formula (add sum_i p_i alpha_i lambda_i with
   * alpha_i ~ N(0, 0.1)) moves colours by a few grey levels, as intended; at 0..255 it would
   * not (lambda would be 255^2 times larger).
   */
  covariance: number[][];
  /** Eigenvalues of `covariance`, largest first. */
  eigenvalues: number[];
  /** eigenvectors[i] is the unit eigenvector p_i for eigenvalues[i]. */
  eigenvectors: number[][];
}

/** Mean image, channel means and RGB covariance of images `indices` (all when absent). */
export function computeStats(reader: ImageReader, indices?: ArrayLike<number>): ImageStats {
  const [C, H, W] = reader.shape;
  const plane = H * W;
  const count = indices ? indices.length : reader.count;
  const sums = new Float64Array(C * plane);
  const cross = new Float64Array(C * C); // sum over pixels of x_c * x_d, in pixel units
  const pixels = new Uint8Array(C * plane);
  for (let n = 0; n < count; n++) {
    reader.readImage(indices ? indices[n] : n, pixels);
    for (let k = 0; k < pixels.length; k++) sums[k] += pixels[k];
    for (let c = 0; c < C; c++) {
      for (let d = c; d < C; d++) {
        // Per image the sum stays below 2^53 exactly; summing integers in float64 is exact.
        let s = 0;
        for (let p = 0, a = c * plane, b = d * plane; p < plane; p++) s += pixels[a + p] * pixels[b + p];
        cross[c * C + d] += s;
      }
    }
  }
  const meanImage = Float32Array.from(sums, (s) => s / Math.max(count, 1));
  const channelMean = Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let p = 0; p < plane; p++) s += sums[c * plane + p];
    return s / Math.max(count * plane, 1);
  });
  const total = Math.max(count * plane, 1);
  const covariance = Array.from({ length: C }, (_, c) =>
    Array.from({ length: C }, (_, d) => {
      const [i, j] = c <= d ? [c, d] : [d, c];
      return (cross[i * C + j] / total - channelMean[c] * channelMean[d]) / (255 * 255);
    }),
  );
  const { values, vectors } = symmetricEigen(covariance);
  return { images: count, shape: [C, H, W], meanImage, channelMean, covariance, eigenvalues: values, eigenvectors: vectors };
}

/**
 * Eigenvalues (descending) and unit eigenvectors of a small symmetric matrix, by cyclic Jacobi
 * rotations: each rotation zeroes one off-diagonal element; sweeps repeat until the
 * off-diagonal mass is negligible. Exact enough for 3x3 and simple to check.
 */
export function symmetricEigen(matrix: number[][]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i][i] * a[i][i];
      for (let j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p][q] === 0) continue;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, the stable form).
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Column i of v is the eigenvector of a[i][i]; return them as rows, largest value first.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  return { values: order.map((i) => a[i][i]), vectors: order.map((i) => v.map((row) => row[i])) };
}
