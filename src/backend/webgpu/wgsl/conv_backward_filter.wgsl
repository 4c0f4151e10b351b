// Convolution backward-filter (the gradient of the weights) as an implicit GEMM, per group g:
//   M = output channels of the group, N = C/groups * KH * KW (one filter), K = batch * OH * OW;
//   A(m, k) = dy[img][g * oPerGroup + m][oy][ox] for k = (img, oy, ox),
//   B(k, n) = the input pixel under filter tap n at output position k (0 in the padding).
// With one split the result is added into dw (parameter gradients accumulate); with several,
// split s writes its partial sum to part[s][o][n] and sum_splits.wgsl adds them into dw.
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  C: u32, H: u32, W: u32, O: u32, KH: u32, KW: u32, stride: u32, pad: u32, OH: u32, OW: u32,
  c_per_group: u32, o_per_group: u32,
  x_base: u32, dy_base: u32, dw_base: u32, part_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = true;

struct ACtx { dy: u32 } // dy index of (0, g * oPerGroup + m, 0, 0)
struct BCtx { off: i32, ky: i32, kx: i32 } // x offset of (first channel of g + ci, ky, kx)
struct KInfo { dy: u32, x: i32, iy0: i32, ix0: i32 } // dy offset of (img, oy, ox); x index of (img, 0, iy0, ix0)

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.dy_base + (g * P.o_per_group + m) * P.OH * P.OW);
}

fn make_b(g: u32, n: u32) -> BCtx {
  let taps = P.KH * P.KW;
  let t = n % taps;
  let ky = t / P.KW;
  let kx = t % P.KW;
  return BCtx(i32(((g * P.c_per_group + n / taps) * P.H + ky) * P.W + kx), i32(ky), i32(kx));
}

fn make_k(g: u32, k: u32) -> KInfo {
  let plane = P.OH * P.OW;
  let img = k / plane;
  let p = k % plane;
  let iy0 = i32((p / P.OW) * P.stride) - i32(P.pad);
  let ix0 = i32((p % P.OW) * P.stride) - i32(P.pad);
  return KInfo(img * P.O * plane + p, i32(P.x_base + img * P.C * P.H * P.W) + iy0 * i32(P.W) + ix0, iy0, ix0);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return dy[c.dy + ki.dy];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  let iy = ki.iy0 + c.ky;
  let ix = ki.ix0 + c.kx;
  if (iy < 0 || ix < 0 || iy >= i32(P.H) || ix >= i32(P.W)) {
    return 0.0;
  }
  return x[u32(ki.x + c.off)];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let i = (g * P.o_per_group + m) * P.N + n;
  if (P.splits == 1u) {
    dw[P.dw_base + i] += v;
  } else {
    part[P.part_base + split * P.O * P.N + i] = v;
  }
}
