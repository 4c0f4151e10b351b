// y = max(x, 0), NaN kept (as PyTorch).
struct Params { count: u32, x_base: u32, y_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count) {
    let v = x[P.x_base + i];
    y[P.y_base + i] = select(0.0, v, v > 0.0 || is_nan(v));
  }
}
