// LRN backward (see src/backend/cpu/lrn.ts): with s_c = k + a * sum of x^2 over window(c),
//   dx_i = dy_i * s_i^-beta - 2 a beta x_i * sum over channels c whose window holds i of dy_c y_c / s_c.
// One thread per element; no scratch memory.
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

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let p = i % P.HW;
  let c = (i / P.HW) % P.C;
  let sample = i - c * P.HW - p;
  // Channels whose windows contain c: [c - hi, c + lo]. Their denominators come from one
  // running sum of squares, window [j - lo, j + hi], moved a channel at a time.
  let first = select(0u, c - P.hi, c >= P.hi);
  let last = min(P.C - 1u, c + P.lo);
  var squares = 0.0;
  for (var j = select(0u, first - P.lo, first >= P.lo); j <= min(P.C - 1u, first + P.hi); j++) {
    let v = x[P.x_base + sample + j * P.HW + p];
    squares += v * v;
  }
  var acc = 0.0;
  var own = 0.0; // s_c
  for (var j = first; j <= last; j++) {
    if (j > first) {
      if (j + P.hi < P.C) {
        let v = x[P.x_base + sample + (j + P.hi) * P.HW + p];
        squares += v * v;
      }
      if (j > P.lo) {
        let v = x[P.x_base + sample + (j - 1u - P.lo) * P.HW + p];
        squares -= v * v;
      }
    }
    let s = P.k + P.a * squares;
    let at = sample + j * P.HW + p;
    acc += dy[P.dy_base + at] * y[P.y_base + at] / s;
    if (j == c) {
      own = s;
    }
  }
  let two_a_beta = 2.0 * P.a * P.beta;
  dx[P.dx_base + i] = dy[P.dy_base + i] * pow_neg_beta(own) - two_a_beta * x[P.x_base + i] * acc;
}
