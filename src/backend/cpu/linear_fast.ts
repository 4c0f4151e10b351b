// Fully connected layers on the fast CPU backend: the products of linear.ts's loops as pool GEMMs
// (gemm_fast.ts), bias and ReLU in the product's epilogue. Tensors are float indices.
import { gemm, rowMajor, transposed } from './gemm_fast.js';
import type { LinearShape } from './linear.js';
import type { Pool, ThreadContext } from './threads.js';

/** x: [N, in]; w: [out, in]; bias: [out] or 0; y: [N, out] (overwritten, then ReLU with `relu`). */
export function linearForward(pool: Pool, s: LinearShape, x: number, w: number, bias: number, y: number, relu: boolean): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(pool, N, O, I, rowMajor(x, I), transposed(w, I), y, O, { bias, relu });
}

/** dy: [N, out]; w: [out, in]; dx: [N, in] (overwritten). */
export function linearBackwardData(pool: Pool, s: LinearShape, dy: number, w: number, dx: number): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(pool, N, I, O, rowMajor(dy, O), rowMajor(w, I), dx, I);
}

/** Outputs per bias-gradient task. */
const BIAS_COLUMNS = 256;

/** db[o] += dy[n, o] for n in order (linear.ts's order), for a block of outputs o. */
export function linearBiasGradTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const [N, O, dy, db] = args;
  ctx.kernels.eltwise.bias_grad(dy * 4, N, O, 1, task * BIAS_COLUMNS, Math.min(O, (task + 1) * BIAS_COLUMNS), db * 4);
}

/** x: [N, in]; dy: [N, out]; dw: [out, in] (+=); db: [out] (+=) or 0. */
export function linearBackwardParams(pool: Pool, s: LinearShape, x: number, dy: number, dw: number, db: number): void {
  const { batch: N, inFeatures: I, outFeatures: O } = s;
  gemm(pool, O, I, N, transposed(dy, O), rowMajor(x, I), dw, I, { accumulate: true });
  if (db) pool.run(linearBiasGradTask, [N, O, dy, db], Math.ceil(O / BIAS_COLUMNS));
}
