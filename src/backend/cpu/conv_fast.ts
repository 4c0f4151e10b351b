// Convolution on the fast CPU backend: im2col (wasm/im2col.wat) + the packed GEMM of
// gemm_fast.ts, split over the pool's threads. The contract and the layouts of conv.ts, the
// loops the tests compare these with. Tensors are float indices into the backend's memory.
//
// forward:         per group g, Y_g[oPer, pixels of image n] = W_g[oPer, patch] * col(x_n)[patch, pixels]
//                  tasks (g, n, column block); the weights are packed once per call, then each
//                  task unfolds its columns straight into packed panels and writes its block of
//                  y, bias and ReLU added there.
// backward data:   col[patch, pixels] = W_g^T * dY_g,n, folded back into dx_n (col2im); tasks
//                  (g, n), each writing its own image and group of dx.
// backward filter: dW_g += dY_g * col^T over every image. The images are cut into CHUNKS fixed
//                  runs (by the batch alone, never by the thread count); task (g, chunk) sums its
//                  run into a partial, and a second job adds the partials to dW in chunk order.
// So every output element is summed in one order whatever the number of threads.
import type { ConvGeometry } from '../../core/geometry.js';
import { GEMM_SCRATCH_BYTES, gemmScratch, KC, MC, MR, multiplyPacked, NC, NR, packBlock, roundUp, rowMajor, transposed } from './gemm_fast.js';
import type { Pool, ThreadContext } from './threads.js';

/** Images per batch summed separately by the weight gradient (fewer in smaller batches). */
const CHUNKS = 8;

// The geometry travels as the first job arguments, in this order.
const GEOMETRY = ['batch', 'inChannels', 'inHeight', 'inWidth', 'outChannels', 'kernelH', 'kernelW', 'stride', 'pad', 'groups', 'outHeight', 'outWidth'] as const;
const NG = GEOMETRY.length;

function encode(g: ConvGeometry, ...rest: number[]): number[] {
  return [...GEOMETRY.map((key) => g[key]), ...rest];
}

/** The geometry of a job's arguments and the sizes derived from it. */
function decode(args: Float64Array) {
  const g = Object.fromEntries(GEOMETRY.map((key, i) => [key, args[i]])) as unknown as ConvGeometry;
  const cPer = g.inChannels / g.groups;
  const oPer = g.outChannels / g.groups;
  const patch = cPer * g.kernelH * g.kernelW;
  const pixels = g.outHeight * g.outWidth;
  return { g, cPer, oPer, patch, pixels, plane: g.inHeight * g.inWidth };
}

/** Byte address of image n's group-g channels in an NCHW tensor at float index `at`. */
const imageGroup = (at: number, n: number, channels: number, group: number, perGroup: number, plane: number) =>
  (at + (n * channels + group * perGroup) * plane) * 4;

/** Scratch for unfold's rows: 8 rows of up to NC pixels, and a vector to spare. */
const ROWS_BYTES = (8 * NC + 4) * 4;

/** Bytes of a padded copy of one image's group of channels. */
const paddedBytes = (g: ConvGeometry) => (g.inChannels / g.groups) * (g.inHeight + 2 * g.pad) * (g.inWidth + 2 * g.pad) * 4;

/**
 * The byte address of image n's group-g channels of x with the convolution's zero padding: a
 * copy in `dst` (pad_image), or the image itself when there is no padding.
 */
function padImage(ctx: ThreadContext, d: ReturnType<typeof decode>, x: number, n: number, grp: number, dst: number): number {
  const { g } = d;
  const image = imageGroup(x, n, g.inChannels, grp, d.cPer, d.plane);
  if (g.pad === 0) return image;
  ctx.kernels.im2col.pad_image(image, d.cPer, g.inHeight, g.inWidth, g.pad, dst);
  return dst;
}

/**
 * Rows k0.. (kc) and columns p0.. (pc <= NC) of the patch matrix of the padded image at `padded`,
 * as packed B panels of NR (pstride bytes apart) along its pixels (the forward's B) or along its
 * rows (the weight gradient's B = col^T); `rows` is ROWS_BYTES of scratch.
 */
