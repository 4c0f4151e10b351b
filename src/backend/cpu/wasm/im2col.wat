;; Unfolding one image for convolution as a matrix product, and its adjoint, on the CPU backend's
;; memory; driven by ../conv_fast.ts. The patch matrix of an image has a row per (c, ky, kx)
;; (k = (c * KH + ky) * KW + kx) and a column per output pixel p = oy * OW + ox, and holds
;; x[c, oy*stride - pad + ky, ox*stride - pad + kx], 0 where that falls in the padding (conv.ts's
;; loops, which the tests compare with). With stride 1, runs of four floats move as one vector.
;; All addresses are byte addresses; sizes and leading dimensions count floats.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; dst [C, H + 2 pad, W + 2 pad] = the image x [C, H, W] with `pad` zeros around each plane, so
  ;; that unfolding it needs no bounds: every window of the padded image lies inside it.
  (func (export "pad_image") (param $x i32) (param $C i32) (param $H i32) (param $W i32) (param $pad i32) (param $dst i32)
    (local $Wp i32) (local $c i32) (local $iy i32) (local $s i32) (local $o i32)
    (local.set $Wp (i32.add (local.get $W) (i32.shl (local.get $pad) (i32.const 1))))
    (memory.fill (local.get $dst) (i32.const 0)
      (i32.shl (i32.mul (local.get $C) (i32.mul (local.get $Wp) (i32.add (local.get $H) (i32.shl (local.get $pad) (i32.const 1))))) (i32.const 2)))
    (local.set $s (local.get $x))
    (local.set $o (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $pad) (local.get $Wp)) (local.get $pad)) (i32.const 2))))
    (local.set $c (i32.const 0))
    (block $done (loop $plane
      (br_if $done (i32.ge_u (local.get $c) (local.get $C)))
      (local.set $iy (i32.const 0))
      (loop $row
        (memory.copy (local.get $o) (local.get $s) (i32.shl (local.get $W) (i32.const 2)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $W) (i32.const 2))))
        (local.set $o (i32.add (local.get $o) (i32.shl (local.get $Wp) (i32.const 2))))
        (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
        (br_if $row (i32.lt_u (local.get $iy) (local.get $H))))
      ;; past this plane's bottom padding and the next plane's top padding
      (local.set $o (i32.add (local.get $o) (i32.shl (i32.mul (i32.shl (local.get $pad) (i32.const 1)) (local.get $Wp)) (i32.const 2))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $plane)))
  )

  ;; Columns p0..p0+pc-1 of patch row (ky, kx) of the padded plane at `plane` (rows Wp floats long)
  ;; into out, contiguous: one run per output row. With stride 1 a run moves four floats at a time,
  ;; its last vector spilling up to three floats past the run (callers fill in order and leave
  ;; room after the last row).
  (func $fill_row
    (param $plane i32) (param $Wp i32) (param $ky i32) (param $kx i32) (param $stride i32) (param $OW i32)
    (param $p0 i32) (param $pc i32) (param $out i32)
    (local $oy i32) (local $ox i32) (local $run i32) (local $left i32) (local $j i32) (local $s i32) (local $sb i32)
    (local.set $sb (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $oy (i32.div_u (local.get $p0) (local.get $OW)))
    (local.set $ox (i32.rem_u (local.get $p0) (local.get $OW)))
    (local.set $left (local.get $pc))
    (block $done (loop $segments
      (br_if $done (i32.eqz (local.get $left)))
      ;; columns ox..ox+run-1 of output row oy
      (local.set $run (i32.sub (local.get $OW) (local.get $ox)))
      (if (i32.gt_u (local.get $run) (local.get $left)) (then (local.set $run (local.get $left))))
      (local.set $s (i32.add (local.get $plane) (i32.shl
        (i32.add (i32.mul (i32.add (i32.mul (local.get $oy) (local.get $stride)) (local.get $ky)) (local.get $Wp))
                 (i32.add (i32.mul (local.get $ox) (local.get $stride)) (local.get $kx)))
        (i32.const 2))))
      (local.set $j (i32.const 0))
      (if (i32.eq (local.get $stride) (i32.const 1))
        (then
          (loop $vec
            (v128.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
              (v128.load (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br_if $vec (i32.lt_s (local.get $j) (local.get $run)))))
        (else
          (loop $gather
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.load (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $sb)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $gather (i32.lt_s (local.get $j) (local.get $run))))))
      (local.set $out (i32.add (local.get $out) (i32.shl (local.get $run) (i32.const 2))))
      (local.set $left (i32.sub (local.get $left) (local.get $run)))
      (local.set $ox (i32.const 0))
      (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
      (br $segments)))
  )

  ;; Rows k0..k0+kc-1, columns p0..p0+pc-1 of the patch matrix of an image, read from its padded
  ;; copy at xp ([C, Hp, Wp], pad_image), into the GEMM's packed panels of 8 (../gemm_fast.ts),
  ;; pstride bytes apart:
  ;;   $alongPixels = 1, a B block [patch rows, pixels] (the forward's): panels of 8 pixels,
  ;;     element (r, j) at dst + (j/8)*pstride + r*32 + (j%8)*4;
  ;;   $alongPixels = 0, a B block [pixels, patch rows] (the weight gradient's col^T): panels of
  ;;     8 patch rows, element (r, j) at dst + (r/8)*pstride + j*32 + (r%8)*4;
  ;; with r = k - k0 and j = p - p0. Eight rows at a time are filled into `rows` (8 * pc + 4
  ;; floats, in L1), then moved as vectors: 8-float chunks along pixels, 4x4 transposes along rows.
  ;; Lanes of a last, partial panel get whatever `rows` held (the GEMM ignores them).
  (func (export "im2col_panels")
    (param $xp i32) (param $Hp i32) (param $Wp i32) (param $KH i32) (param $KW i32) (param $stride i32) (param $OW i32)
    (param $k0 i32) (param $kc i32) (param $p0 i32) (param $pc i32) (param $dst i32) (param $pstride i32)
    (param $alongPixels i32) (param $rows i32)
    (local $r8 i32) (local $k i32) (local $kk i32) (local $hw i32) (local $i i32)
    (local $j i32) (local $src i32) (local $o i32) (local $rb i32) (local $half i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $kk (i32.mul (local.get $KH) (local.get $KW)))
    (local.set $hw (i32.mul (local.get $Hp) (local.get $Wp)))
    (local.set $rb (i32.shl (local.get $pc) (i32.const 2)))   ;; bytes per row of `rows`
    (local.set $r8 (i32.const 0))
    (loop $blocks
      ;; fill rows r8..r8+7 (those below kc)
      (local.set $i (i32.const 0))
      (loop $fill
        (local.set $k (i32.add (local.get $k0) (i32.add (local.get $r8) (local.get $i))))
        (if (i32.lt_u (i32.add (local.get $r8) (local.get $i)) (local.get $kc))
          (then (call $fill_row
            (i32.add (local.get $xp) (i32.shl (i32.mul (i32.div_u (local.get $k) (local.get $kk)) (local.get $hw)) (i32.const 2)))
            (local.get $Wp)
            (i32.div_u (i32.rem_u (local.get $k) (local.get $kk)) (local.get $KW)) (i32.rem_u (local.get $k) (local.get $KW))
            (local.get $stride) (local.get $OW) (local.get $p0) (local.get $pc)
            (i32.add (local.get $rows) (i32.mul (local.get $i) (local.get $rb))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $fill (i32.lt_u (local.get $i) (i32.const 8))))
      (if (local.get $alongPixels)
        (then
          ;; pixels 8q..8q+7 of rows r8.. -> dst + q*pstride + (r8+i)*32: panel by panel, so that
          ;; each visit writes whole cache lines (pstride is often a multiple of 4 KiB, and
          ;; row-by-row writes 32 bytes into every panel would all land in one L1 set)
          (local.set $j (i32.const 0))
          (local.set $o (i32.add (local.get $dst) (i32.shl (local.get $r8) (i32.const 5))))
          (loop $chunk
            (local.set $src (i32.add (local.get $rows) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $i (i32.const 0))
            (block $rowsDone (loop $row
              (br_if $rowsDone (i32.ge_u (i32.add (local.get $r8) (local.get $i)) (local.get $kc)))
              (br_if $rowsDone (i32.ge_u (local.get $i) (i32.const 8)))
              (v128.store (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 5))) (v128.load (local.get $src)))
              (v128.store offset=16 (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 5))) (v128.load offset=16 (local.get $src)))
              (local.set $src (i32.add (local.get $src) (local.get $rb)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $row)))
            (local.set $o (i32.add (local.get $o) (local.get $pstride)))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br_if $chunk (i32.lt_u (local.get $j) (local.get $pc)))))
        (else
          ;; rows r8..r8+3 (half 0) and r8+4..r8+7 (half 1), pixels j..j+3, transposed:
          ;; pixel j's four values -> dst + (r8/8)*pstride + j*32 + half*16
          (local.set $half (i32.const 0))
          (loop $halves
            (local.set $src (i32.add (local.get $rows) (i32.mul (i32.shl (local.get $half) (i32.const 2)) (local.get $rb))))
            (local.set $o (i32.add (i32.add (local.get $dst) (i32.mul (i32.shr_u (local.get $r8) (i32.const 3)) (local.get $pstride)))
              (i32.shl (local.get $half) (i32.const 4))))
            (local.set $j (i32.const 0))
            (loop $quad
              (local.set $v0 (v128.load (local.get $src)))
              (local.set $v1 (v128.load (i32.add (local.get $src) (local.get $rb))))
              (local.set $v2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rb) (i32.const 1)))))
              (local.set $v3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $rb) (i32.const 3)))))
              (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
              (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
              (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
              (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
              ;; the last quad of a row may hold 1..3 pixels: store only those
              (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
              (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $pc)) (then
                (v128.store offset=32 (local.get $o) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))))
              (if (i32.lt_u (i32.add (local.get $j) (i32.const 2)) (local.get $pc)) (then
                (v128.store offset=64 (local.get $o) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))))
              (if (i32.lt_u (i32.add (local.get $j) (i32.const 3)) (local.get $pc)) (then
                (v128.store offset=96 (local.get $o) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))))
              (local.set $src (i32.add (local.get $src) (i32.const 16)))
              (local.set $o (i32.add (local.get $o) (i32.const 128)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br_if $quad (i32.lt_u (local.get $j) (local.get $pc))))
            (local.set $half (i32.add (local.get $half) (i32.const 1)))
            (br_if $halves (i32.lt_u (local.get $half) (i32.const 2))))))
      (local.set $r8 (i32.add (local.get $r8) (i32.const 8)))
      (br_if $blocks (i32.lt_u (local.get $r8) (local.get $kc))))
  )

  ;; The adjoint of im2col over a whole image: x[C, H, W] += the patch matrix col[C*KH*KW, OH*OW]
  ;; (leading dimension ldc) folded back, row by row of col (so each element of x receives its
  ;; contributions in one fixed order). With $zero, x is cleared first.
  (func (export "col2im")
    (param $col i32) (param $ldc i32) (param $x i32) (param $C i32) (param $H i32) (param $W i32)
    (param $KH i32) (param $KW i32) (param $stride i32) (param $pad i32) (param $OH i32) (param $OW i32)
    (param $zero i32)
    (local $k i32) (local $rows i32) (local $kk i32) (local $plane i32) (local $ky i32) (local $kx i32)
    (local $oy i32) (local $iy i32) (local $ix0 i32) (local $lo i32) (local $hi i32) (local $j i32)
    (local $s i32) (local $d i32) (local $end i32)
    (if (local.get $zero)
      (then (memory.fill (local.get $x) (i32.const 0)
        (i32.shl (i32.mul (local.get $C) (i32.mul (local.get $H) (local.get $W))) (i32.const 2)))))
    (local.set $kk (i32.mul (local.get $KH) (local.get $KW)))
    (local.set $rows (i32.mul (local.get $C) (local.get $kk)))
    (local.set $k (i32.const 0))
    (loop $row
      (local.set $plane (i32.add (local.get $x)
        (i32.shl (i32.mul (i32.div_u (local.get $k) (local.get $kk)) (i32.mul (local.get $H) (local.get $W))) (i32.const 2))))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $k) (local.get $kk)) (local.get $KW)))
      (local.set $kx (i32.rem_u (local.get $k) (local.get $KW)))
      ;; valid output columns [lo, hi): 0 <= ox*stride - pad + kx < W
      (local.set $ix0 (i32.sub (local.get $kx) (local.get $pad)))
      (local.set $lo (i32.const 0))
      (if (i32.lt_s (local.get $ix0) (i32.const 0))
        (then (local.set $lo (i32.div_u
          (i32.add (i32.sub (i32.const 0) (local.get $ix0)) (i32.sub (local.get $stride) (i32.const 1)))
          (local.get $stride)))))
      (local.set $hi (i32.const 0))
      (if (i32.lt_s (local.get $ix0) (local.get $W))
        (then (local.set $hi (i32.add (i32.div_u
          (i32.sub (i32.sub (local.get $W) (i32.const 1)) (local.get $ix0)) (local.get $stride)) (i32.const 1)))))
      (if (i32.gt_s (local.get $hi) (local.get $OW)) (then (local.set $hi (local.get $OW))))
      (if (i32.gt_s (local.get $lo) (local.get $hi)) (then (local.set $lo (local.get $hi))))
      (local.set $oy (i32.const 0))
      (loop $orow
        (local.set $iy (i32.sub (i32.add (i32.mul (local.get $oy) (local.get $stride)) (local.get $ky)) (local.get $pad)))
        (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
          (then
            (local.set $s (i32.add (local.get $col) (i32.shl
              (i32.add (i32.mul (local.get $k) (local.get $ldc)) (i32.add (i32.mul (local.get $oy) (local.get $OW)) (local.get $lo)))
              (i32.const 2))))
            (local.set $d (i32.add (local.get $plane) (i32.shl
              (i32.add (i32.mul (local.get $iy) (local.get $W)) (i32.add (local.get $ix0) (i32.mul (local.get $lo) (local.get $stride))))
              (i32.const 2))))
            (local.set $j (local.get $lo))
            (if (i32.eq (local.get $stride) (i32.const 1))
              (then
                (block $v (loop $vec
                  (br_if $v (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $hi)))
                  (v128.store (local.get $d) (f32x4.add (v128.load (local.get $d)) (v128.load (local.get $s))))
                  (local.set $s (i32.add (local.get $s) (i32.const 16)))
                  (local.set $d (i32.add (local.get $d) (i32.const 16)))
                  (local.set $j (i32.add (local.get $j) (i32.const 4)))
                  (br $vec)))))
            (block $c (loop $one
              (br_if $c (i32.ge_s (local.get $j) (local.get $hi)))
              (f32.store (local.get $d) (f32.add (f32.load (local.get $d)) (f32.load (local.get $s))))
              (local.set $s (i32.add (local.get $s) (i32.const 4)))
              (local.set $d (i32.add (local.get $d) (i32.shl (local.get $stride) (i32.const 2))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $one)))))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br_if $orow (i32.lt_u (local.get $oy) (local.get $OH))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $row (i32.lt_u (local.get $k) (local.get $rows))))
  )
)
