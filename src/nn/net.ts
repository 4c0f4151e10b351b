// Net: plans one arena for parameters, gradients, momenta and activations up front, then runs
// forward, backward and the SGD update on a backend, reusing that memory every step.
import type { Backend, SgdParams, Tensor } from '../backend/backend.js';
import { ShapeError } from '../core/errors.js';
import { convGeometry, poolGeometry, product } from '../core/geometry.js';
import { expectTensor, type NamedTensor } from '../io/safetensors.js';
import { mix32, Rng } from '../rng/hash.js';
import { initBias, initWeight, type InitOptions } from './init.js';
import { parameterNames } from './architectures.js';
import type { Architecture, LayerSpec } from './layers.js';
import { planLayers, type PlannedLayer } from './plan.js';

/** Offsets in the arena are multiples of 64 floats (256 bytes: WebGPU's binding alignment). */
const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface Parameter {
  /** Name in weight files (e.g. conv1.weight, or features.0.weight for torchvision). */
  name: string;
  shape: number[];
  value: Tensor;
  grad: Tensor;
  velocity: Tensor;
}

interface Layer extends PlannedLayer {
  input: Tensor; // [maxBatch, ...inShape]
  output: Tensor; // [maxBatch, ...outShape]; the input itself when in place
  weight?: Parameter;
  bias?: Parameter;
}

export class Net {
  readonly layers: Layer[];
  readonly parameters: Parameter[] = [];
  readonly parameterCount: number;
  /** [maxBatch, C, H, W]: write a batch here before forward(). */
  readonly input: Tensor;
  /** [maxBatch] class indices as floats: write them before backward(). */
  readonly labels: Tensor;
  readonly logits: Tensor;
  readonly loss: Tensor;
  private readonly allValues: Tensor;
  private readonly allGrads: Tensor;
  private readonly allVelocities: Tensor;
  private readonly gradBuffers: [Tensor, Tensor];
  /** What the last forward() ran: backward() replays its dropout masks. */
  private last: { batch: number; mode: 'train' | 'eval'; seed: number; step: number } | null = null;

  constructor(
    readonly backend: Backend,
    readonly arch: Architecture,
    readonly maxBatch: number,
  ) {
    const planned = planLayers(arch);
    const B = maxBatch;
    // Parameters: values, gradients and velocities each in one contiguous block, so the SGD
    // update of every parameter is one op.
    const paramSlots: { layer: number; name: string; shape: number[]; offset: number }[] = [];
    let paramFloats = 0;
    for (const l of planned) {
      if (!l.weightShape || !l.biasShape || !('name' in l.spec)) continue;
      const names = parameterNames(arch, l.spec.name);
      for (const [name, shape] of [[names.weight, l.weightShape], [names.bias, l.biasShape]] as const) {
        paramSlots.push({ layer: l.index, name, shape, offset: paramFloats });
        paramFloats += align(product(shape));
      }
    }
    this.parameterCount = paramSlots.reduce((s, p) => s + product(p.shape), 0);
    // What the whole arena needs, for the one-line error when the backend cannot give it.
    const activations = planned.filter((l) => !l.inPlace).map((l) => B * product(l.outShape));
    const largestActivation = Math.max(product(arch.input), ...planned.map((l) => product(l.outShape)));
    const bytes = 4 * (3 * paramFloats + B * (product(arch.input) + 1 + 2 * largestActivation) + 1 + activations.reduce((s, n) => s + n, 0));
    const allocate = (label: string, size: number): Tensor => {
      try {
        return backend.allocate(label, size);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        throw new ShapeError(
          `--batch ${B}: the ${arch.name} net needs ${(bytes / 2 ** 30).toFixed(1)} GiB (parameters, gradients, momenta and ` +
            `activations) at this batch, more than the ${backend.name} backend could allocate (${err.message}); lower --batch`,
        );
      }
    };
    this.allValues = allocate(`${arch.name}.parameters`, paramFloats);
    this.allGrads = allocate(`${arch.name}.gradients`, paramFloats);
    this.allVelocities = allocate(`${arch.name}.velocities`, paramFloats);
    for (const s of paramSlots) {
      const size = product(s.shape);
      this.parameters.push({
        name: s.name,
        shape: s.shape,
        value: backend.view(this.allValues, s.offset, size, s.name),
        grad: backend.view(this.allGrads, s.offset, size, `${s.name}.grad`),
        velocity: backend.view(this.allVelocities, s.offset, size, `${s.name}.velocity`),
      });
    }
    // Activations: one buffer per layer that does not work in place; gradients of activations
    // ping-pong between two buffers of the largest activation's size.
    this.input = allocate('input', B * product(arch.input));
    this.labels = allocate('labels', B);
    this.loss = allocate('loss', 1);
    let current = this.input;
    let largest = product(arch.input);
    this.layers = planned.map((l) => {
      const outSize = product(l.outShape);
      largest = Math.max(largest, outSize);
      const output = l.inPlace ? current : allocate(`${describeLayer(l.spec, l.index)}.output`, B * outSize);
      const layer: Layer = { ...l, input: current, output };
      const own = this.parameters.filter((_, i) => paramSlots[i].layer === l.index);
      if (own.length === 2) [layer.weight, layer.bias] = own;
      current = output;
      return layer;
    });
    this.logits = current;
    this.gradBuffers = [allocate('grad.a', B * largest), allocate('grad.b', B * largest)];
  }

