// Shape inference: walks an architecture's layers from the input shape, checking each fits,
// and records every layer's per-image input and output shapes and parameter shapes.
import { ShapeError } from '../core/errors.js';
import { convGeometry, poolGeometry, product, shapeString } from '../core/geometry.js';
import type { Architecture, LayerSpec } from './layers.js';

export interface PlannedLayer {
  spec: LayerSpec;
  index: number;
  /** Per-image shapes: [C, H, W] for feature maps, [F] for vectors. */
  inShape: number[];
  outShape: number[];
  /** Weight and bias shapes for conv and linear layers. */
  weightShape?: number[];
  biasShape?: number[];
  /** Runs on its input's memory (ReLU, dropout, flatten). */
  inPlace: boolean;
}

function describe(spec: LayerSpec, index: number): string {
  return 'name' in spec ? spec.name : `layer ${index} (${spec.kind})`;
}

export function planLayers(arch: Architecture): PlannedLayer[] {
  const planned: PlannedLayer[] = [];
  let shape: number[] = [...arch.input];
  arch.layers.forEach((spec, index) => {
    const what = `${arch.name} ${describe(spec, index)}`;
    const needMaps = () => {
      if (shape.length !== 3) throw new ShapeError(`${what}: expected a [C, H, W] feature map, found ${shapeString(shape)}`);
      return shape as [number, number, number];
    };
    let outShape: number[];
    let weightShape: number[] | undefined;
    let biasShape: number[] | undefined;
    switch (spec.kind) {
      case 'conv': {
        const [c, h, w] = needMaps();
        const g = convGeometry(1, c, h, w, spec.outChannels, spec.kernel, spec.stride, spec.pad, spec.groups, what);
        outShape = [spec.outChannels, g.outHeight, g.outWidth];
        weightShape = [spec.outChannels, c / spec.groups, spec.kernel, spec.kernel];
        biasShape = [spec.outChannels];
        break;
      }
      case 'maxpool': {
        const [c, h, w] = needMaps();
        const g = poolGeometry(1, c, h, w, spec.size, spec.stride, 0, spec.rounding);
        outShape = [c, g.outHeight, g.outWidth];
        break;
      }
      case 'adaptiveavgpool':
        outShape = [needMaps()[0], spec.outSize, spec.outSize];
        break;
      case 'lrn':
        outShape = [...needMaps()];
        break;
      case 'flatten':
        outShape = [product(shape)];
        break;
      case 'linear':
        if (shape.length !== 1) throw new ShapeError(`${what}: expected a flat [F] input, found ${shapeString(shape)}`);
        outShape = [spec.outFeatures];
        weightShape = [spec.outFeatures, shape[0]];
        biasShape = [spec.outFeatures];
        break;
      case 'relu':
      case 'dropout':
        outShape = [...shape];
        break;
    }
    // LRN's backward needs its exact output, so nothing may overwrite it in place; dropout
    // always works in place (at test time it is the identity and must not need a copy).
    const afterLrn = index > 0 && arch.layers[index - 1].kind === 'lrn';
    if (spec.kind === 'dropout' && afterLrn) throw new ShapeError(`${what}: dropout directly after LRN is not supported`);
    const inPlace = spec.kind === 'dropout' || spec.kind === 'flatten' || (spec.kind === 'relu' && !afterLrn);
    planned.push({ spec, index, inShape: shape, outShape, weightShape, biasShape, inPlace });
    shape = outShape;
  });
  const last = shape;
  if (last.length !== 1 || last[0] !== arch.classes) {
    throw new ShapeError(`${arch.name}: the last layer must give [${arch.classes}] class scores, found ${shapeString(last)}`);
  }
  return planned;
}

/** Multiply-adds of one image's forward pass. */
export function forwardMacs(layers: PlannedLayer[]): number {
  let macs = 0;
  for (const l of layers) {
    if (l.weightShape) macs += product(l.weightShape) * (l.spec.kind === 'conv' ? l.outShape[1] * l.outShape[2] : 1);
  }
  return macs;
}
