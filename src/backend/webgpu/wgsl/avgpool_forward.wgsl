// Adaptive average pool forward (PyTorch's windows: rows [floor(i H / OH), ceil((i + 1) H / OH))).
// One thread per output element.
struct Params { total: u32, H: u32, W: u32, OH: u32, OW: u32, x_base: u32, y_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let ox = i % P.OW;
  let oy = (i / P.OW) % P.OH;
  let plane = P.x_base + (i / (P.OW * P.OH)) * P.H * P.W;
  let y0 = (oy * P.H) / P.OH;
  let y1 = ((oy + 1u) * P.H + P.OH - 1u) / P.OH;
  let x0 = (ox * P.W) / P.OW;
  let x1 = ((ox + 1u) * P.W + P.OW - 1u) / P.OW;
  var sum = 0.0;
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) {
      sum += x[plane + iy * P.W + ix];
    }
  }
  y[P.y_base + i] = sum / f32((y1 - y0) * (x1 - x0));
}
