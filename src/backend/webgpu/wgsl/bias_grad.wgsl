// Bias gradient: db[o] += sum over img < batch and p < inner of dy[(img * O + o) * inner + p]
// (inner = OH * OW for a convolution, 1 for a linear layer). One workgroup per channel; its
// threads stride over the plane (over the batch when inner = 1), then reduce in workgroup memory.
struct Params { O: u32, inner: u32, batch: u32, dy_base: u32, db_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.y * nwg.x + wid.x;
  if (o >= P.O) {
    return;
  }
  var s = 0.0;
  if (P.inner == 1u) {
    for (var img = lid; img < P.batch; img += 256u) {
      s += dy[P.dy_base + img * P.O + o];
    }
  } else {
    for (var img = 0u; img < P.batch; img++) {
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
    db[P.db_base + o] += partial[0];
  }
}
