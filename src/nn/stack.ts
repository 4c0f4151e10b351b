// A stack of planned layers on one backend: their activation buffers, and their forward and
// backward passes. The Net is one stack under a loss (a split of the net over devices would run
// several stacks with exchanges between them). Activation gradients ping-pong between two buffers the caller
// gives; parameter gradients accumulate into the parameters' own.
import type { Backend, Tensor } from '../backend/backend.js';
import { convGeometry, poolGeometry, product } from '../core/geometry.js';
import { mix32 } from '../rng/hash.js';
import type { Parameter } from './arena.js';
import type { LayerSpec } from './layers.js';
import type { PlannedLayer } from './plan.js';

export interface StackLayer extends PlannedLayer {
  input: Tensor; // [maxBatch, ...inShape]
  output: Tensor; // [maxBatch, ...outShape]; the input itself when in place
  indices?: Tensor; // max-pool: [maxBatch, ...outShape], the argmax reserve of maxPoolForward
  weight?: Parameter;
  bias?: Parameter;
}

/** What a forward pass ran, replayed by its backward pass (the same dropout masks). */
export interface Pass {
  batch: number;
  mode: 'train' | 'eval';
  seed: number;
  step: number;
  /** Index of the pass's first image in the whole batch (a data-parallel slice's first row). */
  firstImage: number;
  /**
   * Layers before this index are a frozen feature extractor (fine-tuning) and run as at
   * evaluation, dropout off, so that their output for an image is fixed and can be kept. 0: none.
   */
  frozenBefore?: number;
  /**
   * The first layer to run (0 when absent): the input of layer `from` already holds what the
   * layers before it would give (a frozen front's kept outputs).
   */
  from?: number;
  /** Runs only the layers before this index (all when absent): a frozen front on its own. */
  to?: number;
}

/** How far a backward pass goes, and what it computes on the way. */
export interface BackwardOptions {
  /** Index of the lowest layer whose backward step runs (0 when absent: every layer). */
  stop?: number;
  /** Layers from this index up add to their parameter gradients; earlier ones compute none (0 when absent). */
  paramsFrom?: number;
  /** Whether layer `stop` also computes the gradient of its input (the image's, for layer 0). */
  inputGradient?: boolean;
}

export class LayerStack {
  readonly layers: StackLayer[];
  readonly output: Tensor;
  /** Floats of one image's largest activation here, input included (gradient buffers hold a batch of it). */
  readonly largest: number;

  /**
   * `input` holds [maxBatch, ...planned[0].inShape]; `parameters` gives a conv or linear layer's
   * weight and bias by its index; `allocate` makes the outputs of layers that are not in place.
   */
  constructor(
    readonly backend: Backend,
    planned: PlannedLayer[],
    input: Tensor,
    maxBatch: number,
    parameters: (layer: number) => [Parameter, Parameter] | undefined,
    allocate: (label: string, size: number) => Tensor,
  ) {
    let current = input;
    let largest = product(planned[0].inShape);
    this.layers = planned.map((l) => {
      largest = Math.max(largest, product(l.outShape));
      const output = l.inPlace ? current : allocate(`${describeLayer(l.spec, l.index)}.output`, maxBatch * product(l.outShape));
      const layer: StackLayer = { ...l, input: current, output };
      if (l.spec.kind === 'maxpool') layer.indices = allocate(`${describeLayer(l.spec, l.index)}.indices`, maxBatch * product(l.outShape));
      const own = parameters(l.index);
      if (own) [layer.weight, layer.bias] = own;
      current = output;
      return layer;
    });
    this.output = current;
    this.largest = largest;
  }

  /** Runs the layers; training mode applies dropout with masks drawn from the pass. */
  forward(pass: Pass): void {
    const be = this.backend;
    const { batch } = pass;
    for (const l of this.layers) {
      if (l.index < (pass.from ?? 0) || l.index >= (pass.to ?? Infinity)) continue;
      const s = l.spec;
      const inCount = batch * product(l.inShape);
      switch (s.kind) {
        case 'conv':
          be.conv2dForward(convGeometryOf(l, batch), l.input, l.weight!.value, l.bias!.value, l.output);
          break;
        case 'linear':
          be.linearForward(linearShape(l, batch), l.input, l.weight!.value, l.bias!.value, l.output);
          break;
        case 'relu':
          be.reluForward(inCount, l.input, l.output);
          break;
        case 'lrn':
          be.lrnForward(s.params, [batch, ...l.inShape], l.input, l.output);
          break;
        case 'maxpool':
          be.maxPoolForward(poolGeometryOf(l, batch), l.input, l.output, l.indices!);
          break;
        case 'adaptiveavgpool':
          be.adaptiveAvgPoolForward(adaptiveGeometryOf(l, batch), l.input, l.output);
          break;
        case 'dropout':
          if (dropsOut(pass, l)) be.dropoutForward(inCount, dropoutParams(s.p, pass, l), l.input, l.output);
          break;
        case 'flatten':
          break;
      }
    }
  }

