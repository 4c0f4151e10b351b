// Convolution forward as an implicit GEMM (a part of gemm.wgsl), per group g:
//   M = output channels of the group, N = batch * OH * OW, K = C/groups * KH * KW;
//   A(m, k) = w[g * oPerGroup + m][k] (OIHW: k = (ci, ky, kx) is contiguous),
//   B(k, n) = the input pixel under kernel tap k for output position n (0 in the padding),
//   y[n][g * oPerGroup + m] = C + bias, then max(., 0) when relu (a ReLU fused by the backend).
// No im2col matrix is ever materialised.
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  C: u32, H: u32, W: u32, O: u32, KH: u32, KW: u32, stride: u32, pad: u32, OH: u32, OW: u32,
  c_per_group: u32, o_per_group: u32, has_bias: u32, relu: u32,
  x_base: u32, w_base: u32, b_base: u32, y_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = false;

struct ACtx { w: u32 } // start of the filter's row in w
struct BCtx { x: i32, iy0: i32, ix0: i32 } // x index of (img, first channel of g, iy0, ix0); window origin
struct KInfo { k: u32, off: i32, ky: i32, kx: i32 } // off = ci * H * W + ky * W + kx

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.w_base + (g * P.o_per_group + m) * P.K);
}

fn make_b(g: u32, n: u32) -> BCtx {
  let plane = P.OH * P.OW;
  let p = n % plane;
  let iy0 = i32((p / P.OW) * P.stride) - i32(P.pad);
  let ix0 = i32((p % P.OW) * P.stride) - i32(P.pad);
  let first = i32(P.x_base + ((n / plane) * P.C + g * P.c_per_group) * P.H * P.W);
  return BCtx(first + iy0 * i32(P.W) + ix0, iy0, ix0);
}

fn make_k(g: u32, k: u32) -> KInfo {
  let taps = P.KH * P.KW;
  let t = k % taps;
  let ky = t / P.KW;
  let kx = t % P.KW;
  return KInfo(k, i32(((k / taps) * P.H + ky) * P.W + kx), i32(ky), i32(kx));
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return w[c.w + ki.k];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  let iy = c.iy0 + ki.ky;
  let ix = c.ix0 + ki.kx;
  if (iy < 0 || ix < 0 || iy >= i32(P.H) || ix >= i32(P.W)) {
    return 0.0;
  }
  return x[u32(c.x + ki.off)];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let plane = P.OH * P.OW;
  let o = g * P.o_per_group + m;
  var out = v;
  if (P.has_bias != 0u) {
    out += b[P.b_base + o];
  }
  if (P.relu != 0u) {
    out = select(0.0, out, out > 0.0 || is_nan(out));
  }
  y[P.y_base + ((n / plane) * P.O + o) * plane + n % plane] = out;
}
