// Network input from stored uint8 images (see src/backend/cpu/crops.ts): output element x of
// crop k, channel c, row y is
//   (pixel - mean + colour[c]) * scale[c] at source (view.y + y, view.x + x, or mirrored),
// with crop k's view and colour in params[6k .. 6k + 5] = x, y, flip, colour 0..2. One thread
// per output row: the index arithmetic is done once per row, not per element.
// Pixels are bytes packed four to a u32, little-endian; byte0 is the first image's byte offset
// within the first bound word.
struct Params { rows: u32, C: u32, H: u32, W: u32, crop: u32, views: u32, byte0: u32, scale0: f32, scale1: f32, scale2: f32, pixels_base: u32, params_base: u32, mean_base: u32, out_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * 64u + lid; // output row: (k * C + c) * crop + y
  if (r >= P.rows) {
    return;
  }
  let y = r % P.crop;
  let c = (r / P.crop) % P.C;
  let k = r / (P.crop * P.C);
  let p = P.params_base + 6u * k;
  let vx = u32(params[p]);
  let flip = params[p + 2u] == 1.0;
  let add = params[p + 3u + c];
  let scale = select(select(P.scale2, P.scale1, c == 1u), P.scale0, c == 0u);
  let row = c * P.H * P.W + (u32(params[p + 1u]) + y) * P.W + vx; // the window's first column
  let image = P.byte0 + (k / P.views) * P.C * P.H * P.W;
  let o = P.out_base + r * P.crop;
  for (var x = 0u; x < P.crop; x++) {
    let at = row + select(x, P.crop - 1u - x, flip);
    let byte = image + at;
    let pixel = f32((pixels[P.pixels_base + byte / 4u] >> (8u * (byte % 4u))) & 255u);
    out[o + x] = (pixel - mean[P.mean_base + at] + add) * scale;
  }
}