  /**
   * The backward pass of `pass` from the output gradient in `dOut`, using `spare` as the other
   * ping-pong buffer, down to layer `o.stop`; adds to the parameter gradients of layers from
   * `o.paramsFrom` up (frozen parameters have none). Returns the buffer that holds the gradient
   * of layer `o.stop`'s input, or null without `o.inputGradient` (no one needs it: the image's,
   * or a frozen layer's).
   */
  backward(pass: Pass, dOut: Tensor, spare: Tensor, o: BackwardOptions = {}): Tensor | null {
    const be = this.backend;
    const { batch } = pass;
    const stop = o.stop ?? 0;
    const paramsFrom = o.paramsFrom ?? 0;
    for (let i = this.layers.length - 1; i >= 0 && this.layers[i].index >= stop; i--) {
      const l = this.layers[i];
      const s = l.spec;
      // The stack's first layer, or the last one asked for, computes its input's gradient only on request.
      const needInput = i === 0 || l.index === stop ? o.inputGradient === true : true;
      const dIn = l.inPlace ? dOut : spare;
      const count = batch * product(l.inShape);
      const grads = l.index >= paramsFrom && l.weight?.grad && l.bias?.grad ? { w: l.weight.grad, b: l.bias.grad } : null;
      switch (s.kind) {
        case 'conv': {
          const g = convGeometryOf(l, batch);
          if (grads) be.conv2dBackwardFilter(g, l.input, dOut, grads.w, grads.b);
          if (needInput) be.conv2dBackwardData(g, dOut, l.weight!.value, dIn);
          break;
        }
        case 'linear': {
          const ls = linearShape(l, batch);
          if (grads) be.linearBackwardParams(ls, l.input, dOut, grads.w, grads.b);
          if (needInput) be.linearBackwardData(ls, dOut, l.weight!.value, dIn);
          break;
        }
        case 'relu':
          be.reluBackward(count, l.output, dOut, dIn);
          break;
        case 'lrn':
          be.lrnBackward(s.params, [batch, ...l.inShape], l.input, l.output, dOut, dIn);
          break;
        case 'maxpool':
          be.maxPoolBackward(poolGeometryOf(l, batch), l.input, l.indices!, dOut, dIn);
          break;
        case 'adaptiveavgpool':
          be.adaptiveAvgPoolBackward(adaptiveGeometryOf(l, batch), dOut, dIn);
          break;
        case 'dropout':
          if (dropsOut(pass, l)) be.dropoutBackward(count, dropoutParams(s.p, pass, l), dOut, dIn);
          break;
        case 'flatten':
          break;
      }
      if (dIn !== dOut) [dOut, spare] = [dIn, dOut];
    }
    return o.inputGradient ? dOut : null;
  }
}

export function describeLayer(spec: LayerSpec, index: number): string {
  return 'name' in spec ? spec.name : `${spec.kind}${index}`;
}

function convGeometryOf(l: PlannedLayer, batch: number) {
  const s = l.spec as Extract<LayerSpec, { kind: 'conv' }>;
  const [c, h, w] = l.inShape;
  return convGeometry(batch, c, h, w, s.outChannels, s.kernel, s.stride, s.pad, s.groups, s.name);
}

function linearShape(l: PlannedLayer, batch: number) {
  return { batch, inFeatures: l.inShape[0], outFeatures: l.outShape[0] };
}

function poolGeometryOf(l: PlannedLayer, batch: number) {
  const s = l.spec as Extract<LayerSpec, { kind: 'maxpool' }>;
  const [c, h, w] = l.inShape;
  return poolGeometry(batch, c, h, w, s.size, s.stride, 0, s.rounding);
}

function adaptiveGeometryOf(l: PlannedLayer, batch: number) {
  const [c, h, w] = l.inShape;
  return { planes: batch * c, inHeight: h, inWidth: w, outHeight: l.outShape[1], outWidth: l.outShape[2] };
}

/** Dropout runs in training, except in a frozen front (which runs as at evaluation). */
function dropsOut(pass: Pass, l: PlannedLayer): boolean {
  return pass.mode === 'train' && l.index >= (pass.frozenBefore ?? 0);
}

/**
 * Dropout masks differ per step and per layer, and are the same in forward and backward. Mask
 * element i of image b is number (firstImage + b) * features + i: a slice of the batch draws what
 * the whole batch would.
 */
export function dropoutParams(p: number, pass: Pass, l: PlannedLayer) {
  return { p, seed: pass.seed, stream: mix32((Math.imul(pass.step, 64) + l.index) >>> 0), offset: pass.firstImage * product(l.inShape) };
}
