// Bias gradient: db[o] += sum over img < batch and p < inner of dy[(img * O + o) * inner + p]
// (inner = OH * OW for a convolution, 1 for a linear layer). One workgroup per channel and
// chunk of `chunk` images; its threads stride over the chunk's planes (over the images when
// inner = 1), then reduce in workgroup memory. With one chunk the sum goes into db; with
// several, chunk s writes part[s * O + o] and sum_splits.wgsl adds them into db in order.
struct Params { O: u32, inner: u32, batch: u32, chunk: u32, splits: u32, dy_base: u32, db_base: u32, part_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.y * nwg.x + wid.x;
  if (w >= P.O * P.splits) {
    return;
  }
  let o = w % P.O;
  let split = w / P.O;
  let first = split * P.chunk;
  let end = min(P.batch, first + P.chunk);
  var s = 0.0;
  if (P.inner == 1u) {
    for (var img = first + lid; img < end; img += 256u) {
      s += dy[P.dy_base + img * P.O + o];
    }
  } else {
    for (var img = first; img < end; img++) {
      let plane = P.dy_base + (img * P.O + o) * P.inner;
      for (var p = lid; p < P.inner; p += 256u) {
        s += dy[plane + p];
      }
    }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) {
      partial[lid] += partial[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    if (P.splits == 1u) {
      db[P.db_base + o] += partial[0];
    } else {
      part[P.part_base + split * P.O + o] = partial[0];
    }
  }
}
