// Adaptive average pool backward as a gather: one thread per input element adds dy / area of
// every output window that contains it.
struct Params { total: u32, H: u32, W: u32, OH: u32, OW: u32, dy_base: u32, dx_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.total) {
    return;
  }
  let ix = i % P.W;
  let iy = (i / P.W) % P.H;
  let out_plane = P.dy_base + (i / (P.W * P.H)) * P.OH * P.OW;
  // Window o holds i exactly when floor(o H / OH) <= i < ceil((o + 1) H / OH).
  let oy_first = (iy * P.OH) / P.H;
  let oy_end = min(P.OH, ((iy + 1u) * P.OH + P.H - 1u) / P.H);
  let ox_first = (ix * P.OW) / P.W;
  let ox_end = min(P.OW, ((ix + 1u) * P.OW + P.W - 1u) / P.W);
  var sum = 0.0;
  for (var oy = oy_first; oy < oy_end; oy++) {
    let y0 = (oy * P.H) / P.OH;
    let y1 = ((oy + 1u) * P.H + P.OH - 1u) / P.OH;
    if (iy < y0 || iy >= y1) {
      continue;
    }
    for (var ox = ox_first; ox < ox_end; ox++) {
      let x0 = (ox * P.W) / P.OW;
      let x1 = ((ox + 1u) * P.W + P.OW - 1u) / P.OW;
      if (ix < x0 || ix >= x1) {
        continue;
      }
      sum += dy[out_plane + oy * P.OW + ox] / f32((y1 - y0) * (x1 - x0));
    }
  }
  dx[P.dx_base + i] = sum;
}
