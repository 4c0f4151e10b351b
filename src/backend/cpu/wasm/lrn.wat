;; Local response normalization across channels with beta = 0.75 (the paper's and Caffe's), on
;; the CPU backend's memory; driven by ../lrn_fast.ts. The formulas of ../lrn.ts:
;;   s_c = k + a * sum of x_j^2 over j in [c - before, c + after] (clipped to the channels)
;;   y_c = x_c * s_c^-0.75,   s^-0.75 = 1 / (sqrt(s) * sqrt(sqrt(s)))
;;   dx_i = dy_i s_i^-0.75 - 2 a beta x_i * sum of dy_c y_c / s_c over c in [i - after, i + before]
;; in float32, four pixels at a time across all channels, with each window summed directly (so a
;; NaN or infinity reaches only the channels whose windows hold it, as in PyTorch).
;; x, y, dy, dx point at pixel q0 of channel 0 of one image; channels are `plane` floats apart;
;; n pixels from there. Scratch holds 3 * C vectors. Byte addresses.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; v[0..lanes-1] to p: a whole vector, or the first lanes at the end of a range.
  (func $store (param $p i32) (param $v v128) (param $lanes i32)
    (if (i32.ge_u (local.get $lanes) (i32.const 4))
      (then (v128.store (local.get $p) (local.get $v)) (return)))
    (v128.store32_lane 0 (local.get $p) (local.get $v))
    (if (i32.ge_u (local.get $lanes) (i32.const 2)) (then (v128.store32_lane offset=4 1 (local.get $p) (local.get $v))))
    (if (i32.ge_u (local.get $lanes) (i32.const 3)) (then (v128.store32_lane offset=8 2 (local.get $p) (local.get $v))))
  )

  ;; sum of the vectors at buf + 16*j for j in [c - lo, c + hi] clipped to [0, C)
  (func $window (param $buf i32) (param $c i32) (param $lo i32) (param $hi i32) (param $C i32) (result v128)
    (local $j i32) (local $end i32) (local $sum v128)
    (local.set $j (i32.sub (local.get $c) (local.get $lo)))
    (if (i32.lt_s (local.get $j) (i32.const 0)) (then (local.set $j (i32.const 0))))
    (local.set $end (i32.add (local.get $c) (local.get $hi)))
    (if (i32.ge_s (local.get $end) (local.get $C)) (then (local.set $end (i32.sub (local.get $C) (i32.const 1)))))
    (block $done (loop $add
      (br_if $done (i32.gt_s (local.get $j) (local.get $end)))
      (local.set $sum (f32x4.add (local.get $sum) (v128.load (i32.add (local.get $buf) (i32.shl (local.get $j) (i32.const 4))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $add)))
    (local.get $sum)
  )

  ;; s^-0.75
  (func $pow34 (param $s v128) (result v128)
    (local $r v128)
    (local.set $r (f32x4.sqrt (local.get $s)))
    (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $r) (f32x4.sqrt (local.get $r))))
  )

  (func (export "lrn_forward")
    (param $x i32) (param $y i32) (param $C i32) (param $plane i32) (param $n i32)
    (param $k f32) (param $a f32) (param $before i32) (param $after i32) (param $scratch i32)
    (local $q i32) (local $c i32) (local $at i32) (local $lanes i32) (local $planeb i32) (local $v v128) (local $s v128)
    (local.set $planeb (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $q (i32.const 0))
    (block $end (loop $group
      (br_if $end (i32.ge_u (local.get $q) (local.get $n)))
      (local.set $lanes (i32.sub (local.get $n) (local.get $q)))
      ;; squares of the four pixels in every channel
      (local.set $c (i32.const 0))
      (local.set $at (i32.add (local.get $x) (i32.shl (local.get $q) (i32.const 2))))
      (loop $squares
        (local.set $v (v128.load (local.get $at)))
        (v128.store (i32.add (local.get $scratch) (i32.shl (local.get $c) (i32.const 4))) (f32x4.mul (local.get $v) (local.get $v)))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $squares (i32.lt_u (local.get $c) (local.get $C))))
      (local.set $c (i32.const 0))
      (local.set $at (i32.shl (local.get $q) (i32.const 2)))
      (loop $outputs
        (local.set $s (f32x4.add (f32x4.splat (local.get $k))
          (f32x4.mul (f32x4.splat (local.get $a)) (call $window (local.get $scratch) (local.get $c) (local.get $before) (local.get $after) (local.get $C)))))
        (call $store (i32.add (local.get $y) (local.get $at))
          (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $at))) (call $pow34 (local.get $s)))
          (local.get $lanes))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $outputs (i32.lt_u (local.get $c) (local.get $C))))
      (local.set $q (i32.add (local.get $q) (i32.const 4)))
      (br $group)))
  )

  (func (export "lrn_backward")
    (param $x i32) (param $y i32) (param $dy i32) (param $dx i32) (param $C i32) (param $plane i32) (param $n i32)
    (param $k f32) (param $a f32) (param $twoABeta f32) (param $before i32) (param $after i32) (param $scratch i32)
    (local $q i32) (local $c i32) (local $at i32) (local $lanes i32) (local $planeb i32) (local $v v128) (local $s v128)
    (local $pows i32) (local $ratios i32) (local $slot i32)
    (local.set $planeb (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $pows (i32.add (local.get $scratch) (i32.shl (local.get $C) (i32.const 4))))
    (local.set $ratios (i32.add (local.get $pows) (i32.shl (local.get $C) (i32.const 4))))
    (local.set $q (i32.const 0))
    (block $end (loop $group
      (br_if $end (i32.ge_u (local.get $q) (local.get $n)))
      (local.set $lanes (i32.sub (local.get $n) (local.get $q)))
      (local.set $c (i32.const 0))
      (local.set $at (i32.add (local.get $x) (i32.shl (local.get $q) (i32.const 2))))
      (loop $squares
        (local.set $v (v128.load (local.get $at)))
        (v128.store (i32.add (local.get $scratch) (i32.shl (local.get $c) (i32.const 4))) (f32x4.mul (local.get $v) (local.get $v)))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $squares (i32.lt_u (local.get $c) (local.get $C))))
      ;; s^-0.75 and dy y / s per channel
      (local.set $c (i32.const 0))
      (local.set $at (i32.shl (local.get $q) (i32.const 2)))
      (loop $terms
        (local.set $slot (i32.shl (local.get $c) (i32.const 4)))
        (local.set $s (f32x4.add (f32x4.splat (local.get $k))
          (f32x4.mul (f32x4.splat (local.get $a)) (call $window (local.get $scratch) (local.get $c) (local.get $before) (local.get $after) (local.get $C)))))
        (v128.store (i32.add (local.get $pows) (local.get $slot)) (call $pow34 (local.get $s)))
        (v128.store (i32.add (local.get $ratios) (local.get $slot))
          (f32x4.div (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at))) (v128.load (i32.add (local.get $y) (local.get $at))))
            (local.get $s)))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $terms (i32.lt_u (local.get $c) (local.get $C))))
      (local.set $c (i32.const 0))
      (local.set $at (i32.shl (local.get $q) (i32.const 2)))
      (loop $outputs
        (call $store (i32.add (local.get $dx) (local.get $at))
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at))) (v128.load (i32.add (local.get $pows) (i32.shl (local.get $c) (i32.const 4)))))
            (f32x4.mul (f32x4.mul (f32x4.splat (local.get $twoABeta)) (v128.load (i32.add (local.get $x) (local.get $at))))
              (call $window (local.get $ratios) (local.get $c) (local.get $after) (local.get $before) (local.get $C))))
          (local.get $lanes))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $outputs (i32.lt_u (local.get $c) (local.get $C))))
      (local.set $q (i32.add (local.get $q) (i32.const 4)))
      (br $group)))
  )
)
