;; Single-precision matrix-product kernel and its packing routines, WebAssembly SIMD128, on the
;; CPU backend's memory (imported, shared between the pool's threads). Driven by ../gemm_fast.ts.
;;
;; scripts/build-wasm.mjs builds two versions: this text as written, whose multiply-adds are
;; f32x4.relaxed_madd (a fused multiply-add where the CPU has one), and a baseline in which each
;; (f32x4.relaxed_madd a b c) becomes (f32x4.add (f32x4.mul a b) c), for runtimes that do not
;; validate relaxed SIMD. The backend takes the first that WebAssembly.validate accepts.
;;
;; Register tile: 4 rows x 8 columns of C = 8 f32x4 accumulators, plus 2 vectors of B and the
;; broadcast values of A: V8 keeps all of it in the 15 XMM registers it hands out on x64 (6 x 8
;; and 4 x 12 tiles spilled accumulators to the stack, and ran slower).
;; Per step of k: 2 loads of B, 4 broadcast loads of A (v128.load32_splat), 8 multiply-adds.
;;
;; Packed layouts (f32, k-major inside a panel):
;;   A block [mc, kc]: panel p (rows 4p..4p+3), element (r, k) at  a + 4 * (p*kc*4 + k*4 + r)
;;   B block [kc, nc]: panel q (cols 8q..8q+7), element (k, c) at  b + 4 * (q*kc*8 + k*8 + c)
;;   C block [mc, nc]: row-major with leading dimension ldc (elements), at c.
;; so one step of k reads 16 contiguous bytes of A and 32 contiguous bytes of B. Lanes of a last,
;; partial panel hold whatever the packer read there: they only reach rows or columns of C that
;; the caller computes into a scratch tile and never copies out.
;;
;; Each element of C is summed in one order: the kc products of a block, in k order, in a
;; register starting from zero, then added to C (or stored, for the first block). Which thread
;; computes a tile, and where the tile starts, changes nothing in that order.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; C[mc, nc] (+)= A[mc, kc] * B[kc, nc] on packed blocks: C = its old value + the block's
  ;; product when $add is nonzero, else the product alone.
  ;; mc must be a multiple of 4, nc a multiple of 8, kc >= 1; a, b, c are byte addresses.
  ;; Loop order: column panels of B outside (a 32*kc-byte panel stays in L1), row panels of A
  ;; inside (the packed A block is re-read from L2 for each panel of B).
  (func (export "kernel")
    (param $mc i32) (param $nc i32) (param $kc i32)
    (param $a i32) (param $b i32) (param $c i32) (param $ldc i32) (param $add i32)
    (local $jr i32)       ;; first column of the current B panel
    (local $ir i32)       ;; first row of the current A panel
    (local $bpanel i32)   ;; address of the current B panel
    (local $ap i32)       ;; walks the current A panel (and then on to the next one)
    (local $aend i32)     ;; end of the current A panel
    (local $bp i32)       ;; walks the current B panel
    (local $ct i32)       ;; address of C[ir + r, jr] while storing
    (local $ldcb i32)     ;; ldc in bytes
    (local $apanel i32)   ;; bytes in one A panel: 16 * kc
    (local $bstride i32)  ;; bytes in one B panel: 32 * kc
    (local $av v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128)
    (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128)
    (local $c30 v128) (local $c31 v128)

    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $apanel (i32.shl (local.get $kc) (i32.const 4)))
    (local.set $bstride (i32.shl (local.get $kc) (i32.const 5)))
    (local.set $bpanel (local.get $b))
    (local.set $jr (i32.const 0))
    (loop $cols
      (local.set $ct (i32.add (local.get $c) (i32.shl (local.get $jr) (i32.const 2))))
      (local.set $ap (local.get $a))
      (local.set $ir (i32.const 0))
      (loop $rows
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
        (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
        (local.set $bp (local.get $bpanel))
        (local.set $aend (i32.add (local.get $ap) (local.get $apanel)))
        ;; The 4x8 micro-kernel: one rank-1 update per step of k (V8 unrolls this loop itself).
        (loop $depth
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $av (v128.load32_splat (local.get $ap)))
          (local.set $c00 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c00)))
          (local.set $c01 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c01)))
          (local.set $av (v128.load32_splat offset=4 (local.get $ap)))
          (local.set $c10 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c10)))
          (local.set $c11 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c11)))
          (local.set $av (v128.load32_splat offset=8 (local.get $ap)))
          (local.set $c20 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c20)))
          (local.set $c21 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c21)))
          (local.set $av (v128.load32_splat offset=12 (local.get $ap)))
          (local.set $c30 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c30)))
          (local.set $c31 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c31)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
          (br_if $depth (i32.ne (local.get $ap) (local.get $aend))))
        ;; C tile (+)= accumulators, row by row. $ap is now at the start of the next A panel.
        (if (local.get $add)
          (then
            (local.set $c00 (f32x4.add (v128.load (local.get $ct)) (local.get $c00)))
            (local.set $c01 (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c01)))
            (local.set $c10 (f32x4.add (v128.load (i32.add (local.get $ct) (local.get $ldcb))) (local.get $c10)))
            (local.set $c11 (f32x4.add (v128.load offset=16 (i32.add (local.get $ct) (local.get $ldcb))) (local.get $c11)))
            (local.set $ct (i32.add (local.get $ct) (i32.shl (local.get $ldcb) (i32.const 1))))
            (local.set $c20 (f32x4.add (v128.load (local.get $ct)) (local.get $c20)))
            (local.set $c21 (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c21)))
            (local.set $c30 (f32x4.add (v128.load (i32.add (local.get $ct) (local.get $ldcb))) (local.get $c30)))
            (local.set $c31 (f32x4.add (v128.load offset=16 (i32.add (local.get $ct) (local.get $ldcb))) (local.get $c31)))
            (local.set $ct (i32.sub (local.get $ct) (i32.shl (local.get $ldcb) (i32.const 1))))))
        (v128.store (local.get $ct) (local.get $c00))
        (v128.store offset=16 (local.get $ct) (local.get $c01))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (local.get $c10))
        (v128.store offset=16 (local.get $ct) (local.get $c11))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (local.get $c20))
        (v128.store offset=16 (local.get $ct) (local.get $c21))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (local.get $c30))
        (v128.store offset=16 (local.get $ct) (local.get $c31))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
        (br_if $rows (i32.lt_u (local.get $ir) (local.get $mc))))
      (local.set $bpanel (i32.add (local.get $bpanel) (local.get $bstride)))
      (local.set $jr (i32.add (local.get $jr) (i32.const 8)))
      (br_if $cols (i32.lt_u (local.get $jr) (local.get $nc))))
  )

  ;; Panels of W (4 or 8) from a block whose "wide" axis is contiguous: element (w, d) at
  ;; src + 4 * (d*ld + w), w < wide, d < depth. Output: element (w, d) of panel w/W at
  ;; dst + (w/W)*pstride + 4 * (d*W + w%W). One v128 per 4 lanes; a last, partial panel also
  ;; takes the (ignored) values just past `wide` in each source row.
  (func (export "pack_rows")
    (param $src i32) (param $ld i32) (param $depth i32) (param $wide i32) (param $W i32) (param $dst i32) (param $pstride i32)
    (local $w i32) (local $s i32) (local $o i32) (local $oend i32) (local $ldb i32) (local $wb i32)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $W) (i32.const 2)))          ;; bytes per step in a panel
    (local.set $w (i32.const 0))
    (loop $group
      ;; lanes w..w+3, for every d
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $w) (i32.const 2))))
      (local.set $o (i32.add (local.get $dst)
        (i32.add (i32.mul (i32.div_u (local.get $w) (local.get $W)) (local.get $pstride))
                 (i32.shl (i32.rem_u (local.get $w) (local.get $W)) (i32.const 2)))))
      (local.set $oend (i32.add (local.get $o) (i32.mul (local.get $wb) (local.get $depth))))
      (loop $step
        (v128.store (local.get $o) (v128.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (local.get $ldb)))
        (local.set $o (i32.add (local.get $o) (local.get $wb)))
        (br_if $step (i32.lt_u (local.get $o) (local.get $oend))))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (br_if $group (i32.lt_u (local.get $w) (local.get $wide))))
  )

  ;; Panels of W (4 or 8) from a block whose "depth" axis is contiguous: element (w, d) at
  ;; src + 4 * (w*ld + d), w < wide, d < depth. Same output as pack_rows. Four source rows at a
  ;; time, four steps of d at a time, through a 4x4 transpose; rows past `wide` in the last
  ;; group repeat row wide-1 (never read past the block).
  (func (export "pack_cols")
    (param $src i32) (param $ld i32) (param $depth i32) (param $wide i32) (param $W i32) (param $dst i32) (param $pstride i32)
    (local $w i32) (local $last i32) (local $o i32) (local $d i32) (local $d4 i32) (local $wb i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $wb (i32.shl (local.get $W) (i32.const 2)))
    (local.set $d4 (i32.and (local.get $depth) (i32.const -4)))
    (local.set $last (i32.sub (local.get $wide) (i32.const 1)))
    (local.set $w (i32.const 0))
    (loop $group
      ;; addresses of source rows w..w+3 (clamped to the last row)
      (local.set $r0 (i32.add (local.get $src) (i32.shl (i32.mul (local.get $w) (local.get $ld)) (i32.const 2))))
      (local.set $r1 (i32.add (local.get $src) (i32.shl (i32.mul
        (select (i32.add (local.get $w) (i32.const 1)) (local.get $last) (i32.lt_u (i32.add (local.get $w) (i32.const 1)) (local.get $wide)))
        (local.get $ld)) (i32.const 2))))
      (local.set $r2 (i32.add (local.get $src) (i32.shl (i32.mul
        (select (i32.add (local.get $w) (i32.const 2)) (local.get $last) (i32.lt_u (i32.add (local.get $w) (i32.const 2)) (local.get $wide)))
        (local.get $ld)) (i32.const 2))))
      (local.set $r3 (i32.add (local.get $src) (i32.shl (i32.mul
        (select (i32.add (local.get $w) (i32.const 3)) (local.get $last) (i32.lt_u (i32.add (local.get $w) (i32.const 3)) (local.get $wide)))
        (local.get $ld)) (i32.const 2))))
      (local.set $o (i32.add (local.get $dst)
        (i32.add (i32.mul (i32.div_u (local.get $w) (local.get $W)) (local.get $pstride))
                 (i32.shl (i32.rem_u (local.get $w) (local.get $W)) (i32.const 2)))))
      (local.set $d (i32.const 0))
      (block $done4
        (br_if $done4 (i32.eqz (local.get $d4)))
        (loop $step4
          (local.set $v0 (v128.load (local.get $r0)))
          (local.set $v1 (v128.load (local.get $r1)))
          (local.set $v2 (v128.load (local.get $r2)))
          (local.set $v3 (v128.load (local.get $r3)))
          ;; t0 = r0d0 r1d0 r0d1 r1d1, t1 = r2d0 r3d0 r2d1 r3d1, t2/t3: the same for d2, d3
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
          (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
          (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
          (v128.store (local.get $o)
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (v128.store (local.get $o)
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (v128.store (local.get $o)
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (v128.store (local.get $o)
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
          (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
          (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
          (local.set $r3 (i32.add (local.get $r3) (i32.const 16)))
          (local.set $d (i32.add (local.get $d) (i32.const 4)))
          (br_if $step4 (i32.lt_u (local.get $d) (local.get $d4)))))
      ;; the last depth % 4 steps, one element at a time
      (block $done
        (br_if $done (i32.ge_u (local.get $d) (local.get $depth)))
        (loop $step
          (f32.store (local.get $o) (f32.load (local.get $r0)))
          (f32.store offset=4 (local.get $o) (f32.load (local.get $r1)))
          (f32.store offset=8 (local.get $o) (f32.load (local.get $r2)))
          (f32.store offset=12 (local.get $o) (f32.load (local.get $r3)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
          (local.set $r1 (i32.add (local.get $r1) (i32.const 4)))
          (local.set $r2 (i32.add (local.get $r2) (i32.const 4)))
          (local.set $r3 (i32.add (local.get $r3) (i32.const 4)))
          (local.set $d (i32.add (local.get $d) (i32.const 1)))
          (br_if $step (i32.lt_u (local.get $d) (local.get $depth)))))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (br_if $group (i32.lt_u (local.get $w) (local.get $wide))))
  )

  ;; dst[rows, cols] (ld ldd) = src[rows, cols] (ld lds), or dst += src when $add: a scratch tile
  ;; of the kernel's out to C. Byte addresses, element leading dimensions.
  (func (export "tile_out")
    (param $src i32) (param $lds i32) (param $dst i32) (param $ldd i32) (param $rows i32) (param $cols i32) (param $add i32)
    (local $r i32) (local $j i32) (local $s i32) (local $o i32) (local $c4 i32)
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $end
      (br_if $end (i32.eqz (local.get $rows)))
      (loop $row
        (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $lds)) (i32.const 2))))
        (local.set $o (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $ldd)) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $vdone
          (br_if $vdone (i32.ge_u (local.get $j) (local.get $c4)))
          (loop $vec
            (v128.store (local.get $o)
              (select (result v128)
                (f32x4.add (v128.load (local.get $o)) (v128.load (local.get $s)))
                (v128.load (local.get $s))
                (local.get $add)))
            (local.set $s (i32.add (local.get $s) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br_if $vec (i32.lt_u (local.get $j) (local.get $c4)))))
        (block $sdone
          (br_if $sdone (i32.ge_u (local.get $j) (local.get $cols)))
          (loop $one
            (f32.store (local.get $o)
              (select (result f32)
                (f32.add (f32.load (local.get $o)) (f32.load (local.get $s)))
                (f32.load (local.get $s))
                (local.get $add)))
            (local.set $s (i32.add (local.get $s) (i32.const 4)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $one (i32.lt_u (local.get $j) (local.get $cols)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $row (i32.lt_u (local.get $r) (local.get $rows)))))
  )
)