  /** Initialises every parameter (and zeroes velocities) on the host, then uploads. */
  initialize(options: InitOptions): void {
    const rng = new Rng(options.seed);
    for (const layer of this.layers) {
      if (!layer.weight || !layer.bias || !('biasInit' in layer.spec)) continue;
      const w = new Float32Array(product(layer.weight.shape));
      initWeight(w, product(layer.weight.shape.slice(1)), options.scheme, rng);
      this.backend.write(layer.weight.value, w);
      const b = new Float32Array(product(layer.bias.shape));
      initBias(b, layer.spec.biasInit, options.biasOverride);
      this.backend.write(layer.bias.value, b);
    }
    this.backend.fill(this.allVelocities, 0);
  }

  private checkBatch(batch: number): void {
    if (!Number.isInteger(batch) || batch < 1 || batch > this.maxBatch) {
      throw new ShapeError(`batch must be an integer in 1..${this.maxBatch} (planned), found ${batch}`);
    }
  }

  /**
   * Runs the layers on the first `batch` images of `input`. Training mode applies dropout with
   * masks drawn from (seed, step); evaluation mode skips it (inverted dropout needs no rescale).
   */
  forward(batch: number, mode: 'train' | 'eval', seed = 0, step = 0): void {
    this.checkBatch(batch);
    this.last = { batch, mode, seed, step };
    const be = this.backend;
    for (const l of this.layers) {
      const s = l.spec;
      const inCount = batch * product(l.inShape);
      switch (s.kind) {
        case 'conv':
          be.conv2dForward(this.convGeometry(l, batch), l.input, l.weight!.value, l.bias!.value, l.output);
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
          be.maxPoolForward(poolGeometryOf(l, batch), l.input, l.output);
          break;
        case 'adaptiveavgpool':
          be.adaptiveAvgPoolForward(adaptiveGeometryOf(l, batch), l.input, l.output);
          break;
        case 'dropout':
          if (mode === 'train') be.dropoutForward(inCount, dropoutParams(s.p, seed, step, l.index), l.input, l.output);
          break;
        case 'flatten':
          break;
      }
    }
  }

