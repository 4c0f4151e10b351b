;; Elementwise kernels of the CPU backend on its memory, driven by ../eltwise_fast.ts: ReLU and
;; its gradient, the bias (+ ReLU) epilogue of conv and linear layers, the bias gradient, dropout
;; and the SGD update.
;; Dropout and SGD compute in float64 as the TypeScript loops of ../activation.ts and ../sgd.ts
;; do (JavaScript numbers), rounding to float32 where those store, so they match them bit for bit.
;; Byte addresses; counts in floats.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; y = x <= 0 ? 0 : x (NaN stays NaN, as in PyTorch) over n floats; y may be x.
  (func (export "relu") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $v v128) (local $f f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $v4 (loop $vec
      (br_if $v4 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $y) (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $vec)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $s1 (loop $one
      (br_if $s1 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $f (f32.load (local.get $x)))
      (f32.store (local.get $y) (select (f32.const 0) (local.get $f) (f32.le (local.get $f) (f32.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $one)))
  )

  ;; dx = y <= 0 ? 0 : dy (y the forward output) over n floats; dx may be dy.
  (func (export "relu_backward") (param $y i32) (param $dy i32) (param $dx i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $v4 (loop $vec
      (br_if $v4 (i32.ge_u (local.get $y) (local.get $end)))
      (v128.store (local.get $dx)
        (v128.andnot (v128.load (local.get $dy)) (f32x4.le (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
      (br $vec)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $s1 (loop $one
      (br_if $s1 (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $dx)
        (select (f32.const 0) (f32.load (local.get $dy)) (f32.le (f32.load (local.get $y)) (f32.const 0))))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
      (br $one)))
  )

  ;; c[r, j] += bias[r] ($perRow) or bias[j] (else) over a [rows, cols] block with leading
  ;; dimension ld; bias 0 adds nothing. Then, with $relu, c = c <= 0 ? 0 : c.
  (func (export "bias_act")
    (param $c i32) (param $ld i32) (param $rows i32) (param $cols i32) (param $bias i32) (param $perRow i32) (param $relu i32)
    (local $r i32) (local $j i32) (local $p i32) (local $c4 i32) (local $v v128) (local $f f32) (local $bv v128) (local $bf f32)
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $end (loop $row
      (br_if $end (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $c) (i32.shl (i32.mul (local.get $r) (local.get $ld)) (i32.const 2))))
      (local.set $bf (f32.const 0))
      (if (i32.and (local.get $perRow) (i32.ne (local.get $bias) (i32.const 0)))
        (then (local.set $bf (f32.load (i32.add (local.get $bias) (i32.shl (local.get $r) (i32.const 2)))))))
      (local.set $bv (f32x4.splat (local.get $bf)))
      (local.set $j (i32.const 0))
      (block $v4 (loop $vec
        (br_if $v4 (i32.ge_u (local.get $j) (local.get $c4)))
        (local.set $v (v128.load (local.get $p)))
        (if (i32.ne (local.get $bias) (i32.const 0))
          (then (local.set $v (f32x4.add (local.get $v)
            (select (result v128) (local.get $bv)
              (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))
              (local.get $perRow))))))
        (if (local.get $relu)
          (then (local.set $v (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))))
        (v128.store (local.get $p) (local.get $v))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vec)))
      (block $s1 (loop $one
        (br_if $s1 (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $f (f32.load (local.get $p)))
        (if (i32.ne (local.get $bias) (i32.const 0))
          (then (local.set $f (f32.add (local.get $f)
            (select (local.get $bf)
              (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))
              (local.get $perRow))))))
        (if (local.get $relu)
          (then (local.set $f (select (f32.const 0) (local.get $f) (f32.le (local.get $f) (f32.const 0))))))
        (f32.store (local.get $p) (local.get $f))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $one)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row)))
  )

;; db[o] += dy[n, o, p] for every n, then p (the loops' order, each sum rounded to float32 as
  ;; it goes), for outputs o in [o0, o1) of dy [N, O, pixels]; four outputs' sums run side by side.
  (func (export "bias_grad") (param $dy i32) (param $N i32) (param $O i32) (param $pixels i32) (param $o0 i32) (param $o1 i32) (param $db i32)
    (local $o i32) (local $n i32) (local $p i32) (local $lanes i32) (local $row i32) (local $end i32) (local $image i32)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $pb i32)
    (local.set $pb (i32.shl (local.get $pixels) (i32.const 2)))
    (local.set $image (i32.mul (local.get $O) (local.get $pb)))
    (local.set $o (local.get $o0))
    (block $done (loop $outputs
      (br_if $done (i32.ge_u (local.get $o) (local.get $o1)))
      ;; outputs o..o+lanes-1 (lanes <= 4); missing lanes read output o again and are not stored
      (local.set $lanes (i32.sub (local.get $o1) (local.get $o)))
      (if (i32.gt_u (local.get $lanes) (i32.const 4)) (then (local.set $lanes (i32.const 4))))
      (local.set $s0 (f32.load (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2)))))
      (local.set $s1 (f32.load offset=4 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2)))))
      (local.set $s2 (f32.load offset=8 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2)))))
      (local.set $s3 (f32.load offset=12 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2)))))
      (local.set $n (i32.const 0))
      (loop $images
        (local.set $row (i32.add (i32.add (local.get $dy) (i32.mul (local.get $n) (local.get $image)))
          (i32.mul (local.get $o) (local.get $pb))))
        (local.set $end (i32.add (local.get $row) (local.get $pb)))
        (loop $pixels
          (local.set $s0 (f32.add (local.get $s0) (f32.load (local.get $row))))
          (if (i32.gt_u (local.get $lanes) (i32.const 1)) (then
            (local.set $s1 (f32.add (local.get $s1) (f32.load (i32.add (local.get $row) (local.get $pb)))))))
          (if (i32.gt_u (local.get $lanes) (i32.const 2)) (then
            (local.set $s2 (f32.add (local.get $s2) (f32.load (i32.add (local.get $row) (i32.shl (local.get $pb) (i32.const 1))))))))
          (if (i32.gt_u (local.get $lanes) (i32.const 3)) (then
            (local.set $s3 (f32.add (local.get $s3) (f32.load (i32.add (local.get $row) (i32.mul (local.get $pb) (i32.const 3))))))))
          (local.set $row (i32.add (local.get $row) (i32.const 4)))
          (br_if $pixels (i32.lt_u (local.get $row) (local.get $end))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $images (i32.lt_u (local.get $n) (local.get $N))))
      (f32.store (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2))) (local.get $s0))
      (if (i32.gt_u (local.get $lanes) (i32.const 1)) (then (f32.store offset=4 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2))) (local.get $s1))))
      (if (i32.gt_u (local.get $lanes) (i32.const 2)) (then (f32.store offset=8 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2))) (local.get $s2))))
      (if (i32.gt_u (local.get $lanes) (i32.const 3)) (then (f32.store offset=12 (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2))) (local.get $s3))))
      (local.set $o (i32.add (local.get $o) (i32.const 4)))
      (br $outputs)))
  )

