// Convolution backward-data (the gradient of the input) as an implicit GEMM, per group g, one
// dispatch per stride phase (py, px): the input pixels iy = py + stride i, ix = px + stride j
// receive only the taps ky = kyp + stride a, kx = kxp + stride b (kyp = (py + pad) % stride),
// from output row oy = i + qy - a (qy = (py + pad) / stride), column ox likewise; so no tap is
// tried that the stride skips, and no divisibility test runs (for stride 1: one phase, all taps).
//   M = input channels of the group, N = batch * Hp * Wp (the phase's pixels),
//   K = O/groups * KHp * KWp (the phase's taps);
//   A(m, k) = w[g * oPerGroup + o][m][ky][kx] for k = (o, a, b),
//   B(k, n) = dy[img][g * oPerGroup + o][oy][ox], or 0 where (oy, ox) falls outside the output;
//   dx[img][g * cPerGroup + m][iy][ix] = C (overwritten).
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  C: u32, H: u32, W: u32, O: u32, KH: u32, KW: u32, stride: u32, pad: u32, OH: u32, OW: u32,
  c_per_group: u32, o_per_group: u32,
  py: u32, px: u32, Hp: u32, Wp: u32, KHp: u32, KWp: u32, kyp: u32, kxp: u32, qy: u32, qx: u32,
  dy_base: u32, w_base: u32, dx_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = false;

struct ACtx { w: u32 } // w index of (first filter of g, channel m, 0, 0)
struct BCtx { dy: u32, yy: u32, xx: u32 } // dy index of (img, first filter of g); i + qy, j + qx
struct KInfo { w: u32, dy: u32, a: u32, b: u32 } // w offset of (o, ky, kx); dy offset of plane o; phase tap

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.w_base + ((g * P.o_per_group) * P.c_per_group + m) * P.KH * P.KW);
}

fn make_b(g: u32, n: u32) -> BCtx {
  let plane = P.Hp * P.Wp;
  let q = n % plane;
  return BCtx(P.dy_base + ((n / plane) * P.O + g * P.o_per_group) * P.OH * P.OW, q / P.Wp + P.qy, q % P.Wp + P.qx);
}

fn make_k(g: u32, k: u32) -> KInfo {
  let taps = P.KHp * P.KWp;
  let o = k / taps;
  let t = k % taps;
  let a = t / P.KWp;
  let b = t % P.KWp;
  let ky = P.kyp + a * P.stride;
  let kx = P.kxp + b * P.stride;
  return KInfo((o * P.c_per_group * P.KH + ky) * P.KW + kx, o * P.OH * P.OW, a, b);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return w[c.w + ki.w];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  if (c.yy < ki.a || c.xx < ki.b) {
    return 0.0;
  }
  let oy = c.yy - ki.a;
  let ox = c.xx - ki.b;
  if (oy >= P.OH || ox >= P.OW) {
    return 0.0;
  }
  return dy[c.dy + ki.dy + oy * P.OW + ox];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let plane = P.Hp * P.Wp;
  let q = n % plane;
  let iy = P.py + (q / P.Wp) * P.stride;
  let ix = P.px + (q % P.Wp) * P.stride;
  dx[P.dx_base + ((n / plane) * P.C + g * P.c_per_group + m) * P.H * P.W + iy * P.W + ix] = v;
}
