// LRN backward (see src/backend/cpu/lrn.ts): with s_c = k + a * sum of x^2 over window(c),
//   dx_i = dy_i * s_i^-beta - 2 a beta x_i * sum over channels c whose window holds i of dy_c y_c / s_c.
// One thread per element; the windows' sums are recomputed (no scratch memory).
struct Params { total: u32, C: u32, HW: u32, lo: u32, hi: u32, beta_is_3_4: u32, a: f32, k: f32, beta: f32, x_base: u32, y_base: u32, dy_base: u32, dx_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn pow_neg_beta(s: f32) -> f32 {
  if (P.beta_is_3_4 != 0u) {
    let r = sqrt(s);
    return 1.0 / (r * sqrt(r));
  }
  return pow(s, -P.beta);
}

// s_c at pixel p of the sample starting at `sample`.
fn denominator(sample: u32, c: u32, p: u32) -> f32 {
  let first = select(0u, c - P.lo, c >= P.lo);
  let last = min(P.C - 1u, c + P.hi);
  var sum = 0.0;
  for (var j = first; j <= last; j++) {
    let v = x[P.x_base + sample + j * P.HW + p];
    sum += v * v;
  }
  return P.k + P.a * sum;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let p = i % P.HW;
  let c = (i / P.HW) % P.C;
  let sample = i - c * P.HW - p;
  // Channels whose windows contain c: [c - hi, c + lo].
  let first = select(0u, c - P.hi, c >= P.hi);
  let last = min(P.C - 1u, c + P.lo);
  var acc = 0.0;
  for (var j = first; j <= last; j++) {
    let at = sample + j * P.HW + p;
    acc += dy[P.dy_base + at] * y[P.y_base + at] / denominator(sample, j, p);
  }
  let two_a_beta = 2.0 * P.a * P.beta;
  dx[P.dx_base + i] = dy[P.dy_base + i] * pow_neg_beta(denominator(sample, c, p)) - two_a_beta * x[P.x_base + i] * acc;
}