;; dst[i] += (src[i] + src[stride + i] + ... + src[(parts-1)*stride + i]) over n floats, the
  ;; parts summed in order in float32 (the weight gradient's per-chunk partial sums). Strides count
  ;; floats; n a multiple of 4 or the last vector's extra lanes land past dst's end unread.
  (func (export "add_parts") (param $src i32) (param $stride i32) (param $parts i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $c i32) (local $p i32) (local $sum v128) (local $sb i32)
    (local.set $sb (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $done (loop $vec
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $p (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
      (local.set $sum (v128.load (local.get $p)))
      (local.set $c (i32.const 1))
      (block $summed (loop $part
        (br_if $summed (i32.ge_u (local.get $c) (local.get $parts)))
        (local.set $p (i32.add (local.get $p) (local.get $sb)))
        (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $p))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $part)))
      (local.set $p (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))))
      (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $n))
        (then (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (local.get $sum))))
        (else
          (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32x4.extract_lane 0 (local.get $sum))))
          (if (i32.gt_u (local.get $n) (i32.add (local.get $i) (i32.const 1))) (then
            (f32.store offset=4 (local.get $p) (f32.add (f32.load offset=4 (local.get $p)) (f32x4.extract_lane 1 (local.get $sum))))))
          (if (i32.gt_u (local.get $n) (i32.add (local.get $i) (i32.const 2))) (then
            (f32.store offset=8 (local.get $p) (f32.add (f32.load offset=8 (local.get $p)) (f32x4.extract_lane 2 (local.get $sum))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vec)))
  )

  ;; ../../rng/hash.ts's mix32 on four lanes.
  (func $mix32 (param $x v128) (result v128)
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16))))
    (local.set $x (i32x4.mul (local.get $x) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 15))))
    (local.set $x (i32x4.mul (local.get $x) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
    (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16)))
  )