  /**
   * Loss of the last forward pass against `labels`, and every parameter's gradient (zeroed
   * first), through the same dropout masks as that pass.
   */
  backward(): void {
    if (!this.last) throw new Error('backward() needs a forward() first');
    const { batch, mode, seed, step } = this.last;
    const be = this.backend;
    be.fill(this.allGrads, 0);
    let [dOut, spare] = this.gradBuffers;
    be.softmaxCrossEntropy(batch, this.arch.classes, this.logits, this.labels, this.loss, dOut);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const s = l.spec;
      const first = i === 0; // no one needs the gradient of the input image
      const dIn = l.inPlace ? dOut : spare;
      const count = batch * product(l.inShape);
      switch (s.kind) {
        case 'conv': {
          const g = this.convGeometry(l, batch);
          be.conv2dBackwardFilter(g, l.input, dOut, l.weight!.grad, l.bias!.grad);
          if (!first) be.conv2dBackwardData(g, dOut, l.weight!.value, dIn);
          break;
        }
        case 'linear': {
          const ls = linearShape(l, batch);
          be.linearBackwardParams(ls, l.input, dOut, l.weight!.grad, l.bias!.grad);
          if (!first) be.linearBackwardData(ls, dOut, l.weight!.value, dIn);
          break;
        }
        case 'relu':
          be.reluBackward(count, l.output, dOut, dIn);
          break;
        case 'lrn':
          be.lrnBackward(s.params, [batch, ...l.inShape], l.input, l.output, dOut, dIn);
          break;
        case 'maxpool':
          be.maxPoolBackward(poolGeometryOf(l, batch), l.input, dOut, dIn);
          break;
        case 'adaptiveavgpool':
          be.adaptiveAvgPoolBackward(adaptiveGeometryOf(l, batch), dOut, dIn);
          break;
        case 'dropout':
          if (mode === 'train') be.dropoutBackward(count, dropoutParams(s.p, seed, step, l.index), dOut, dIn);
          break;
        case 'flatten':
          break;
      }
      if (dIn !== dOut) [dOut, spare] = [dIn, dOut];
    }
  }

  /** Loss only (no gradients) of the last forward pass against `labels`. */
  computeLoss(): void {
    if (!this.last) throw new Error('computeLoss() needs a forward() first');
    this.backend.softmaxCrossEntropy(this.last.batch, this.arch.classes, this.logits, this.labels, this.loss, null);
  }

  /** One SGD step over every parameter at once. */
  update(h: SgdParams): void {
    this.backend.sgdUpdate(this.allValues.size, h, this.allValues, this.allGrads, this.allVelocities);
  }

  async readLoss(): Promise<number> {
    return (await this.backend.read(this.loss, 1))[0];
  }

  async readLogits(batch: number): Promise<Float32Array> {
    return this.backend.read(this.logits, batch * this.arch.classes);
  }

  /**
   * The output of the named conv or linear layer for the last forward pass: [batch, ...shape],
   * after its ReLU where one follows (they run in place), e.g. fc7's 4096-d features.
   */
  async readLayerOutput(name: string, batch: number): Promise<{ shape: number[]; data: Float32Array }> {
    const layer = this.layers.find((l) => 'name' in l.spec && l.spec.name === name);
    if (!layer) throw new ShapeError(`${this.arch.name} has no layer named "${name}"`);
    return { shape: layer.outShape, data: await this.backend.read(layer.output, batch * product(layer.outShape)) };
  }

  /** Parameters (or, with `which`, gradients or velocities) under their file names. */
  async exportTensors(which: 'value' | 'grad' | 'velocity' = 'value'): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [];
    for (const p of this.parameters) out.push({ name: p.name, shape: p.shape, data: await this.backend.read(p[which]) });
    return out;
  }

  /** Loads parameters (or velocities) by file name; every name and shape must match. */
  importTensors(tensors: Map<string, NamedTensor>, file: string, which: 'value' | 'velocity' = 'value'): void {
    for (const p of this.parameters) {
      this.backend.write(p[which], expectTensor(tensors, p.name, p.shape, file).data);
    }
  }

  /** Bytes of the arena: parameters, gradients, velocities, activations. */
  get memoryBytes(): number {
    return this.backend.allocatedBytes;
  }

  private convGeometry(l: PlannedLayer, batch: number) {
    const s = l.spec as Extract<LayerSpec, { kind: 'conv' }>;
    const [c, h, w] = l.inShape;
    return convGeometry(batch, c, h, w, s.outChannels, s.kernel, s.stride, s.pad, s.groups, s.name);
  }
}

function describeLayer(spec: LayerSpec, index: number): string {
  return 'name' in spec ? spec.name : `${spec.kind}${index}`;
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

/** Dropout masks differ per step and per layer, and are the same in forward and backward. */
function dropoutParams(p: number, seed: number, step: number, layerIndex: number) {
  return { p, seed, stream: mix32((Math.imul(step, 64) + layerIndex) >>> 0) };
}
