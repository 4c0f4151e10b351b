// Net: plans one arena for parameters, gradients, momenta and activations up front, then runs
// forward, backward and the SGD update on a backend, reusing that memory every step.
import type { Backend, SgdParams, Tensor } from '../backend/backend.js';
import { ShapeError } from '../core/errors.js';
import { product } from '../core/geometry.js';
import { expectTensor, type NamedTensor } from '../io/safetensors.js';
import { Rng } from '../rng/hash.js';
import { parameterNames } from './architectures.js';
import { parameterFloats, ParameterArena, type Parameter, type ParameterSlot, type TrainableOptions } from './arena.js';
import { initBias, initWeight, type InitOptions } from './init.js';
import type { Architecture } from './layers.js';
import type { InputSlot, Network } from './network.js';
import { planLayers, type PlannedLayer } from './plan.js';
import { LayerStack, type Pass, type StackLayer } from './stack.js';

export type { Parameter, TrainableOptions } from './arena.js';

export class Net implements Network {
  readonly layers: StackLayer[];
  readonly parameters: Parameter[];
  readonly parameterCount: number;
  /** [maxBatch, C, H, W]: write a batch here before forward(). */
  readonly input: Tensor;
  /** [maxBatch] class indices as floats: write them before backward(). */
  readonly labels: Tensor;
  readonly logits: Tensor;
  readonly loss: Tensor;
  private readonly arena: ParameterArena;
  private readonly stack: LayerStack;
  private readonly gradBuffers: [Tensor, Tensor];
  /** Index of the first layer whose parameters train; the layers before it are frozen. */
  readonly trainableFrom: number;
  /**
   * The frozen front: the layers before this index run as at evaluation (dropout off), so an
   * image's output there is fixed and may be kept. It is trainableFrom, less the dropout layers
   * just before it, which keep dropping what the first trained layer sees.
   */
  readonly frozenBefore: number;
  /** What the last forward() ran: backward() replays its dropout masks. */
  private last: Pass | null = null;

  /**
   * `trainable` freezes the layers before `trainableFrom` (no gradient, no velocity; they run as
   * at evaluation) and sets learning-rate multipliers by layer (fine-tuning: fine_tune.ts). A net
   * that is only run and looked into (explain) freezes every layer: it holds values only.
   */
  constructor(
    readonly backend: Backend,
    readonly arch: Architecture,
    readonly maxBatch: number,
    trainable: TrainableOptions = {},
  ) {
    const planned = planLayers(arch);
    const B = maxBatch;
    const slots = parameterSlots(arch, planned);
    this.trainableFrom = trainable.trainableFrom ?? 0;
    let front = this.trainableFrom;
    while (front > 0 && front <= arch.layers.length && arch.layers[front - 1].kind === 'dropout') front--;
    this.frozenBefore = front;
    this.parameterCount = slots.reduce((s, p) => s + product(p.shape), 0);
    // What the whole arena needs, for the one-line error when the backend cannot give it.
    // Each layer's output unless in place, and a max-pool's argmax reserve besides.
    const activations = planned.reduce((s, l) => s + (l.inPlace ? 0 : l.spec.kind === 'maxpool' ? 2 : 1) * B * product(l.outShape), 0);
    const largestActivation = Math.max(product(arch.input), ...planned.map((l) => product(l.outShape)));
    const trained = slots.filter((p) => p.layer >= this.trainableFrom);
    const parameters = parameterFloats(slots) + 2 * parameterFloats(trained);
    const bytes = 4 * (parameters + B * (product(arch.input) + 1 + 2 * largestActivation) + 1 + activations);
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
    this.arena = new ParameterArena(backend, arch.name, slots, allocate, trainable);
    this.parameters = this.arena.parameters;
    // Activations: one buffer per layer that does not work in place; gradients of activations
    // ping-pong between two buffers of the largest activation's size.
    this.input = allocate('input', B * product(arch.input));
    this.labels = allocate('labels', B);
    this.loss = allocate('loss', 1);
    this.stack = new LayerStack(backend, planned, this.input, B, (i) => this.arena.ofLayer(i), allocate);
    this.layers = this.stack.layers;
    this.logits = this.stack.output;
    this.gradBuffers = [allocate('grad.a', B * this.stack.largest), allocate('grad.b', B * this.stack.largest)];
  }

  /** Initialises every parameter (and zeroes velocities) on the host, then uploads. */
  initialize(options: InitOptions): void {
    for (const t of initialTensors(this.arch, options)) this.backend.write(this.parameter(t.name).value, t.data);
    this.arena.zeroVelocities();
  }

  /** The one device's input and labels take every row of a batch. */
  inputSlots(batch: number): InputSlot[] {
    return [{ backend: this.backend, input: this.input, labels: this.labels, first: 0, count: batch }];
  }

  private checkBatch(batch: number): void {
    if (!Number.isInteger(batch) || batch < 1 || batch > this.maxBatch) {
      throw new ShapeError(`batch must be an integer in 1..${this.maxBatch} (planned), found ${batch}`);
    }
  }

  /**
   * Runs the layers on the first `batch` images of `input`. Training mode applies dropout with
   * masks drawn from (seed, step); evaluation mode skips it (inverted dropout needs no rescale).
   * `firstImage` is the index of input's first image in a larger batch that several devices
   * share: its dropout masks are those that batch's images get. `from` > 0 starts at that layer,
   * whose input the caller has written (a frozen front's kept outputs: inputOf(from)); `to` runs
   * only the layers before it (the front alone).
   */
  forward(batch: number, mode: 'train' | 'eval', seed = 0, step = 0, firstImage = 0, from = 0, to = Infinity): void {
    this.checkBatch(batch);
    this.last = { batch, mode, seed, step, firstImage, frozenBefore: this.frozenBefore, from, to };
    this.stack.forward(this.last);
  }