function unfold(ctx: ThreadContext, d: ReturnType<typeof decode>, padded: number, k0: number, kc: number, p0: number, pc: number, dst: number, pstride: number, alongPixels: boolean, rows: number): void {
  const { g } = d;
  ctx.kernels.im2col.im2col_panels(
    padded, g.inHeight + 2 * g.pad, g.inWidth + 2 * g.pad, g.kernelH, g.kernelW, g.stride, g.outWidth,
    k0, kc, p0, pc, dst, pstride, alongPixels ? 1 : 0, rows,
  );
}

/** Packed weights: per group and KC block of the reduction, panels of MR rows. */
function packedWeightsLayout(rows: number, depth: number, groups: number) {
  const blocks = Math.ceil(depth / KC);
  const blockFloats = roundUp(rows, MR) * KC;
  return { blocks, blockFloats, floats: groups * blocks * blockFloats };
}

// ---- weights packed once per call (A of the forward and backward-data products) ----

/** Task (g, k-block): packs A = W_g (forward: [oPer, patch]) or W_g^T (backward data: [patch, oPer]). */
export function convPackWeightsTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const [w, dst, transpose] = [args[NG], args[NG + 1], args[NG + 2]];
  const [rows, depth] = transpose ? [d.patch, d.oPer] : [d.oPer, d.patch];
  const layout = packedWeightsLayout(rows, depth, d.g.groups);
  const grp = Math.floor(task / layout.blocks);
  const kb = task % layout.blocks;
  const wg = w + grp * d.oPer * d.patch;
  const m = transpose ? transposed(wg, d.patch) : rowMajor(wg, d.patch);
  const k0 = kb * KC;
  packBlock(ctx.kernels, m, 0, k0, rows, Math.min(KC, depth - k0), 'A', dst + (grp * layout.blocks + kb) * layout.blockFloats * 4);
}

function packWeights(pool: Pool, g: ConvGeometry, w: number, transpose: boolean): number {
  const oPer = g.outChannels / g.groups;
  const patch = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
  const layout = transpose ? packedWeightsLayout(patch, oPer, g.groups) : packedWeightsLayout(oPer, patch, g.groups);
  const dst = pool.sharedBuffer('conv.packedWeights', layout.floats * 4);
  pool.run(convPackWeightsTask, encode(g, w, dst, transpose ? 1 : 0), g.groups * layout.blocks);
  return dst;
}

// ---- forward ----

export function convForwardTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const { g, oPer, patch, pixels } = d;
  const [x, y, bias, relu, packed] = [args[NG], args[NG + 1], args[NG + 2], args[NG + 3], args[NG + 4]];
  const columnBlocks = Math.ceil(pixels / NC);
  const grp = Math.floor(task / (g.batch * columnBlocks));
  const n = Math.floor(task / columnBlocks) % g.batch;
  const p0 = (task % columnBlocks) * NC;
  const pc = Math.min(NC, pixels - p0);
  const s = gemmScratch(ctx.scratch());
  const layout = packedWeightsLayout(oPer, patch, g.groups);
  const yBlock = imageGroup(y, n, g.outChannels, grp, oPer, pixels) + p0 * 4;
  const padded = padImage(ctx, d, x, n, grp, s.end + ROWS_BYTES);
  for (let kb = 0; kb < layout.blocks; kb++) {
    const k0 = kb * KC;
    const kc = Math.min(KC, patch - k0);
    unfold(ctx, d, padded, k0, kc, p0, pc, s.b, kc * NR * 4, true, s.end);
    const a = packed + (grp * layout.blocks + kb) * layout.blockFloats * 4;
    for (let i = 0; i < oPer; i += MC) {
      multiplyPacked(ctx.kernels, Math.min(MC, oPer - i), pc, kc, a + i * kc * 4, s.b, yBlock + i * pixels * 4, pixels, kb > 0, s.tile);
    }
  }
  ctx.kernels.eltwise.bias_act(yBlock, pixels, oPer, pc, bias ? (bias + grp * oPer) * 4 : 0, 1, relu);
}

