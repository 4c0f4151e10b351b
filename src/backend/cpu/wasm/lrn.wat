;; Local response normalization across channels with beta = 0.75 (the paper's and Caffe's), on
;; the CPU backend's memory; driven by ../lrn_fast.ts. The formulas of ../lrn.ts:
;;   s_c = k + a * sum of x_j^2 over j in [c - before, c + after] (clipped to the channels)
;;   y_c = x_c * s_c^-0.75,   s^-0.75 = 1 / (sqrt(s) * sqrt(sqrt(s)))
;;   dx_i = dy_i s_i^-0.75 - 2 a beta x_i * sum of dy_c y_c / s_c over c in [i - after, i + before]
;; in float32, four pixels at a time across all channels. Each window is summed directly (so a NaN
;; or infinity reaches only the channels whose windows hold it, as in PyTorch), over a scratch
;; column of per-channel vectors with zero vectors on both sides, so no window needs clipping.
;; (V8 calls small functions rather than inlining them: the per-channel work is written out.)
;; x, y, dy, dx point at pixel q0 of channel 0 of one image; channels are `plane` floats apart;
;; n pixels from there. Scratch: 4 columns of C + size vectors. Byte addresses.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; col[c] (c < C) = x_c^2 of the four pixels at x + 4q
  (func $squares (param $x i32) (param $q i32) (param $C i32) (param $planeb i32) (param $col i32)
    (local $c i32) (local $at i32) (local $v v128)
    (local.set $at (i32.add (local.get $x) (i32.shl (local.get $q) (i32.const 2))))
    (local.set $c (i32.const 0))
    (loop $channel
      (local.set $v (v128.load (local.get $at)))
      (v128.store (i32.add (local.get $col) (i32.shl (local.get $c) (i32.const 4))) (f32x4.mul (local.get $v) (local.get $v)))
      (local.set $at (i32.add (local.get $at) (local.get $planeb)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $channel (i32.lt_u (local.get $c) (local.get $C))))
  )

  ;; The four pixels' results of the last, partial group (lanes < 4) from `tmp` (a vector per
  ;; channel) to out: the first `lanes` floats of each channel.
  (func $tail (param $tmp i32) (param $out i32) (param $C i32) (param $planeb i32) (param $lanes i32)
    (local $c i32)
    (local.set $c (i32.const 0))
    (loop $channel
      (memory.copy (local.get $out) (i32.add (local.get $tmp) (i32.shl (local.get $c) (i32.const 4))) (i32.shl (local.get $lanes) (i32.const 2)))
      (local.set $out (i32.add (local.get $out) (local.get $planeb)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $channel (i32.lt_u (local.get $c) (local.get $C))))
  )

  (func (export "lrn_forward")
    (param $x i32) (param $y i32) (param $C i32) (param $plane i32) (param $n i32)
    (param $k f32) (param $a f32) (param $before i32) (param $after i32) (param $scratch i32)
    (local $q i32) (local $c i32) (local $at i32) (local $planeb i32) (local $size i32) (local $column i32)
    (local $sq i32) (local $tmp i32) (local $out i32) (local $w i32) (local $wend i32)
    (local $kv v128) (local $av v128) (local $s v128) (local $r v128)
    (local.set $planeb (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $size (i32.add (i32.add (local.get $before) (local.get $after)) (i32.const 1)))
    (local.set $column (i32.shl (i32.add (local.get $C) (local.get $size)) (i32.const 4)))
    ;; squares: `before` zero vectors, C squares, `after` zero vectors; then a column for a tail
    (memory.fill (local.get $scratch) (i32.const 0) (local.get $column))
    (local.set $sq (i32.add (local.get $scratch) (i32.shl (local.get $before) (i32.const 4))))
    (local.set $tmp (i32.add (local.get $scratch) (local.get $column)))
    (local.set $kv (f32x4.splat (local.get $k)))
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $q (i32.const 0))
    (block $end (loop $group
      (br_if $end (i32.ge_u (local.get $q) (local.get $n)))
      (call $squares (local.get $x) (local.get $q) (local.get $C) (local.get $planeb) (local.get $sq))
      ;; a whole group goes straight to y, a partial one through tmp
      (local.set $out (select (i32.add (local.get $y) (i32.shl (local.get $q) (i32.const 2))) (local.get $tmp)
        (i32.le_u (i32.add (local.get $q) (i32.const 4)) (local.get $n))))
      (local.set $at (i32.add (local.get $x) (i32.shl (local.get $q) (i32.const 2))))
      (local.set $c (i32.const 0))
      (loop $outputs
        ;; channel c's window: `size` vectors from scratch + 16c
        (local.set $w (i32.add (local.get $scratch) (i32.shl (local.get $c) (i32.const 4))))
        (local.set $wend (i32.add (local.get $w) (i32.shl (local.get $size) (i32.const 4))))
        (local.set $s (v128.load (local.get $w)))
        (loop $window
          (local.set $w (i32.add (local.get $w) (i32.const 16)))
          (if (i32.lt_u (local.get $w) (local.get $wend)) (then
            (local.set $s (f32x4.add (local.get $s) (v128.load (local.get $w))))
            (br $window))))
        (local.set $s (f32x4.add (local.get $kv) (f32x4.mul (local.get $av) (local.get $s))))
        (local.set $r (f32x4.sqrt (local.get $s)))
        (v128.store (local.get $out)
          (f32x4.div (v128.load (local.get $at)) (f32x4.mul (local.get $r) (f32x4.sqrt (local.get $r)))))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $out (i32.add (local.get $out) (select (local.get $planeb) (i32.const 16)
          (i32.le_u (i32.add (local.get $q) (i32.const 4)) (local.get $n)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $outputs (i32.lt_u (local.get $c) (local.get $C))))
      (if (i32.gt_u (i32.add (local.get $q) (i32.const 4)) (local.get $n)) (then
        (call $tail (local.get $tmp) (i32.add (local.get $y) (i32.shl (local.get $q) (i32.const 2))) (local.get $C)
          (local.get $planeb) (i32.sub (local.get $n) (local.get $q)))))
      (local.set $q (i32.add (local.get $q) (i32.const 4)))
      (br $group)))
  )

  (func (export "lrn_backward")
    (param $x i32) (param $y i32) (param $dy i32) (param $dx i32) (param $C i32) (param $plane i32) (param $n i32)
    (param $k f32) (param $a f32) (param $twoABeta f32) (param $before i32) (param $after i32) (param $scratch i32)
    (local $q i32) (local $c i32) (local $at i32) (local $planeb i32) (local $size i32) (local $column i32)
    (local $sq i32) (local $pows i32) (local $ratios i32) (local $tmp i32) (local $out i32) (local $slot i32)
    (local $w i32) (local $wend i32) (local $whole i32)
    (local $kv v128) (local $av v128) (local $tv v128) (local $s v128) (local $r v128)
    (local.set $planeb (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $size (i32.add (i32.add (local.get $before) (local.get $after)) (i32.const 1)))
    (local.set $column (i32.shl (i32.add (local.get $C) (local.get $size)) (i32.const 4)))
    ;; columns: squares (`before` zeros first), s^-0.75, ratios (`after` zeros first), tail
    (memory.fill (local.get $scratch) (i32.const 0) (i32.mul (local.get $column) (i32.const 3)))
    (local.set $sq (i32.add (local.get $scratch) (i32.shl (local.get $before) (i32.const 4))))
    (local.set $pows (i32.add (local.get $scratch) (local.get $column)))
    (local.set $ratios (i32.add (i32.add (local.get $pows) (local.get $column)) (i32.shl (local.get $after) (i32.const 4))))
    (local.set $tmp (i32.add (local.get $scratch) (i32.mul (local.get $column) (i32.const 3))))
    (local.set $kv (f32x4.splat (local.get $k)))
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $tv (f32x4.splat (local.get $twoABeta)))
    (local.set $q (i32.const 0))
    (block $end (loop $group
      (br_if $end (i32.ge_u (local.get $q) (local.get $n)))
      (local.set $whole (i32.le_u (i32.add (local.get $q) (i32.const 4)) (local.get $n)))
      (call $squares (local.get $x) (local.get $q) (local.get $C) (local.get $planeb) (local.get $sq))
      ;; s^-0.75 and dy y / s per channel
      (local.set $c (i32.const 0))
      (local.set $at (i32.shl (local.get $q) (i32.const 2)))
      (loop $terms
        (local.set $slot (i32.shl (local.get $c) (i32.const 4)))
        (local.set $w (i32.add (local.get $scratch) (local.get $slot)))
        (local.set $wend (i32.add (local.get $w) (i32.shl (local.get $size) (i32.const 4))))
        (local.set $s (v128.load (local.get $w)))
        (loop $window
          (local.set $w (i32.add (local.get $w) (i32.const 16)))
          (if (i32.lt_u (local.get $w) (local.get $wend)) (then
            (local.set $s (f32x4.add (local.get $s) (v128.load (local.get $w))))
            (br $window))))
        (local.set $s (f32x4.add (local.get $kv) (f32x4.mul (local.get $av) (local.get $s))))
        (local.set $r (f32x4.sqrt (local.get $s)))
        (v128.store (i32.add (local.get $pows) (local.get $slot))
          (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $r) (f32x4.sqrt (local.get $r)))))
        (v128.store (i32.add (local.get $ratios) (local.get $slot))
          (f32x4.div (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at))) (v128.load (i32.add (local.get $y) (local.get $at))))
            (local.get $s)))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $terms (i32.lt_u (local.get $c) (local.get $C))))
      (local.set $out (select (i32.add (local.get $dx) (i32.shl (local.get $q) (i32.const 2))) (local.get $tmp) (local.get $whole)))
      (local.set $c (i32.const 0))
      (local.set $at (i32.shl (local.get $q) (i32.const 2)))
      (loop $outputs
        (local.set $slot (i32.shl (local.get $c) (i32.const 4)))
        ;; channel c's window of ratios: `size` vectors from ratios + 16 (c - after)
        (local.set $w (i32.add (i32.sub (local.get $ratios) (i32.shl (local.get $after) (i32.const 4))) (local.get $slot)))
        (local.set $wend (i32.add (local.get $w) (i32.shl (local.get $size) (i32.const 4))))
        (local.set $s (v128.load (local.get $w)))
        (loop $window
          (local.set $w (i32.add (local.get $w) (i32.const 16)))
          (if (i32.lt_u (local.get $w) (local.get $wend)) (then
            (local.set $s (f32x4.add (local.get $s) (v128.load (local.get $w))))
            (br $window))))
        (v128.store (local.get $out)
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $at))) (v128.load (i32.add (local.get $pows) (local.get $slot))))
            (f32x4.mul (f32x4.mul (local.get $tv) (v128.load (i32.add (local.get $x) (local.get $at)))) (local.get $s))))
        (local.set $at (i32.add (local.get $at) (local.get $planeb)))
        (local.set $out (i32.add (local.get $out) (select (local.get $planeb) (i32.const 16) (local.get $whole))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $outputs (i32.lt_u (local.get $c) (local.get $C))))
      (if (i32.eqz (local.get $whole)) (then
        (call $tail (local.get $tmp) (i32.add (local.get $dx) (i32.shl (local.get $q) (i32.const 2))) (local.get $C)
          (local.get $planeb) (i32.sub (local.get $n) (local.get $q)))))
      (local.set $q (i32.add (local.get $q) (i32.const 4)))
      (br $group)))
  )
)