;; Inverted dropout over elements first..first+n-1: dst[i] = src[i] * (scale where
  ;; randomU32(seed, stream, i) >= threshold (unsigned), else 0), in float64 as activation.ts does
  ;; (a dropped NaN stays NaN, a dropped negative is -0). src, dst point at element first.
  (func (export "dropout")
    (param $src i32) (param $dst i32) (param $first i32) (param $n i32)
    (param $seed i32) (param $stream i32) (param $threshold i32) (param $scale f64)
    (local $i i32) (local $end i32) (local $idx v128) (local $keep v128) (local $v v128)
    (local $lo v128) (local $hi v128) (local $s v128)
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $s (f64x2.splat (local.get $scale)))
    (local.set $end (i32.add (local.get $first) (local.get $n)))
    (local.set $i (local.get $first))
    (loop $vec
      ;; four indices at a time; lanes past the end are computed and not stored
      (local.set $idx (i32x4.add (i32x4.splat (local.get $i)) (v128.const i32x4 0 1 2 3)))
      (local.set $keep (call $mix32 (i32x4.add
        (call $mix32 (v128.xor (call $mix32 (local.get $idx)) (i32x4.splat (local.get $seed))))
        (i32x4.splat (local.get $stream)))))
      (local.set $keep (i32x4.ge_u (local.get $keep) (i32x4.splat (local.get $threshold))))
      (local.set $v (v128.load (local.get $src)))
      ;; each lane times (kept ? scale : 0), the 32-bit masks widened to 64 bits
      (local.set $lo (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v))
        (v128.and (local.get $s) (i64x2.extend_low_i32x4_s (local.get $keep)))))
      (local.set $hi (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
        (v128.and (local.get $s) (i64x2.extend_high_i32x4_s (local.get $keep)))))
      (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
      (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
        (then (v128.store (local.get $dst) (local.get $v)))
        (else
          (f32.store (local.get $dst) (f32x4.extract_lane 0 (local.get $v)))
          (if (i32.gt_u (local.get $end) (i32.add (local.get $i) (i32.const 1)))
            (then (f32.store offset=4 (local.get $dst) (f32x4.extract_lane 1 (local.get $v)))))
          (if (i32.gt_u (local.get $end) (i32.add (local.get $i) (i32.const 2)))
            (then (f32.store offset=8 (local.get $dst) (f32x4.extract_lane 2 (local.get $v)))))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $vec (i32.lt_u (local.get $i) (local.get $end))))
  )

  ;; The SGD update over n floats, in float64 as ../sgd.ts computes it:
  ;;   paper ($pytorch 0):  v = m v - (wd lr) w - lr g;   w = w + v
  ;;   pytorch:             v = m v + g + wd w;           w = w - lr v
  ;; with g first multiplied by $gs (1 / the loss scale, a power of two) and v rounded to float32 before it updates w. Two floats at a time.
  (func (export "sgd")
    (param $w i32) (param $g i32) (param $v i32) (param $n i32)
    (param $lr f64) (param $m f64) (param $wd f64) (param $pytorch i32) (param $gs f64)
    (local $end i32) (local $wv v128) (local $gv v128) (local $vv v128) (local $wdlr v128)
    (local $lrv v128) (local $mv v128) (local $wdv v128) (local $w32 v128) (local $v32 v128) (local $gsv v128)
    (local.set $gsv (f64x2.splat (local.get $gs)))
    (local.set $lrv (f64x2.splat (local.get $lr)))
    (local.set $mv (f64x2.splat (local.get $m)))
    (local.set $wdv (f64x2.splat (local.get $wd)))
    (local.set $wdlr (f64x2.splat (f64.mul (local.get $wd) (local.get $lr))))
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $pair
      (br_if $done (i32.ge_u (local.get $w) (local.get $end)))
      ;; the last, odd element is loaded and stored alone
      (if (i32.eq (i32.sub (local.get $end) (local.get $w)) (i32.const 4))
        (then
          (local.set $wv (f64x2.promote_low_f32x4 (v128.load32_zero (local.get $w))))
          (local.set $gv (f64x2.promote_low_f32x4 (v128.load32_zero (local.get $g))))
          (local.set $vv (f64x2.promote_low_f32x4 (v128.load32_zero (local.get $v)))))
        (else
          (local.set $wv (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $w))))
          (local.set $gv (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $g))))
          (local.set $vv (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $v))))))
      (local.set $gv (f64x2.mul (local.get $gv) (local.get $gsv)))
      (if (local.get $pytorch)
        (then
          (local.set $v32 (f32x4.demote_f64x2_zero (f64x2.add
            (f64x2.add (f64x2.mul (local.get $mv) (local.get $vv)) (local.get $gv))
            (f64x2.mul (local.get $wdv) (local.get $wv)))))
          (local.set $w32 (f32x4.demote_f64x2_zero
            (f64x2.sub (local.get $wv) (f64x2.mul (local.get $lrv) (f64x2.promote_low_f32x4 (local.get $v32)))))))
        (else
          (local.set $v32 (f32x4.demote_f64x2_zero (f64x2.sub
            (f64x2.sub (f64x2.mul (local.get $mv) (local.get $vv)) (f64x2.mul (local.get $wdlr) (local.get $wv)))
            (f64x2.mul (local.get $lrv) (local.get $gv)))))
          (local.set $w32 (f32x4.demote_f64x2_zero
            (f64x2.add (local.get $wv) (f64x2.promote_low_f32x4 (local.get $v32)))))))
      (if (i32.eq (i32.sub (local.get $end) (local.get $w)) (i32.const 4))
        (then
          (v128.store32_lane 0 (local.get $v) (local.get $v32))
          (v128.store32_lane 0 (local.get $w) (local.get $w32)))
        (else
          (v128.store64_lane 0 (local.get $v) (local.get $v32))
          (v128.store64_lane 0 (local.get $w) (local.get $w32))))
      (local.set $w (i32.add (local.get $w) (i32.const 8)))
      (local.set $g (i32.add (local.get $g) (i32.const 8)))
      (local.set $v (i32.add (local.get $v) (i32.const 8)))
      (br $pair)))
  )
)