/** x: [N, C, H, W]; w: [O, C/groups, KH, KW]; bias: [O] or 0; y: [N, O, OH, OW] (overwritten, then ReLU with `relu`). */
export function convForward(pool: Pool, g: ConvGeometry, x: number, w: number, bias: number, y: number, relu: boolean): void {
  const packed = packWeights(pool, g, w, false);
  pool.scratch(GEMM_SCRATCH_BYTES + ROWS_BYTES + paddedBytes(g));
  const pixels = g.outHeight * g.outWidth;
  pool.run(convForwardTask, encode(g, x, y, bias, relu ? 1 : 0, packed), g.groups * g.batch * Math.ceil(pixels / NC));
}

// ---- backward data ----

export function convBackwardDataTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const { g, cPer, oPer, patch, pixels } = d;
  const [dy, dx, packed] = [args[NG], args[NG + 1], args[NG + 2]];
  const grp = Math.floor(task / g.batch);
  const n = task % g.batch;
  const s = gemmScratch(ctx.scratch());
  const col = s.end; // [patch, pixels]
  const layout = packedWeightsLayout(patch, oPer, g.groups);
  const dyAt = (dy + (n * g.outChannels + grp * oPer) * pixels);
  for (let kb = 0; kb < layout.blocks; kb++) {
    const k0 = kb * KC;
    const kc = Math.min(KC, oPer - k0);
    const a = packed + (grp * layout.blocks + kb) * layout.blockFloats * 4;
    for (let j = 0; j < pixels; j += NC) {
      const nc = Math.min(NC, pixels - j);
      packBlock(ctx.kernels, rowMajor(dyAt, pixels), k0, j, kc, nc, 'B', s.b);
      for (let i = 0; i < patch; i += MC) {
        multiplyPacked(ctx.kernels, Math.min(MC, patch - i), nc, kc, a + i * kc * 4, s.b, col + (i * pixels + j) * 4, pixels, kb > 0, s.tile);
      }
    }
  }
  ctx.kernels.im2col.col2im(
    col, pixels, imageGroup(dx, n, g.inChannels, grp, cPer, d.plane), cPer, g.inHeight, g.inWidth,
    g.kernelH, g.kernelW, g.stride, g.pad, g.outHeight, g.outWidth, 1,
  );
}

/** dy: [N, O, OH, OW]; w: [O, C/groups, KH, KW]; dx: [N, C, H, W] (overwritten). */
export function convBackwardData(pool: Pool, g: ConvGeometry, dy: number, w: number, dx: number): void {
  const packed = packWeights(pool, g, w, true);
  const patch = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
  pool.scratch(GEMM_SCRATCH_BYTES + patch * g.outHeight * g.outWidth * 4);
  pool.run(convBackwardDataTask, encode(g, dy, dx, packed), g.groups * g.batch);
}

// ---- backward filter ----

/** The images of chunk c of `chunks` over a batch: [first, end). */
function chunkImages(batch: number, chunks: number, c: number): [number, number] {
  return [Math.floor((c * batch) / chunks), Math.floor(((c + 1) * batch) / chunks)];
}

/**
 * The reduction's KC-blocks over images [n0, n1): each a list of runs (image, first pixel, pixels),
 * whole images at a time when they are smaller than KC, else slices of one image.
 */
function depthBlocks(n0: number, n1: number, pixels: number): { n: number; p0: number; pc: number }[][] {
  const blocks: { n: number; p0: number; pc: number }[][] = [];
  if (pixels >= KC) {
    for (let n = n0; n < n1; n++) for (let p = 0; p < pixels; p += KC) blocks.push([{ n, p0: p, pc: Math.min(KC, pixels - p) }]);
  } else {
    const per = Math.floor(KC / pixels);
    for (let n = n0; n < n1; n += per) {
      blocks.push(Array.from({ length: Math.min(per, n1 - n) }, (_, i) => ({ n: n + i, p0: 0, pc: pixels })));
    }
  }
  return blocks;
}

