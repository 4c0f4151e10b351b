;; Max-pooling on the CPU backend's memory, driven by ../pool_fast.ts, for planes [H, W] -> [OH, OW]
;; with windows size x size every `stride`, `pad` rows and columns of padding that never win
;; (windows clipped to the plane), as ../pool.ts. NaN wins, as in PyTorch: the forward value of a
;; window holding a NaN is NaN, and the backward pass routes the gradient to the window's last NaN
;; (PyTorch's "val > max || isnan(val)" scan), else to its first largest element.
;; Byte addresses; `planes` consecutive planes from x, y (or dy), dx.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Each output row: the elementwise max of the window's input rows into `rows` (four columns at
  ;; a time; f32x4.max and f32.max return NaN when either side is NaN), then the max of each
  ;; window's columns of that row.
  (func (export "maxpool_forward")
    (param $x i32) (param $y i32) (param $planes i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
    (param $size i32) (param $stride i32) (param $pad i32) (param $rows i32)
    (local $p i32) (local $oy i32) (local $ox i32) (local $iy i32) (local $ya i32) (local $yb i32)
    (local $xa i32) (local $xb i32) (local $j i32) (local $src i32) (local $m f32) (local $planeb i32) (local $wb i32)
    (local.set $wb (i32.shl (local.get $W) (i32.const 2)))
    (local.set $planeb (i32.mul (local.get $wb) (local.get $H)))
    (local.set $p (i32.const 0))
    (block $done (loop $plane
      (br_if $done (i32.ge_u (local.get $p) (local.get $planes)))
      (local.set $oy (i32.const 0))
      (loop $orow
        (local.set $ya (i32.sub (i32.mul (local.get $oy) (local.get $stride)) (local.get $pad)))
        (local.set $yb (i32.add (local.get $ya) (local.get $size)))
        (if (i32.lt_s (local.get $ya) (i32.const 0)) (then (local.set $ya (i32.const 0))))
        (if (i32.gt_s (local.get $yb) (local.get $H)) (then (local.set $yb (local.get $H))))
        ;; rows = x[ya], then max with x[ya+1 .. yb-1]
        (memory.copy (local.get $rows) (i32.add (local.get $x) (i32.mul (local.get $ya) (local.get $wb))) (local.get $wb))
        (local.set $iy (i32.add (local.get $ya) (i32.const 1)))
        (block $vdone (loop $vrow
          (br_if $vdone (i32.ge_s (local.get $iy) (local.get $yb)))
          (local.set $src (i32.add (local.get $x) (i32.mul (local.get $iy) (local.get $wb))))
          (local.set $j (i32.const 0))
          (loop $vec
            (v128.store (i32.add (local.get $rows) (local.get $j))
              (f32x4.max (v128.load (i32.add (local.get $rows) (local.get $j))) (v128.load (i32.add (local.get $src) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br_if $vec (i32.lt_u (local.get $j) (local.get $wb))))
          (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
          (br $vrow)))
        (local.set $ox (i32.const 0))
        (loop $ocol
          (local.set $xa (i32.sub (i32.mul (local.get $ox) (local.get $stride)) (local.get $pad)))
          (local.set $xb (i32.add (local.get $xa) (local.get $size)))
          (if (i32.lt_s (local.get $xa) (i32.const 0)) (then (local.set $xa (i32.const 0))))
          (if (i32.gt_s (local.get $xb) (local.get $W)) (then (local.set $xb (local.get $W))))
          (local.set $m (f32.load (i32.add (local.get $rows) (i32.shl (local.get $xa) (i32.const 2)))))
          (local.set $j (i32.add (local.get $xa) (i32.const 1)))
          (block $hdone (loop $h
            (br_if $hdone (i32.ge_s (local.get $j) (local.get $xb)))
            (local.set $m (f32.max (local.get $m) (f32.load (i32.add (local.get $rows) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $h)))
          (f32.store (local.get $y) (local.get $m))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br_if $ocol (i32.lt_u (local.get $ox) (local.get $OW))))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br_if $orow (i32.lt_u (local.get $oy) (local.get $OH))))
      (local.set $x (i32.add (local.get $x) (local.get $planeb)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $plane)))
  )

  ;; dx (cleared first) += dy routed to each window's winner (see the top), windows in order.
  (func (export "maxpool_backward")
    (param $x i32) (param $dy i32) (param $dx i32) (param $planes i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
    (param $size i32) (param $stride i32) (param $pad i32)
    (local $p i32) (local $oy i32) (local $ox i32) (local $iy i32) (local $ix i32) (local $ya i32) (local $yb i32)
    (local $xa i32) (local $xb i32) (local $best i32) (local $bv f32) (local $v f32) (local $at i32) (local $planeb i32)
    (local.set $planeb (i32.shl (i32.mul (local.get $W) (local.get $H)) (i32.const 2)))
    (memory.fill (local.get $dx) (i32.const 0) (i32.mul (local.get $planeb) (local.get $planes)))
    (local.set $p (i32.const 0))
    (block $done (loop $plane
      (br_if $done (i32.ge_u (local.get $p) (local.get $planes)))
      (local.set $oy (i32.const 0))
      (loop $orow
        (local.set $ya (i32.sub (i32.mul (local.get $oy) (local.get $stride)) (local.get $pad)))
        (local.set $yb (i32.add (local.get $ya) (local.get $size)))
        (if (i32.lt_s (local.get $ya) (i32.const 0)) (then (local.set $ya (i32.const 0))))
        (if (i32.gt_s (local.get $yb) (local.get $H)) (then (local.set $yb (local.get $H))))
        (local.set $ox (i32.const 0))
        (loop $ocol
          (local.set $xa (i32.sub (i32.mul (local.get $ox) (local.get $stride)) (local.get $pad)))
          (local.set $xb (i32.add (local.get $xa) (local.get $size)))
          (if (i32.lt_s (local.get $xa) (i32.const 0)) (then (local.set $xa (i32.const 0))))
          (if (i32.gt_s (local.get $xb) (local.get $W)) (then (local.set $xb (local.get $W))))
          ;; byte offsets in the plane; the first element of the window starts as the winner
          (local.set $best (i32.shl (i32.add (i32.mul (local.get $ya) (local.get $W)) (local.get $xa)) (i32.const 2)))
          (local.set $bv (f32.load (i32.add (local.get $x) (local.get $best))))
          (local.set $iy (local.get $ya))
          (loop $wrow
            (local.set $ix (local.get $xa))
            (loop $wcol
              (local.set $at (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $W)) (local.get $ix)) (i32.const 2)))
              (local.set $v (f32.load (i32.add (local.get $x) (local.get $at))))
              (if (i32.or (f32.gt (local.get $v) (local.get $bv)) (f32.ne (local.get $v) (local.get $v)))
                (then (local.set $best (local.get $at)) (local.set $bv (local.get $v))))
              (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
              (br_if $wcol (i32.lt_s (local.get $ix) (local.get $xb))))
            (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
            (br_if $wrow (i32.lt_s (local.get $iy) (local.get $yb))))
          (local.set $at (i32.add (local.get $dx) (local.get $best)))
          (f32.store (local.get $at) (f32.add (f32.load (local.get $at)) (f32.load (local.get $dy))))
          (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br_if $ocol (i32.lt_u (local.get $ox) (local.get $OW))))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br_if $orow (i32.lt_u (local.get $oy) (local.get $OH))))
      (local.set $x (i32.add (local.get $x) (local.get $planeb)))
      (local.set $dx (i32.add (local.get $dx) (local.get $planeb)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $plane)))
  )
)
