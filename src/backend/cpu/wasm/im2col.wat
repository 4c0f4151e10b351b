;; Unfolding one image for convolution as a matrix product, and its adjoint, on the CPU backend's
;; memory; driven by ../conv_fast.ts. The layouts of ../conv_gemm.ts's TypeScript (the loops it
;; replaces): the patch matrix of an image has a row per (c, ky, kx) (k = (c * KH + ky) * KW + kx)
;; and a column per output pixel p = oy * OW + ox, and holds x[c, oy*stride - pad + ky,
;; ox*stride - pad + kx], 0 where that falls in the padding.
;; With stride 1 the copies run four floats at a time (unaligned v128 loads and stores).
;; All addresses are byte addresses; sizes and leading dimensions count floats.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Rows k0..k0+kc-1, columns p0..p0+pc-1 of the patch matrix of the image at x ([C, H, W]) into
  ;; dst, row-major with leading dimension ldd.
  (func (export "im2col")
    (param $x i32) (param $H i32) (param $W i32) (param $KH i32) (param $KW i32)
    (param $stride i32) (param $pad i32) (param $OW i32)
    (param $k0 i32) (param $kc i32) (param $p0 i32) (param $pc i32) (param $dst i32) (param $ldd i32)
    (local $r i32) (local $k i32) (local $plane i32) (local $ky i32) (local $kx i32)
    (local $p i32) (local $pend i32) (local $oy i32) (local $ox i32) (local $run i32)
    (local $iy i32) (local $ix0 i32) (local $lo i32) (local $hi i32) (local $j i32)
    (local $o i32) (local $s i32) (local $kk i32)
    (local.set $kk (i32.mul (local.get $KH) (local.get $KW)))
    (local.set $r (i32.const 0))
    (loop $rows
      (local.set $k (i32.add (local.get $k0) (local.get $r)))
      (local.set $plane (i32.add (local.get $x)
        (i32.shl (i32.mul (i32.div_u (local.get $k) (local.get $kk)) (i32.mul (local.get $H) (local.get $W))) (i32.const 2))))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $k) (local.get $kk)) (local.get $KW)))
      (local.set $kx (i32.rem_u (local.get $k) (local.get $KW)))
      (local.set $o (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $ldd)) (i32.const 2))))
      (local.set $p (local.get $p0))
      (local.set $pend (i32.add (local.get $p0) (local.get $pc)))
      (local.set $oy (i32.div_u (local.get $p0) (local.get $OW)))
      (local.set $ox (i32.rem_u (local.get $p0) (local.get $OW)))
      (loop $segments
        ;; columns ox..ox+run-1 of output row oy
        (local.set $run (i32.sub (local.get $OW) (local.get $ox)))
        (if (i32.gt_u (local.get $run) (i32.sub (local.get $pend) (local.get $p)))
          (then (local.set $run (i32.sub (local.get $pend) (local.get $p)))))
        (local.set $iy (i32.sub (i32.add (i32.mul (local.get $oy) (local.get $stride)) (local.get $ky)) (local.get $pad)))
        (local.set $ix0 (i32.sub (i32.add (i32.mul (local.get $ox) (local.get $stride)) (local.get $kx)) (local.get $pad)))
        ;; valid columns j in [lo, hi): 0 <= ix0 + j*stride < W (none when the row is padding)
        (local.set $lo (i32.const 0))
        (local.set $hi (i32.const 0))
        (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
          (then
            (if (i32.lt_s (local.get $ix0) (i32.const 0))
              (then (local.set $lo (i32.div_u
                (i32.add (i32.sub (i32.const 0) (local.get $ix0)) (i32.sub (local.get $stride) (i32.const 1)))
                (local.get $stride)))))
            (if (i32.lt_s (local.get $ix0) (local.get $W))
              (then (local.set $hi (i32.add (i32.div_u
                (i32.sub (i32.sub (local.get $W) (i32.const 1)) (local.get $ix0)) (local.get $stride)) (i32.const 1)))))
            (if (i32.gt_s (local.get $hi) (local.get $run)) (then (local.set $hi (local.get $run))))
            (if (i32.gt_s (local.get $lo) (local.get $hi)) (then (local.set $lo (local.get $hi))))))
        ;; zeros before lo
        (local.set $j (i32.const 0))
        (block $z1 (loop $zero1
          (br_if $z1 (i32.ge_s (local.get $j) (local.get $lo)))
          (f32.store (local.get $o) (f32.const 0))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $zero1)))
        ;; x[c, iy, ix0 + j*stride] for j in [lo, hi)
        (local.set $s (i32.add (local.get $plane)
          (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $W))
            (i32.add (local.get $ix0) (i32.mul (local.get $lo) (local.get $stride)))) (i32.const 2))))
        (if (i32.eq (local.get $stride) (i32.const 1))
          (then
            (block $v (loop $vec
              (br_if $v (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $hi)))
              (v128.store (local.get $o) (v128.load (local.get $s)))
              (local.set $o (i32.add (local.get $o) (i32.const 16)))
              (local.set $s (i32.add (local.get $s) (i32.const 16)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $vec)))))
        (block $c (loop $copy
          (br_if $c (i32.ge_s (local.get $j) (local.get $hi)))
          (f32.store (local.get $o) (f32.load (local.get $s)))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $stride) (i32.const 2))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $copy)))
        ;; zeros after hi
        (block $z2 (loop $zero2
          (br_if $z2 (i32.ge_s (local.get $j) (local.get $run)))
          (f32.store (local.get $o) (f32.const 0))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $zero2)))
        (local.set $p (i32.add (local.get $p) (local.get $run)))
        (local.set $ox (i32.const 0))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br_if $segments (i32.lt_u (local.get $p) (local.get $pend))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $kc))))
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