export function convBackwardFilterTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const { g, oPer, patch, pixels } = d;
  const [x, dy, partials, chunks] = [args[NG], args[NG + 1], args[NG + 2], args[NG + 3]];
  const k = ctx.kernels;
  const grp = Math.floor(task / chunks);
  const chunk = task % chunks;
  const s = gemmScratch(ctx.scratch());
  const a = s.end + ROWS_BYTES; // packed dY block: [oPer, KC]
  const copies = a + roundUp(oPer, MR) * KC * 4; // padded copies of a block's images
  const out = partials + (chunk * g.outChannels + grp * oPer) * patch * 4; // [oPer, patch]
  depthBlocks(...chunkImages(g.batch, chunks, chunk), pixels).forEach((runs, b) => {
    const kc = runs.reduce((sum, r) => sum + r.pc, 0);
    const padded = runs.map((r, i) => padImage(ctx, d, x, r.n, grp, copies + i * paddedBytes(g)));
    let at = 0;
    for (const r of runs) {
      const src = (dy + (r.n * g.outChannels + grp * oPer) * pixels + r.p0) * 4;
      k.gemm.pack_cols(src, pixels, r.pc, oPer, MR, a + at * MR * 4, kc * MR * 4);
      at += r.pc;
    }
    for (let j = 0; j < patch; j += NC) {
      const nc = Math.min(NC, patch - j);
      at = 0;
      runs.forEach((r, i) => {
        unfold(ctx, d, padded[i], j, nc, r.p0, r.pc, s.b + at * NR * 4, kc * NR * 4, false, s.end);
        at += r.pc;
      });
      for (let i = 0; i < oPer; i += MC) {
        multiplyPacked(k, Math.min(MC, oPer - i), nc, kc, a + i * kc * 4, s.b, out + (i * patch + j) * 4, patch, b > 0, s.tile);
      }
    }
  });
}

/** Task: output channels [o0, o0 + perTask): dw rows += their partials in chunk order; db += dy in the loops' order. */
export function convFilterReduceTask(ctx: ThreadContext, args: Float64Array, task: number): void {
  const d = decode(args);
  const { g, patch, pixels } = d;
  const [dy, dw, db, partials, chunks, perTask] = [args[NG], args[NG + 1], args[NG + 2], args[NG + 3], args[NG + 4], args[NG + 5]];
  const e = ctx.kernels.eltwise;
  const o0 = task * perTask;
  const o1 = Math.min(g.outChannels, o0 + perTask);
  e.add_parts(partials + o0 * patch * 4, g.outChannels * patch, chunks, (dw + o0 * patch) * 4, (o1 - o0) * patch);
  if (db) e.bias_grad(dy * 4, g.batch, g.outChannels, pixels, o0, o1, db * 4);
}

/** x: [N, C, H, W]; dy: [N, O, OH, OW]; dw: [O, C/groups, KH, KW] (+=); db: [O] (+=) or 0. */
export function convBackwardFilter(pool: Pool, g: ConvGeometry, x: number, dy: number, dw: number, db: number): void {
  const oPer = g.outChannels / g.groups;
  const patch = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
  const chunks = Math.min(CHUNKS, g.batch);
  const partials = pool.sharedBuffer('conv.filterPartials', chunks * g.outChannels * patch * 4);
  const pixels = g.outHeight * g.outWidth;
  const imagesPerBlock = pixels >= KC ? 1 : Math.floor(KC / pixels);
  pool.scratch(GEMM_SCRATCH_BYTES + ROWS_BYTES + roundUp(oPer, MR) * KC * 4 + imagesPerBlock * paddedBytes(g));
  pool.run(convBackwardFilterTask, encode(g, x, dy, partials, chunks), g.groups * chunks);
  const perTask = Math.max(1, Math.ceil(g.outChannels / (4 * pool.active)));
  pool.run(convFilterReduceTask, encode(g, dy, dw, db, partials, chunks, perTask), Math.ceil(g.outChannels / perTask));
}
