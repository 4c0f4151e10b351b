// SGD with momentum and weight decay over a block of parameters (see src/backend/cpu/sgd.ts):
//   paper (form 0):   v = m v - wd_lr w - lr g;  w = w + v
//   pytorch (form 1): v = m v + (g + wd w);      w = w - lr v
// with g first multiplied by grad_scale (1 / the loss scale, a power of two).
struct Params { count: u32, form: u32, lr: f32, momentum: f32, wd: f32, wd_lr: f32, grad_scale: f32, w_base: u32, g_base: u32, v_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.count) {
    return;
  }
  let wi = w[P.w_base + i];
  let gi = g[P.g_base + i] * P.grad_scale;
  var vi = v[P.v_base + i];
  if (P.form == 0u) {
    vi = P.momentum * vi - P.wd_lr * wi - P.lr * gi;
    w[P.w_base + i] = wi + vi;
  } else {
    vi = P.momentum * vi + (gi + P.wd * wi);
    w[P.w_base + i] = wi - P.lr * vi;
  }
  v[P.v_base + i] = vi;
}
