;; Single-precision matrix-product kernel with WebAssembly SIMD128 (no relaxed-SIMD: Node 20 has
;; no fused multiply-add, so every step is f32x4.mul then f32x4.add).
;;
;; Compiled by scripts/build-wasm.mjs into gemm_wasm.generated.ts (base64); driven by
;; ../gemm_wasm.ts, which lays out the packed blocks, the staging area and a float32 stripe of C
;; in this module's memory and grows it as needed.
;;
;; Register tile: 4 rows x 8 columns of C = 8 f32x4 accumulators, plus 2 vectors of B and one
;; broadcast value of A: 11 of the 15 XMM registers V8 hands out on x64, so nothing spills.
;; Per step of k: 2 loads of B, 4 broadcast loads of A (v128.load32_splat), 8 mul + 8 add.
;;
;; Packed layouts (all f32, k-major inside a panel, zero-padded to whole panels):
;;   A block [mc, kc]: panel p (rows 4p..4p+3), element (r, k) at  a + 4 * (p*kc*4 + k*4 + r)
;;   B block [kc, nc]: panel q (cols 8q..8q+7), element (k, c) at  b + 4 * (q*kc*8 + k*8 + c)
;;   C block [mc, nc]: row-major with leading dimension ldc (elements), at c.
;; so one step of k reads 16 contiguous bytes of A and 32 contiguous bytes of B.
;;
;; Packing: JS copies the rows of a block that are contiguous in the source into a staging area
;; of this memory with TypedArray.set (a memcpy), and pack_rows / pack_cols rearrange them into
;; panels with SIMD loads, stores and 4x4 transposes: about 4x faster than moving elements one by
;; one in JS (which gemm_wasm.ts still does for float64 or generally strided operands). A staged block is [wide, depth] with "wide" the axis of the panels (rows of A,
;; columns of B), padded with zeros to a whole number of panels by the caller.
(module
  (memory (export "memory") 1 65536)

  ;; C[mc, nc] += A[mc, kc] * B[kc, nc] on packed blocks.
  ;; mc must be a multiple of 4, nc a multiple of 8, kc >= 1; a, b, c are byte addresses.
  ;; Loop order: column panels of B outside (a 32*kc-byte panel stays in L1), row panels of A
  ;; inside (the whole packed A block is re-read from L2 for each panel of B).
  (func (export "kernel")
    (param $mc i32) (param $nc i32) (param $kc i32)
    (param $a i32) (param $b i32) (param $c i32) (param $ldc i32)
    (local $jr i32)       ;; first column of the current B panel
    (local $ir i32)       ;; first row of the current A panel
    (local $bpanel i32)   ;; address of the current B panel
    (local $ap i32)       ;; walks the current A panel (and then on to the next one)
    (local $aend i32)     ;; end of the current A panel
    (local $bp i32)       ;; walks the current B panel
    (local $ccol i32)     ;; address of C[0, jr]
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
      (local.set $ccol (i32.add (local.get $c) (i32.shl (local.get $jr) (i32.const 2))))
      (local.set $ct (local.get $ccol))
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
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat offset=4 (local.get $ap)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat offset=8 (local.get $ap)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $av (v128.load32_splat offset=12 (local.get $ap)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
          (br_if $depth (i32.ne (local.get $ap) (local.get $aend))))
        ;; C tile += accumulators, row by row. $ap is now at the start of the next A panel.
        (v128.store (local.get $ct) (f32x4.add (v128.load (local.get $ct)) (local.get $c00)))
        (v128.store offset=16 (local.get $ct) (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c01)))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (f32x4.add (v128.load (local.get $ct)) (local.get $c10)))
        (v128.store offset=16 (local.get $ct) (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c11)))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (f32x4.add (v128.load (local.get $ct)) (local.get $c20)))
        (v128.store offset=16 (local.get $ct) (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c21)))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (v128.store (local.get $ct) (f32x4.add (v128.load (local.get $ct)) (local.get $c30)))
        (v128.store offset=16 (local.get $ct) (f32x4.add (v128.load offset=16 (local.get $ct)) (local.get $c31)))
        (local.set $ct (i32.add (local.get $ct) (local.get $ldcb)))
        (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
        (br_if $rows (i32.lt_u (local.get $ir) (local.get $mc))))
      (local.set $bpanel (i32.add (local.get $bpanel) (local.get $bstride)))
      (local.set $jr (i32.add (local.get $jr) (i32.const 8)))
      (br_if $cols (i32.lt_u (local.get $jr) (local.get $nc))))
  )

  ;; Panels of W (4 or 8) along a staged block whose "wide" axis is contiguous:
  ;; element (w, d) at src + 4 * (d*ld + w), w < panels*W, d < depth.
  ;; Output: element (w, d) at dst + 4 * ((w/W)*depth*W + d*W + w%W). One v128 per 4 lanes.
  (func (export "pack_rows")
    (param $src i32) (param $ld i32) (param $depth i32) (param $panels i32) (param $W i32) (param $dst i32)
    (local $p i32) (local $g i32) (local $s i32) (local $o i32) (local $oend i32)
    (local $ldb i32) (local $wb i32) (local $panelb i32)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $W) (i32.const 2)))          ;; bytes per step in a panel
    (local.set $panelb (i32.mul (local.get $wb) (local.get $depth))) ;; bytes per panel
    (local.set $p (i32.const 0))
    (loop $panel
      (local.set $g (i32.const 0))
      (loop $group
        ;; lanes 4g..4g+3 of panel p, for every d
        (local.set $s (i32.add (local.get $src)
          (i32.shl (i32.add (i32.mul (local.get $p) (local.get $W)) (local.get $g)) (i32.const 2))))
        (local.set $o (i32.add (local.get $dst)
          (i32.add (i32.mul (local.get $p) (local.get $panelb)) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $oend (i32.add (local.get $o) (local.get $panelb)))
        (loop $step
          (v128.store (local.get $o) (v128.load (local.get $s)))
          (local.set $s (i32.add (local.get $s) (local.get $ldb)))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (br_if $step (i32.lt_u (local.get $o) (local.get $oend))))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (br_if $group (i32.lt_u (local.get $g) (local.get $W))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $panel (i32.lt_u (local.get $p) (local.get $panels))))
  )

  ;; Panels of W (4 or 8) along a staged block whose "depth" axis is contiguous:
  ;; element (w, d) at src + 4 * (w*ld + d), w < panels*W, d < depth. Same output as pack_rows.
  ;; Four source rows at a time, four steps of d at a time, through a 4x4 transpose.
  (func (export "pack_cols")
    (param $src i32) (param $ld i32) (param $depth i32) (param $panels i32) (param $W i32) (param $dst i32)
    (local $g i32) (local $gend i32) (local $s i32) (local $o i32) (local $d i32) (local $d4 i32)
    (local $ldb i32) (local $wb i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $ldb (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $W) (i32.const 2)))
    (local.set $d4 (i32.and (local.get $depth) (i32.const -4)))
    ;; Groups of 4 source rows; group g (rows 4g..4g+3) is lanes 4(g % (W/4)).. of panel g / (W/4).
    (local.set $gend (i32.mul (local.get $panels) (i32.shr_u (local.get $W) (i32.const 2))))
    (local.set $g (i32.const 0))
    (loop $group
      (local.set $s (i32.add (local.get $src) (i32.mul (i32.shl (local.get $g) (i32.const 2)) (local.get $ldb))))
      ;; output of lane 4g: panel (4g / W), lane offset 4g % W
      (local.set $o (i32.add (local.get $dst)
        (i32.add
          (i32.mul (i32.div_u (i32.shl (local.get $g) (i32.const 2)) (local.get $W)) (i32.mul (local.get $wb) (local.get $depth)))
          (i32.shl (i32.rem_u (i32.shl (local.get $g) (i32.const 2)) (local.get $W)) (i32.const 2)))))
      (local.set $d (i32.const 0))
      (block $done4
        (br_if $done4 (i32.eqz (local.get $d4)))
        (loop $step4
          (local.set $v0 (v128.load (local.get $s)))
          (local.set $v1 (v128.load (i32.add (local.get $s) (local.get $ldb))))
          (local.set $v2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $ldb) (i32.const 1)))))
          (local.set $v3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $ldb) (i32.const 3)))))
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
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $d (i32.add (local.get $d) (i32.const 4)))
          (br_if $step4 (i32.lt_u (local.get $d) (local.get $d4)))))
      ;; the last depth % 4 steps, one element at a time
      (block $done
        (br_if $done (i32.ge_u (local.get $d) (local.get $depth)))
        (loop $step
          (f32.store (local.get $o) (f32.load (local.get $s)))
          (f32.store offset=4 (local.get $o) (f32.load (i32.add (local.get $s) (local.get $ldb))))
          (f32.store offset=8 (local.get $o) (f32.load (i32.add (local.get $s) (i32.shl (local.get $ldb) (i32.const 1)))))
          (f32.store offset=12 (local.get $o) (f32.load (i32.add (local.get $s) (i32.mul (local.get $ldb) (i32.const 3)))))
          (local.set $o (i32.add (local.get $o) (local.get $wb)))
          (local.set $s (i32.add (local.get $s) (i32.const 4)))
          (local.set $d (i32.add (local.get $d) (i32.const 1)))
          (br_if $step (i32.lt_u (local.get $d) (local.get $depth)))))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br_if $group (i32.lt_u (local.get $g) (local.get $gend))))
  )
)
