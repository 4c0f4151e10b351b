enable f16;
// GEMM operands as gemm.wgsl stages them in workgroup memory, mixed precision: rounded to
// float16 (half the workgroup memory and its traffic); gemm.wgsl multiplies and adds them in
// float32, as tensor cores do with f16 inputs and f32 accumulation. WGSL leaves the value of an
// out-of-range conversion undefined, so a value float16 cannot hold (|v| > 65504, inf, NaN) is
// caught on the float32 bits instead, and gemm.wgsl writes NaN over the tile it fed: an
// overflow is then seen (a skipped step under loss scaling, a NaN loss in the forward pass)
// rather than folded silently into a finite result.
const MIXED = true;
alias Operand4 = vec4<f16>;

fn to_operand(v: vec4f) -> Operand4 {
  return vec4<f16>(v);
}

fn out_of_range(v: vec4f) -> bool {
  return any((bitcast<vec4u>(v) & vec4u(0x7fffffffu)) > vec4u(0x477fe000u)); // 65504
}
