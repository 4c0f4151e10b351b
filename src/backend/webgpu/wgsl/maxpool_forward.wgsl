// Max-pool forward (see src/backend/cpu/pool.ts): one thread per output element; windows that
// overhang the input are clipped; the first maximum wins ties; a NaN wins over any number (the
// last NaN, as in PyTorch). The argmax (its index in the plane) goes to `indices` for the
// backward pass (maxpool_backward.wgsl), which then reads one value per window.
struct Params { total: u32, H: u32, W: u32, OH: u32, OW: u32, size: u32, stride: u32, pad: u32, x_base: u32, y_base: u32, indices_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let ox = i % P.OW;
  let oy = (i / P.OW) % P.OH;
  let plane = P.x_base + (i / (P.OW * P.OH)) * P.H * P.W;
  let y0 = i32(oy * P.stride) - i32(P.pad);
  let x0 = i32(ox * P.stride) - i32(P.pad);
  let y_end = min(y0 + i32(P.size), i32(P.H));
  let x_end = min(x0 + i32(P.size), i32(P.W));
  var best = -1;
  var best_value = 0.0;
  for (var iy = max(y0, 0); iy < y_end; iy++) {
    for (var ix = max(x0, 0); ix < x_end; ix++) {
      let v = x[plane + u32(iy) * P.W + u32(ix)];
      if (best < 0 || v > best_value || is_nan(v)) {
        best = iy * i32(P.W) + ix;
        best_value = v;
      }
    }
  }
  y[P.y_base + i] = best_value;
  indices[P.indices_base + i] = u32(best);
}
