// Where a unit looks: the box of input pixels that the value of a spatial layer's unit depends
// on (its receptive field, clipped to the image), and the nominal field size and step of a layer.
import { adaptiveWindow } from '../core/geometry.js';
import type { PlannedLayer } from '../nn/plan.js';

/** Rows [top, top + height) and columns [left, left + width) of the net's input. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Inclusive input rows (or columns) of a sliding window over [lo, hi] outputs, clipped to the input. */
function windowSpan(lo: number, hi: number, kernel: number, stride: number, pad: number, inSize: number): [number, number] {
  return [Math.max(0, lo * stride - pad), Math.min(inSize - 1, hi * stride - pad + kernel - 1)];
}

/**
 * The input pixels that unit (y, x) of layer `layer`'s output depends on. Windows are clipped to
 * each layer's input (padding depends on nothing), so the box is exact, not the nominal field.
 * `layers` are the net's planned layers; layer `layer` must give a [C, H, W] map.
 */
export function receptiveBox(layers: readonly PlannedLayer[], layer: number, y: number, x: number): Box {
  let [top, bottom, left, right] = [y, y, x, x];
  for (let i = layer; i >= 0; i--) {
    const l = layers[i];
    const s = l.spec;
    if (s.kind === 'linear' || s.kind === 'flatten') throw new RangeError(`layer ${layer}: units after a flatten have no receptive box`);
    const [, h, w] = l.inShape;
    if (s.kind === 'conv' || s.kind === 'maxpool') {
      const kernel = s.kind === 'conv' ? s.kernel : s.size;
      const pad = s.kind === 'conv' ? s.pad : 0;
      [top, bottom] = windowSpan(top, bottom, kernel, s.stride, pad, h);
      [left, right] = windowSpan(left, right, kernel, s.stride, pad, w);
    } else if (s.kind === 'adaptiveavgpool') {
      [top, bottom] = [adaptiveWindow(top, h, s.outSize)[0], adaptiveWindow(bottom, h, s.outSize)[1] - 1];
      [left, right] = [adaptiveWindow(left, w, s.outSize)[0], adaptiveWindow(right, w, s.outSize)[1] - 1];
    }
  }
  return { top, left, height: bottom - top + 1, width: right - left + 1 };
}

/**
 * The nominal receptive field of layer `layer`'s units: its side in input pixels, unclipped
 * (paper conv5: 163), and the input pixels between neighbouring units (paper conv5: 16).
 */
export function receptiveField(layers: readonly PlannedLayer[], layer: number): { size: number; step: number } {
  let size = 1;
  let step = 1;
  for (let i = 0; i <= layer; i++) {
    const s = layers[i].spec;
    if (s.kind !== 'conv' && s.kind !== 'maxpool') continue;
    size += ((s.kind === 'conv' ? s.kernel : s.size) - 1) * step;
    step *= s.stride;
  }
  return { size, step };
}
