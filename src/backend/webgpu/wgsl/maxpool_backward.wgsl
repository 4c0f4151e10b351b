// Max-pool backward as a gather, no atomics: one thread per input element adds dy of every
// window that contains it and whose maximum it is (the argmax the forward pass recorded in
// `indices`, by the first-maximum rule), in the CPU's order (windows by row, then column).
struct Params { total: u32, H: u32, W: u32, OH: u32, OW: u32, size: u32, stride: u32, pad: u32, indices_base: u32, dy_base: u32, dx_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// First output index whose window [o * stride - pad, o * stride - pad + size) reaches i.
fn first_window(i: i32) -> i32 {
  let t = i + i32(P.pad) - i32(P.size) + 1;
  if (t <= 0) {
    return 0;
  }
  return (t + i32(P.stride) - 1) / i32(P.stride);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let ix = i32(i % P.W);
  let iy = i32((i / P.W) % P.H);
  let p = i / (P.W * P.H);
  let out_plane = p * P.OH * P.OW;
  let me = u32(iy) * P.W + u32(ix);
  let oy_last = min((iy + i32(P.pad)) / i32(P.stride), i32(P.OH) - 1);
  let ox_last = min((ix + i32(P.pad)) / i32(P.stride), i32(P.OW) - 1);
  var sum = 0.0;
  for (var oy = first_window(iy); oy <= oy_last; oy++) {
    for (var ox = first_window(ix); ox <= ox_last; ox++) {
      let o = out_plane + u32(oy) * P.OW + u32(ox);
      if (indices[P.indices_base + o] == me) {
        sum += dy[P.dy_base + o];
      }
    }
  }
  dx[P.dx_base + i] = sum;
}
