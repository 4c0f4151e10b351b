// x = max(x, 0), NaN kept, in place (a buffer range may not be bound twice when one binding writes).
struct Params { count: u32, x_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count) {
    let v = x[P.x_base + i];
    x[P.x_base + i] = select(0.0, v, v > 0.0 || is_nan(v));
  }
}
