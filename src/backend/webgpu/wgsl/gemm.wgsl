// The tiled GEMM body shared by every convolution and linear op:
//   C[g][m][n] = sum over k in this split's slice of A(g, m, k) * B(g, k, n).
// An op part placed before this file (conv_forward.wgsl, linear_forward.wgsl, ...) supplies the
// operands as index arithmetic, split three ways so that no division runs in the inner loads:
//   make_a(g, m) -> ACtx, make_b(g, n) -> BCtx   what depends on the row m or column n only,
//                                                  computed once per workgroup tile;
//   make_k(g, k) -> KInfo                          what depends on k only, computed once per
//                                                  BK slice into a workgroup table;
//   load_a(ACtx, KInfo), load_b(BCtx, KInfo)       the element (called only inside the problem);
//   store_c(g, split, m, n, value)                 the epilogue (bias, accumulation, layout);
// plus the flags A_K_CONTIGUOUS / B_K_CONTIGUOUS (which index is contiguous in memory, so that
// neighbouring threads load neighbouring addresses) and a uniform `P` with the fields M, N, K,
// m_tiles, n_tiles, splits, k_chunk.
//
// Grid: y = (group * m_tiles + m_tile) * splits + split; x + z * num_workgroups.x = the n tile
// (z folds grids wider than 65,535 workgroups). Each workgroup computes a BM x BN tile of C
// through BK-deep slices of A and B staged in workgroup memory as vec4s of 4 neighbouring rows
// (columns). Each thread owns TM x TN elements: TM / 4 groups of 4 neighbouring rows and TN / 4
// groups of 4 neighbouring columns, the groups strided by the thread grid, so that one vec4
// read from workgroup memory feeds 4 (A) or 4 (B) multiply-adds per row, and neighbouring
// threads read neighbouring vec4s. Each slice is summed apart and then added in (two-level
// summation: rounding error grows with BK + K / BK terms rather than K; fc6's K is 9216).
// Tile rules (checked in gemm.ts): TM and TN multiples of 4; the vec4s of a slice,
// BK * BM / 4 and BK * BN / 4, multiples of the thread count; the thread count a multiple of BK
// and of BM / 4 and BN / 4.
// Operands are staged through to_operand (operand_f32.wgsl or operand_f16.wgsl, placed first:
// the precision) and multiplied and summed in float32 either way.
// The constants below are replaced by name when a pipeline is built (see gemm.ts).
const BM = 64u;
const BN = 64u;
const BK = 16u;
const TM = 4u;
const TN = 4u;
// On llvmpipe, fully unrolled tile loops take LLVM seconds per pipeline to compile (8 s instead
// of 1.5 s for a conv kernel); ROLLED = true there hides the trip counts from the compiler.
const ROLLED = false;
const QM = TM / 4u; // row groups per thread
const QN = TN / 4u; // column groups per thread
const BM4 = BM / 4u;
const BN4 = BN / 4u;
const THREADS_X = BN / TN;
const THREADS_Y = BM / TM;
const THREADS = THREADS_X * THREADS_Y;
const VA = (BK * BM4) / THREADS; // vec4s of A each thread stages per slice
const VB = (BK * BN4) / THREADS;
// A row of a slice in workgroup memory is BM4 + 1 vec4s long: the padding spreads the staging
// stores of neighbouring k over all banks.
const SA = BM4 + 1u;
const SB = BN4 + 1u;
// Along the contiguous index a thread's vec4s share k and differ in their 4 rows (columns);
// otherwise they share 4 rows (columns) and differ in k: one context per row of each vec4, or
// one per row of the one group.
const CA = select(4u, 4u * VA, A_K_CONTIGUOUS);
const CB = select(4u, 4u * VB, B_K_CONTIGUOUS);

// `n`, opaque to the compiler when ROLLED (P.k_chunk >= BK > 0, so the min is n).
fn trips(n: u32) -> u32 {
  if (ROLLED) {
    return min(n, P.k_chunk + n);
  }
  return n;
}

// (row group, k) within the tile of vec4 r of thread `lid`'s share of A; likewise B.
fn a_slot(lid: u32, r: u32) -> vec2u {
  if (A_K_CONTIGUOUS) {
    return vec2u(lid / BK + r * (THREADS / BK), lid % BK);
  }
  return vec2u(lid % BM4, lid / BM4 + r * (THREADS / BM4));
}

fn b_slot(lid: u32, r: u32) -> vec2u {
  if (B_K_CONTIGUOUS) {
    return vec2u(lid / BK + r * (THREADS / BK), lid % BK);
  }
  return vec2u(lid % BN4, lid / BN4 + r * (THREADS / BN4));
}

var<workgroup> tile_a: array<Operand4, BK * SA>; // [k][row group]
var<workgroup> tile_b: array<Operand4, BK * SB>; // [k][column group]
var<workgroup> out_of_range_seen: atomic<u32>; // mixed: an operand float16 cannot hold
var<workgroup> ktab: array<array<KInfo, BK>, 2>; // this slice's and the next one's

