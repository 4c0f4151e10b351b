// Linear backward-data as a GEMM over a block of output features [o0, o0 + K):
//   M = batch, N = in features, K = the block's out features;
//   A(m, k) = dy[m][o0 + k], B(k, n) = w[o0 + k][n] (w bound from row o0);
//   dx[m][n] = C for the first block, dx[m][n] + C for the next ones.
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  out_features: u32, o0: u32, accumulate: u32,
  dy_base: u32, w_base: u32, dx_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = false;

struct ACtx { dy: u32 }
struct BCtx { w: u32 }
struct KInfo { k: u32 }

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.dy_base + m * P.out_features + P.o0);
}

fn make_b(g: u32, n: u32) -> BCtx {
  return BCtx(P.w_base + n);
}

fn make_k(g: u32, k: u32) -> KInfo {
  return KInfo(k);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return dy[c.dy + ki.k];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  return w[c.w + ki.k * P.N];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let i = P.dx_base + m * P.N + n;
  if (P.accumulate != 0u) {
    dx[i] += v;
  } else {
    dx[i] = v;
  }
}
