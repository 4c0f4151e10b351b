// GEMM operands as gemm.wgsl stages them in workgroup memory, fp32 precision: float32 as loaded.
const MIXED = false;
alias Operand4 = vec4f;

fn to_operand(v: vec4f) -> Operand4 {
  return v;
}

fn out_of_range(v: vec4f) -> bool {
  return false;
}
