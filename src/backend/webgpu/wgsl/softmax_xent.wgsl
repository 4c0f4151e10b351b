// Softmax cross-entropy averaged over the batch, in one workgroup (the mean needs every row):
// thread t takes rows t, t + 256, ...; loss[0] = mean of log(sum exp(z - max)) + max - z[label];
// dlogits = (softmax - onehot) / batch * grad_scale when has_dlogits. Labels are class indices
// held as floats.
struct Params { batch: u32, classes: u32, has_dlogits: u32, grad_scale: f32, logits_base: u32, labels_base: u32, loss_base: u32, dlogits_base: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var total = 0.0;
  for (var n = lid; n < P.batch; n += 256u) {
    let row = P.logits_base + n * P.classes;
    var mx = logits[row];
    for (var k = 1u; k < P.classes; k++) {
      mx = max(mx, logits[row + k]);
    }
    var sum = 0.0;
    for (var k = 0u; k < P.classes; k++) {
      sum += exp(logits[row + k] - mx);
    }
    let label = u32(labels[P.labels_base + n]);
    total += log(sum) + mx - logits[row + label];
    if (P.has_dlogits != 0u) {
      let out = P.dlogits_base + n * P.classes;
      for (var k = 0u; k < P.classes; k++) {
        let prob = exp(logits[row + k] - mx) / sum;
        dlogits[out + k] = ((prob - select(0.0, 1.0, k == label)) / f32(P.batch)) * P.grad_scale;
      }
    }
  }
  partial[lid] = total;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (lid < half) {
      partial[lid] += partial[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    loss[P.loss_base] = partial[0] / f32(P.batch);
  }
}
