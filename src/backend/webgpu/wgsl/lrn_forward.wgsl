// Local response normalization across channels (see src/backend/cpu/lrn.ts):
//   y = x / (k + a * sum of x^2 over channels [c - lo, c + hi])^beta, clipped to [0, C).
// One thread per element of x: [batch, C, HW].
struct Params { total: u32, C: u32, HW: u32, lo: u32, hi: u32, beta_is_3_4: u32, a: f32, k: f32, beta: f32, x_base: u32, y_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn pow_neg_beta(s: f32) -> f32 {
  if (P.beta_is_3_4 != 0u) {
    let r = sqrt(s);
    return 1.0 / (r * sqrt(r));
  }
  return pow(s, -P.beta);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let p = i % P.HW;
  let c = (i / P.HW) % P.C;
  let sample = i - c * P.HW - p; // index of (img, 0, 0)
  let first = select(0u, c - P.lo, c >= P.lo);
  let last = min(P.C - 1u, c + P.hi);
  var sum = 0.0;
  for (var j = first; j <= last; j++) {
    let v = x[P.x_base + sample + j * P.HW + p];
    sum += v * v;
  }
  y[P.y_base + i] = x[P.x_base + i] * pow_neg_beta(P.k + P.a * sum);
}
