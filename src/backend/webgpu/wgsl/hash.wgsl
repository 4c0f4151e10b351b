// The WGSL twin of src/rng/hash.ts: u32 arithmetic wraps like Math.imul, so every value equals
// the TypeScript one bit for bit. A part (no entry point) placed before the kernels that use it.
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn random_u32(seed: u32, stream: u32, index: u32) -> u32 {
  return mix32((mix32(mix32(index) ^ seed)) + stream);
}
