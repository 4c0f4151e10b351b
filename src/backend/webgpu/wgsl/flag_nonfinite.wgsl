// flag[0] = 1.0 (its bits, by atomicOr) when any of x[0 .. count) is NaN or infinite; otherwise
// flag is left as it is. The test is on the bits: WGSL lets compilers assume floats are finite.
struct Params { count: u32, x_base: u32, flag_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;

const ONE_BITS = 0x3f800000u; // 1.0f

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < P.count && (bitcast<u32>(x[P.x_base + i]) & 0x7f800000u) == 0x7f800000u) {
    atomicOr(&flag[P.flag_base], ONE_BITS);
  }
}
