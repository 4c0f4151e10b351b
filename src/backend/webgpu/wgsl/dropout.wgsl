// Inverted dropout (forward and backward alike): dst = src * scale where the element's u32
// (seed, stream, index0 + i) >= threshold, else src * 0 (so NaN stays NaN, as in PyTorch).
// Needs hash.wgsl.
struct Params { count: u32, seed: u32, stream: u32, index0: u32, threshold: u32, scale: f32, src_base: u32, dst_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count) {
    let keep = random_u32(P.seed, P.stream, P.index0 + i) >= P.threshold;
    dst[P.dst_base + i] = src[P.src_base + i] * select(0.0, P.scale, keep);
  }
}
