// NaN test on the bits: WGSL lets a compiler assume floats are never NaN, so `v != v` and
// ordered comparisons are no reliable test. NaN must propagate as PyTorch's does (ReLU and
// max-pool keep it), or a diverged net would look finite.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
