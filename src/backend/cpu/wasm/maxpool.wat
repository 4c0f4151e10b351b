;; Max-pooling on the CPU backend's memory, driven by ../pool_fast.ts, for planes [H, W] -> [OH, OW]
;; with windows size x size every `stride`, `pad` rows and columns of padding that never win
;; (windows clipped to the plane), as ../pool.ts. Each window is scanned row by row with
;; PyTorch's rule, "take v if v > best or v is NaN": the winner is the first largest element, or
;; the last NaN. The forward pass writes the winner's value and the backward pass adds dy to the
;; winner's gradient, windows in order: both exactly what the loops do.
;; The paper's 3x3 windows every 2 go four at a time where they lie inside the plane: the three
;; columns of four windows are the even, odd and next-even elements of 12 consecutive floats.
;; Byte addresses; `planes` consecutive planes from x, y (or dy), dx.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Winner (value, element index in the plane) of the window rows [ya, yb) x columns [xa, xb).
  (func $argmax1 (param $plane i32) (param $W i32) (param $ya i32) (param $yb i32) (param $xa i32) (param $xb i32) (result f32 i32)
    (local $iy i32) (local $i i32) (local $end i32) (local $best i32) (local $bv f32) (local $v f32) (local $take i32)
    (local.set $best (i32.add (i32.mul (local.get $ya) (local.get $W)) (local.get $xa)))
    (local.set $bv (f32.load (i32.add (local.get $plane) (i32.shl (local.get $best) (i32.const 2)))))
    (local.set $iy (local.get $ya))
    (loop $row
      (local.set $i (i32.add (i32.mul (local.get $iy) (local.get $W)) (local.get $xa)))
      (local.set $end (i32.add (i32.mul (local.get $iy) (local.get $W)) (local.get $xb)))
      (loop $col
        (local.set $v (f32.load (i32.add (local.get $plane) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $take (i32.or (f32.gt (local.get $v) (local.get $bv)) (f32.ne (local.get $v) (local.get $v))))
        (local.set $best (select (local.get $i) (local.get $best) (local.get $take)))
        (local.set $bv (select (local.get $v) (local.get $bv) (local.get $take)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $col (i32.lt_s (local.get $i) (local.get $end))))
      (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
      (br_if $row (i32.lt_s (local.get $iy) (local.get $yb))))
    (local.get $bv) (local.get $best)
  )

  ;; Winners of the four 3x3 windows at rows [ya, ya+3), columns xa + 2l + [0, 3), l = 0..3.
  (func $argmax4 (param $plane i32) (param $W i32) (param $ya i32) (param $xa i32) (result v128 v128)
    (local $r i32) (local $p i32) (local $i v128) (local $bv v128) (local $bi v128) (local $take v128)
    (local $v0 v128) (local $v1 v128) (local $e v128) (local $o v128) (local $n v128)
    (local.set $r (i32.const 0))
    (loop $row
      (local.set $p (i32.add (local.get $plane)
        (i32.shl (i32.add (i32.mul (i32.add (local.get $ya) (local.get $r)) (local.get $W)) (local.get $xa)) (i32.const 2))))
      (local.set $v0 (v128.load (local.get $p)))
      (local.set $v1 (v128.load offset=16 (local.get $p)))
      (local.set $e (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $v0) (local.get $v1)))
      (local.set $o (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $v0) (local.get $v1)))
      (local.set $n (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
        (local.get $e) (v128.load32_zero offset=32 (local.get $p))))
      ;; element indices of the even column of each window in this row
      (local.set $i (i32x4.add (i32x4.splat (i32.add (i32.mul (i32.add (local.get $ya) (local.get $r)) (local.get $W)) (local.get $xa)))
        (v128.const i32x4 0 2 4 6)))
      (if (i32.eqz (local.get $r))
        (then (local.set $bv (local.get $e)) (local.set $bi (local.get $i)))
        (else
          (local.set $take (v128.or (f32x4.gt (local.get $e) (local.get $bv)) (f32x4.ne (local.get $e) (local.get $e))))
          (local.set $bv (v128.bitselect (local.get $e) (local.get $bv) (local.get $take)))
          (local.set $bi (v128.bitselect (local.get $i) (local.get $bi) (local.get $take)))))
      (local.set $take (v128.or (f32x4.gt (local.get $o) (local.get $bv)) (f32x4.ne (local.get $o) (local.get $o))))
      (local.set $bv (v128.bitselect (local.get $o) (local.get $bv) (local.get $take)))
      (local.set $bi (v128.bitselect (i32x4.add (local.get $i) (v128.const i32x4 1 1 1 1)) (local.get $bi) (local.get $take)))
      (local.set $take (v128.or (f32x4.gt (local.get $n) (local.get $bv)) (f32x4.ne (local.get $n) (local.get $n))))
      (local.set $bv (v128.bitselect (local.get $n) (local.get $bv) (local.get $take)))
      (local.set $bi (v128.bitselect (i32x4.add (local.get $i) (v128.const i32x4 2 2 2 2)) (local.get $bi) (local.get $take)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $row (i32.lt_u (local.get $r) (i32.const 3))))
    (local.get $bv) (local.get $bi)
  )

  ;; The windows of output row oy: calls $out for each group of four in the plane's interior
  ;; (3x3 every 2) and for each other window alone. $backward picks what happens to the winners.
  (func $pool_plane
    (param $x i32) (param $y i32) (param $dx i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
    (param $size i32) (param $stride i32) (param $pad i32) (param $backward i32)
    (local $oy i32) (local $ox i32) (local $ya i32) (local $yb i32) (local $xa i32) (local $xb i32)
    (local $fast i32) (local $v f32) (local $i i32) (local $bv v128) (local $bi v128) (local $l i32)
    (local.set $oy (i32.const 0))
    (loop $orow
      (local.set $ya (i32.sub (i32.mul (local.get $oy) (local.get $stride)) (local.get $pad)))
      (local.set $yb (i32.add (local.get $ya) (local.get $size)))
      ;; four windows at once: 3x3 every 2, rows inside the plane
      (local.set $fast (i32.and (i32.and (i32.eq (local.get $size) (i32.const 3)) (i32.eq (local.get $stride) (i32.const 2)))
        (i32.and (i32.ge_s (local.get $ya) (i32.const 0)) (i32.le_s (local.get $yb) (local.get $H)))))
      (if (i32.lt_s (local.get $ya) (i32.const 0)) (then (local.set $ya (i32.const 0))))
      (if (i32.gt_s (local.get $yb) (local.get $H)) (then (local.set $yb (local.get $H))))
      (local.set $ox (i32.const 0))
      (loop $ocol
        (local.set $xa (i32.sub (i32.mul (local.get $ox) (local.get $stride)) (local.get $pad)))
        (if (i32.and (local.get $fast)
              (i32.and (i32.ge_s (local.get $xa) (i32.const 0))
                (i32.and (i32.le_s (i32.add (local.get $ox) (i32.const 4)) (local.get $OW))
                         (i32.le_s (i32.add (local.get $xa) (i32.const 9)) (local.get $W)))))
          (then
            (call $argmax4 (local.get $x) (local.get $W) (local.get $ya) (local.get $xa))
            (local.set $bi)
            (local.set $bv)
            (if (local.get $backward)
              (then
                ;; dx[winner] += dy, windows in order
                (local.set $l (i32.const 0))
                (loop $lanes
                  (local.set $i (i32.add (local.get $dx) (i32.shl (i32x4.extract_lane 0 (local.get $bi)) (i32.const 2))))
                  (f32.store (local.get $i) (f32.add (f32.load (local.get $i)) (f32.load (local.get $y))))
                  (local.set $bi (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3 (local.get $bi) (local.get $bi)))
                  (local.set $y (i32.add (local.get $y) (i32.const 4)))
                  (local.set $l (i32.add (local.get $l) (i32.const 1)))
                  (br_if $lanes (i32.lt_u (local.get $l) (i32.const 4)))))
              (else
                (v128.store (local.get $y) (local.get $bv))
                (local.set $y (i32.add (local.get $y) (i32.const 16)))))
            (local.set $ox (i32.add (local.get $ox) (i32.const 4))))
          (else
            (local.set $xb (i32.add (local.get $xa) (local.get $size)))
            (if (i32.lt_s (local.get $xa) (i32.const 0)) (then (local.set $xa (i32.const 0))))
            (if (i32.gt_s (local.get $xb) (local.get $W)) (then (local.set $xb (local.get $W))))
            (call $argmax1 (local.get $x) (local.get $W) (local.get $ya) (local.get $yb) (local.get $xa) (local.get $xb))
            (local.set $i)
            (local.set $v)
            (if (local.get $backward)
              (then
                (local.set $i (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2))))
                (f32.store (local.get $i) (f32.add (f32.load (local.get $i)) (f32.load (local.get $y)))))
              (else (f32.store (local.get $y) (local.get $v))))
            (local.set $y (i32.add (local.get $y) (i32.const 4)))
            (local.set $ox (i32.add (local.get $ox) (i32.const 1)))))
        (br_if $ocol (i32.lt_u (local.get $ox) (local.get $OW))))
      (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
      (br_if $orow (i32.lt_u (local.get $oy) (local.get $OH))))
  )

  (func (export "maxpool_forward")
    (param $x i32) (param $y i32) (param $planes i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
    (param $size i32) (param $stride i32) (param $pad i32)
    (local $p i32)
    (local.set $p (i32.const 0))
    (block $done (loop $plane
      (br_if $done (i32.ge_u (local.get $p) (local.get $planes)))
      (call $pool_plane (local.get $x) (local.get $y) (i32.const 0) (local.get $H) (local.get $W) (local.get $OH) (local.get $OW)
        (local.get $size) (local.get $stride) (local.get $pad) (i32.const 0))
      (local.set $x (i32.add (local.get $x) (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2))))
      (local.set $y (i32.add (local.get $y) (i32.shl (i32.mul (local.get $OH) (local.get $OW)) (i32.const 2))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $plane)))
  )

  ;; dx (cleared first) += dy routed to each window's winner.
  (func (export "maxpool_backward")
    (param $x i32) (param $dy i32) (param $dx i32) (param $planes i32) (param $H i32) (param $W i32) (param $OH i32) (param $OW i32)
    (param $size i32) (param $stride i32) (param $pad i32)
    (local $p i32)
    (memory.fill (local.get $dx) (i32.const 0) (i32.shl (i32.mul (local.get $planes) (i32.mul (local.get $H) (local.get $W))) (i32.const 2)))
    (local.set $p (i32.const 0))
    (block $done (loop $plane
      (br_if $done (i32.ge_u (local.get $p) (local.get $planes)))
      (call $pool_plane (local.get $x) (local.get $dy) (local.get $dx) (local.get $H) (local.get $W) (local.get $OH) (local.get $OW)
        (local.get $size) (local.get $stride) (local.get $pad) (i32.const 1))
      (local.set $x (i32.add (local.get $x) (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2))))
      (local.set $dx (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $H) (local.get $W)) (i32.const 2))))
      (local.set $dy (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $OH) (local.get $OW)) (i32.const 2))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $plane)))
  )
)
