// Linear forward as a GEMM (a part of gemm.wgsl) over a block of output features:
//   M = batch, N = the block's out features, K = in features;
//   A(m, k) = x[m][k], B(k, n) = w[o0 + n][k] (w bound from row o0: fc6's weight is larger than
//   some adapters' binding limit, so it is bound in blocks of rows), y[m][o0 + n] = C + bias,
//   then max(., 0) when relu (a ReLU fused by the backend).
struct Params {
  M: u32, N: u32, K: u32, m_tiles: u32, n_tiles: u32, splits: u32, k_chunk: u32,
  out_features: u32, o0: u32, has_bias: u32, relu: u32,
  x_base: u32, w_base: u32, b_base: u32, y_base: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const A_K_CONTIGUOUS = true;
const B_K_CONTIGUOUS = true;

struct ACtx { x: u32 }
struct BCtx { w: u32 }
struct KInfo { k: u32 }

fn make_a(g: u32, m: u32) -> ACtx {
  return ACtx(P.x_base + m * P.K);
}

fn make_b(g: u32, n: u32) -> BCtx {
  return BCtx(P.w_base + n * P.K);
}

fn make_k(g: u32, k: u32) -> KInfo {
  return KInfo(k);
}

fn load_a(c: ACtx, ki: KInfo) -> f32 {
  return x[c.x + ki.k];
}

fn load_b(c: BCtx, ki: KInfo) -> f32 {
  return w[c.w + ki.k];
}

fn store_c(g: u32, split: u32, m: u32, n: u32, v: f32) {
  var out = v;
  if (P.has_bias != 0u) {
    out += b[P.b_base + P.o0 + n];
  }
  if (P.relu != 0u) {
    out = select(0.0, out, out > 0.0 || is_nan(out));
  }
  y[P.y_base + m * P.out_features + P.o0 + n] = out;
}
