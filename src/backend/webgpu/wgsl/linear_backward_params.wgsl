// Linear backward-params (weight gradient) as a GEMM over a block of output features:
//   M = the block's out features, N = in features, K = batch;
//   A(m, k) = dy[k][o0 + m], B(k, n) = x[k][n]; dw[o0 + m][n] += C (dw bound from row o0).
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  out_features: u32, o0: u32,
  x_base: u32, dy_base: u32, dw_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

const A_K_CONTIGUOUS = false;
const B_K_CONTIGUOUS = false;

struct ACtx { dy: u32 }
struct BCtx { x: u32 }
struct KInfo { k: u32 }

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.dy_base + P.o0 + m);
}

fn make_b(g: u32, n: u32) -> BCtx {
  return BCtx(P.x_base + n);
}

fn make_k(g: u32, k: u32) -> KInfo {
  return KInfo(k);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return dy[c.dy + ki.k * P.out_features];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  return x[c.x + ki.k * P.N];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  dw[P.dw_base + m * P.N + n] += v;
}
