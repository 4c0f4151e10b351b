// Convolution backward-data (the gradient of the input) as an implicit GEMM, per group g:
//   M = input channels of the group, N = batch * H * W, K = O/groups * KH * KW;
//   A(m, k) = w[g * oPerGroup + o][m][ky][kx] for k = (o, ky, kx),
//   B(k, n) = dy at the output position whose tap (ky, kx) lands on input pixel n, or 0 when
//   (iy + pad - ky) is not a multiple of the stride or falls outside the output;
//   dx[n][g * cPerGroup + m] = C (overwritten).
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  C: u32, H: u32, W: u32, O: u32, KH: u32, KW: u32, stride: u32, pad: u32, OH: u32, OW: u32,
  c_per_group: u32, o_per_group: u32,
  dy_base: u32, w_base: u32, dx_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = false;

struct ACtx { w: u32 } // w index of (first filter of g, channel m, 0, 0)
struct BCtx { dy: u32, yy: u32, xx: u32 } // dy index of (img, first filter of g); iy + pad, ix + pad
struct KInfo { w: u32, dy: u32, ky: u32, kx: u32 } // w offset of (o, ky, kx); dy offset of plane o

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.w_base + ((g * P.o_per_group) * P.c_per_group + m) * P.KH * P.KW);
}

fn make_b(g: u32, n: u32) -> BCtx {
  let plane = P.H * P.W;
  let q = n % plane;
  return BCtx(P.dy_base + ((n / plane) * P.O + g * P.o_per_group) * P.OH * P.OW, q / P.W + P.pad, q % P.W + P.pad);
}

fn make_k(g: u32, k: u32) -> KInfo {
  let taps = P.KH * P.KW;
  let o = k / taps;
  let t = k % taps;
  return KInfo(o * P.c_per_group * taps + t, o * P.OH * P.OW, t / P.KW, t % P.KW);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return w[c.w + ki.w];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  if (c.yy < ki.ky || c.xx < ki.kx) {
    return 0.0;
  }
  var oy = c.yy - ki.ky;
  var ox = c.xx - ki.kx;
  if (P.stride != 1u) {
    if (oy % P.stride != 0u || ox % P.stride != 0u) {
      return 0.0;
    }
    oy /= P.stride;
    ox /= P.stride;
  }
  if (oy >= P.OH || ox >= P.OW) {
    return 0.0;
  }
  return dy[c.dy + ki.dy + oy * P.OW + ox];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let plane = P.H * P.W;
  dx[P.dx_base + ((n / plane) * P.C + g * P.c_per_group + m) * plane + n % plane] = v;
}