@compute @workgroup_size(THREADS_X, THREADS_Y, 1)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let n_tile = wid.x + wid.z * nwg.x;
  if (n_tile >= P.n_tiles) {
    return;
  }
  let split = wid.y % P.splits;
  let rest = wid.y / P.splits;
  let m_tile = rest % P.m_tiles;
  let g = rest / P.m_tiles;
  let m0 = m_tile * BM;
  let n0 = n_tile * BN;
  let k_begin = split * P.k_chunk;
  let k_end = min(P.K, k_begin + P.k_chunk);
  let tx = lid3.x;
  let ty = lid3.y;

  var a_ctx: array<ACtx, CA>;
  for (var c = 0u; c < CA; c++) {
    a_ctx[c] = make_a(g, m0 + 4u * a_slot(lid, c / 4u).x + c % 4u);
  }
  var b_ctx: array<BCtx, CB>;
  for (var c = 0u; c < CB; c++) {
    b_ctx[c] = make_b(g, n0 + 4u * b_slot(lid, c / 4u).x + c % 4u);
  }

  // acc[4 p + e][q][j]: row 4 (p THREADS_Y + ty) + e, column 4 (q THREADS_X + tx) + j.
  var acc: array<array<vec4f, QN>, TM>;
  if (lid < BK) {
    ktab[0][lid] = make_k(g, k_begin + lid);
  }
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    // The next slice's k table is filled while this one is in use: two barriers per slice.
    if (lid < BK) {
      ktab[cur ^ 1u][lid] = make_k(g, k0 + BK + lid);
    }
    for (var r = 0u; r < trips(VA); r++) {
      let s = a_slot(lid, r);
      var v = vec4f();
      if (k0 + s.y < k_end) {
        let ki = ktab[cur][s.y];
        for (var e = 0u; e < 4u; e++) {
          if (m0 + 4u * s.x + e < P.M) {
            v[e] = load_a(a_ctx[select(0u, 4u * r, A_K_CONTIGUOUS) + e], ki);
          }
        }
      }
      if (MIXED && out_of_range(v)) {
        atomicOr(&out_of_range_seen, 1u);
      }
      tile_a[s.y * SA + s.x] = to_operand(v);
    }
    for (var r = 0u; r < trips(VB); r++) {
      let s = b_slot(lid, r);
      var v = vec4f();
      if (k0 + s.y < k_end) {
        let ki = ktab[cur][s.y];
        for (var e = 0u; e < 4u; e++) {
          if (n0 + 4u * s.x + e < P.N) {
            v[e] = load_b(b_ctx[select(0u, 4u * r, B_K_CONTIGUOUS) + e], ki);
          }
        }
      }
      if (MIXED && out_of_range(v)) {
        atomicOr(&out_of_range_seen, 1u);
      }
      tile_b[s.y * SB + s.x] = to_operand(v);
    }
    workgroupBarrier();
    var slice = array<array<vec4f, QN>, TM>();
    for (var kk = 0u; kk < trips(BK); kk++) {
      var a: array<vec4f, QM>;
      for (var p = 0u; p < QM; p++) {
        a[p] = vec4f(tile_a[kk * SA + p * THREADS_Y + ty]);
      }
      for (var q = 0u; q < QN; q++) {
        let bv = vec4f(tile_b[kk * SB + q * THREADS_X + tx]);
        for (var i = 0u; i < TM; i++) {
          slice[i][q] = fma(vec4f(a[i / 4u][i % 4u]), bv, slice[i][q]);
        }
      }
    }
    for (var i = 0u; i < TM; i++) {
      for (var q = 0u; q < QN; q++) {
        acc[i][q] += slice[i][q];
      }
    }
    cur ^= 1u;
    workgroupBarrier();
  }
  if (MIXED) {
    // Read after the loop's last barrier: every thread's staging is in. The NaN is made from a
    // run-time value (a constant NaN is a compile error in WGSL).
    let seen = atomicLoad(&out_of_range_seen);
    if (seen != 0u) {
      let nan = vec4f(bitcast<f32>(0x7fc00000u | seen));
      for (var i = 0u; i < TM; i++) {
        for (var q = 0u; q < QN; q++) {
          acc[i][q] = nan;
        }
      }
    }
  }
  for (var i = 0u; i < trips(TM); i++) {
    let m = m0 + 4u * ((i / 4u) * THREADS_Y + ty) + i % 4u;
    if (m >= P.M) {
      continue;
    }
    for (var j = 0u; j < trips(TN); j++) {
      let n = n0 + 4u * ((j / 4u) * THREADS_X + tx) + j % 4u;
      if (n < P.N) {
        store_c(g, split, m, n, acc[i][j / 4u][j % 4u]);
      }
    }
  }
}