  /**
   * Loss of the last forward pass against `labels`, and the gradient of every trained parameter
   * (zeroed first, times `gradScale`), through the same dropout masks as that pass. The backward
   * pass stops at the first trained layer: nothing below it needs a gradient.
   */
  backward(gradScale = 1): void {
    if (!this.last) throw new Error('backward() needs a forward() first');
    this.arena.zeroGradients();
    const [dLogits, spare] = this.gradBuffers;
    this.backend.softmaxCrossEntropy(this.last.batch, this.arch.classes, this.logits, this.labels, this.loss, dLogits, gradScale);
    this.stack.backward(this.last, dLogits, spare, { stop: this.trainableFrom, paramsFrom: this.trainableFrom });
  }

  /**
   * For the last forward pass, the gradient of sum(dLogits * logits) with respect to the input of
   * layer `layer` (0: the image), [batch, ...that input's shape]: with a one-hot `dLogits`
   * [batch, classes], d score_c / d input (saliency) or / d a layer's output (Grad-CAM: the input
   * of the layer after it). Computes no parameter gradient and changes no parameter.
   */
  async inputGradient(layer: number, dLogits: Float32Array): Promise<Float32Array> {
    if (!this.last) throw new Error('inputGradient() needs a forward() first');
    const l = this.layers[layer];
    if (!l) throw new ShapeError(`${this.arch.name} has no layer ${layer} (it has ${this.layers.length})`);
    const batch = this.last.batch;
    if (dLogits.length !== batch * this.arch.classes) {
      throw new ShapeError(`inputGradient: dLogits holds ${dLogits.length} floats, expected ${batch} x ${this.arch.classes}`);
    }
    const [a, b] = this.gradBuffers;
    this.backend.write(a, dLogits);
    const grad = this.stack.backward(this.last, a, b, { stop: layer, paramsFrom: Infinity, inputGradient: true })!;
    return this.backend.read(grad, batch * product(l.inShape));
  }

  /** The tensor that holds layer `layer`'s input ([maxBatch, ...inShape]): forward(..., from = layer) reads it. */
  inputOf(layer: number): Tensor {
    return this.layers[layer].input;
  }

  /** Loss only (no gradients) of the last forward pass against `labels`. */
  computeLoss(): void {
    if (!this.last) throw new Error('computeLoss() needs a forward() first');
    this.backend.softmaxCrossEntropy(this.last.batch, this.arch.classes, this.logits, this.labels, this.loss, null);
  }

  /** One SGD step over every parameter at once. */
  update(h: SgdParams): void {
    this.arena.update(h);
  }

  gradientsFinite(): Promise<boolean> {
    return this.arena.gradientsFinite();
  }

  /** Every parameter gradient in one array (the arena's layout), and its inverse. */
  readGradients(): Promise<Float32Array> {
    return this.arena.readGradients();
  }

  writeGradients(data: Float32Array): void {
    this.arena.writeGradients(data);
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

  /** Parameters (or, with `which`, the trained ones' gradients or velocities) under their file names. */
  async exportTensors(which: 'value' | 'grad' | 'velocity' = 'value'): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [];
    for (const p of this.parameters) {
      const t = p[which];
      if (t) out.push({ name: p.name, shape: p.shape, data: await this.backend.read(t) }); // frozen: no gradient, no velocity
    }
    return out;
  }

  /** Loads parameters (or the trained ones' velocities) by file name; every name and shape must match. */
  importTensors(tensors: Map<string, NamedTensor>, file: string, which: 'value' | 'velocity' = 'value'): void {
    for (const p of this.parameters) {
      const t = p[which];
      if (t) this.backend.write(t, expectTensor(tensors, p.name, p.shape, file).data);
    }
  }

  /** Bytes of the arena: parameters, gradients, velocities, activations. */
  get memoryBytes(): number {
    return this.backend.allocatedBytes;
  }

  private parameter(name: string): Parameter {
    return this.parameters.find((p) => p.name === name)!;
  }
}

/** The weight and bias of every conv and linear layer, under their file names, in layer order. */
export function parameterSlots(arch: Architecture, planned: PlannedLayer[]): ParameterSlot[] {
  const slots: ParameterSlot[] = [];
  for (const l of planned) {
    if (!l.weightShape || !l.biasShape || !('name' in l.spec)) continue;
    const names = parameterNames(arch, l.spec.name);
    slots.push({ name: names.weight, shape: l.weightShape, layer: l.index }, { name: names.bias, shape: l.biasShape, layer: l.index });
  }
  return slots;
}

/** Initial values of every parameter, drawn on the host in layer order (the same for any device count). */
export function initialTensors(arch: Architecture, options: InitOptions): NamedTensor[] {
  const rng = new Rng(options.seed);
  const out: NamedTensor[] = [];
  for (const l of planLayers(arch)) {
    if (!l.weightShape || !l.biasShape || !('biasInit' in l.spec)) continue;
    const names = parameterNames(arch, l.spec.name);
    const w = new Float32Array(product(l.weightShape));
    initWeight(w, product(l.weightShape.slice(1)), options.scheme, rng);
    const b = new Float32Array(product(l.biasShape));
    initBias(b, l.spec.biasInit, options.biasOverride);
    out.push({ name: names.weight, shape: l.weightShape, data: w }, { name: names.bias, shape: l.biasShape, data: b });
  }
  return out;
}
