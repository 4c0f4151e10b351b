// d = d where the forward output y > 0 or is NaN (as PyTorch), else 0, in place (dx is dy).
struct Params { count: u32, y_base: u32, d_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count && !(y[P.y_base + i] > 0.0 || is_nan(y[P.y_base + i]))) {
    d[P.d_base + i] = 0.0;
  }
}
