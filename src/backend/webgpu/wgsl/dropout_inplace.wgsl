// Inverted dropout in place: d = d * scale where the element's u32 >= threshold, else d * 0.
// Needs hash.wgsl.
struct Params { count: u32, seed: u32, stream: u32, index0: u32, threshold: u32, scale: f32, d_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> d: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count) {
    let keep = random_u32(P.seed, P.stream, P.index0 + i) >= P.threshold;
    d[P.d_base + i] = d[P.d_base + i] * select(0.0, P.scale, keep);
  }
}
