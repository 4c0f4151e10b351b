// out[i] += sum over s of part[s * size + i]: folds the partial sums of a split-K GEMM into a
// parameter gradient (which accumulates). One thread per element, splits added in order.
struct Params { size: u32, splits: u32, part_base: u32, out_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.size) {
    return;
  }
  var s = 0.0;
  for (var k = 0u; k < P.splits; k++) {
    s += part[P.part_base + k * P.size + i];
  }
  out[P.out_base + i] += s;
}
