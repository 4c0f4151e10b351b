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
// through BK-deep slices of A and B staged in workgroup memory; each thread owns TM x TN
// elements, strided by the thread grid so that neighbouring threads touch neighbouring
// columns, accumulated as vec4s. Each slice is summed apart and then added in (two-level
// summation: rounding error grows with BK + K / BK terms rather than K; fc6's K is 9216).
// The constants below are replaced by name when a pipeline is built (see gemm.ts).
const BM = 64u;
const BN = 64u;
const BK = 16u;
const TM = 4u;
const TN = 4u;
// On llvmpipe, fully unrolled tile loops take LLVM seconds per pipeline to compile (8 s instead
// of 1.5 s for a conv kernel); ROLLED = true there hides the trip counts from the compiler.
const ROLLED = false;
const QN = TN / 4u; // TN is a multiple of 4: the accumulators are vec4s
const THREADS_X = BN / TN;
const THREADS_Y = BM / TM;
const THREADS = THREADS_X * THREADS_Y;
const RA = (BK * BM) / THREADS; // elements of A each thread stages per slice
const RB = (BK * BN) / THREADS;
// Along the contiguous index a thread's elements share k and differ in m (or n); otherwise they
// share m (or n) and differ in k: one row (column) context per element, or one for all.
const CA = select(1u, RA, A_K_CONTIGUOUS);
const CB = select(1u, RB, B_K_CONTIGUOUS);

// `n`, opaque to the compiler when ROLLED (P.k_chunk >= BK > 0, so the min is n).
fn trips(n: u32) -> u32 {
  if (ROLLED) {
    return min(n, P.k_chunk + n);
  }
  return n;
}

// (row, k) within the tile of element r of thread `lid`'s share of A; likewise B.
fn a_slot(lid: u32, r: u32) -> vec2u {
  if (A_K_CONTIGUOUS) {
    return vec2u(lid / BK + r * (THREADS / BK), lid % BK);
  }
  return vec2u(lid % BM, lid / BM + r * (THREADS / BM));
}

fn b_slot(lid: u32, r: u32) -> vec2u {
  if (B_K_CONTIGUOUS) {
    return vec2u(lid / BK + r * (THREADS / BK), lid % BK);
  }
  return vec2u(lid % BN, lid / BN + r * (THREADS / BN));
}

var<workgroup> tile_a: array<f32, BK * BM>; // [k][m]
var<workgroup> tile_b: array<f32, BK * BN>; // [k][n]
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
  for (var r = 0u; r < CA; r++) {
    a_ctx[r] = make_a(g, m0 + a_slot(lid, r).x);
  }
  var b_ctx: array<BCtx, CB>;
  for (var r = 0u; r < CB; r++) {
    b_ctx[r] = make_b(g, n0 + b_slot(lid, r).x);
  }

  // acc[i][q][j]: row ty + i * THREADS_Y, column tx + (4 q + j) * THREADS_X.
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
    for (var r = 0u; r < trips(RA); r++) {
      let s = a_slot(lid, r);
      var v = 0.0;
      if (m0 + s.x < P.M && k0 + s.y < k_end) {
        v = load_a(a_ctx[select(0u, r, A_K_CONTIGUOUS)], ktab[cur][s.y]);
      }
      tile_a[s.y * BM + s.x] = v;
    }
    for (var r = 0u; r < trips(RB); r++) {
      let s = b_slot(lid, r);
      var v = 0.0;
      if (n0 + s.x < P.N && k0 + s.y < k_end) {
        v = load_b(b_ctx[select(0u, r, B_K_CONTIGUOUS)], ktab[cur][s.y]);
      }
      tile_b[s.y * BN + s.x] = v;
    }
    workgroupBarrier();
    var slice = array<array<vec4f, QN>, TM>();
    for (var kk = 0u; kk < trips(BK); kk++) {
      for (var q = 0u; q < QN; q++) {
        let c = kk * BN + tx + 4u * q * THREADS_X;
        let bv = vec4f(tile_b[c], tile_b[c + THREADS_X], tile_b[c + 2u * THREADS_X], tile_b[c + 3u * THREADS_X]);
        for (var i = 0u; i < TM; i++) {
          slice[i][q] = fma(vec4f(tile_a[kk * BM + ty + i * THREADS_Y]), bv, slice[i][q]);
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
  for (var i = 0u; i < trips(TM); i++) {
    let m = m0 + ty + i * THREADS_Y;
    if (m >= P.M) {
      continue;
    }
    for (var j = 0u; j < trips(TN); j++) {
      let n = n0 + tx + j * THREADS_X;
      if (n < P.N) {
        store_c(g, split, m, n, acc[i][j / 4u][j % 4u]);
      }
    }
  }
}
