// The parameters of a net on one backend: values, gradients and velocities each in one
// contiguous block with the same layout, so that the SGD update of every parameter is one op
// (or one per learning-rate group) and a device's gradients travel as one read. Frozen
// parameters (fine-tuning: the layers before `trainableFrom`) have a value only: no gradient and
// no velocity is allocated, computed or saved for them.
import type { Backend, SgdParams, Tensor } from '../backend/backend.js';
import { product } from '../core/geometry.js';

/** Offsets in the arena are multiples of 64 floats (256 bytes: WebGPU's binding alignment). */
const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface Parameter {
  /** Name in weight files (e.g. conv1.weight, or features.0.weight for torchvision). */
  name: string;
  shape: number[];
  /** Index of its layer in the architecture. */
  layer: number;
  value: Tensor;
  /** Null for a frozen parameter. */
  grad: Tensor | null;
  velocity: Tensor | null;
}

export interface ParameterSlot {
  name: string;
  shape: number[];
  layer: number;
}

/** Which parameters train, and how fast (fine-tuning; everything at the base rate by default). */
export interface TrainableOptions {
  /** Index of the first layer whose parameters are trained; those of earlier layers are frozen. */
  trainableFrom?: number;
  /** Learning-rate multipliers by layer index (Caffe's lr_mult); 1 for layers not named. */
  lrMultipliers?: ReadonlyMap<number, number>;
}

/** Floats the value block of `slots` takes (for the memory figure before allocating). */
export function parameterFloats(slots: ParameterSlot[]): number {
  return slots.reduce((s, p) => s + align(product(p.shape)), 0);
}

/** A contiguous run of trained parameters sharing one learning-rate multiplier: one SGD op. */
interface UpdateGroup {
  multiplier: number;
  values: Tensor;
  grads: Tensor;
  velocities: Tensor;
}

export class ParameterArena {
  readonly parameters: Parameter[] = [];
  private readonly values: Tensor;
  /** Gradients and velocities of the trained parameters only; null when nothing trains. */
  private readonly grads: Tensor | null;
  private readonly velocities: Tensor | null;
  private readonly groups: UpdateGroup[];
  /** gradientsFinite's answer on the device: 1 when a gradient is NaN or infinite. */
  private readonly nonFinite: Tensor;

  constructor(
    private readonly backend: Backend,
    label: string,
    slots: ParameterSlot[],
    allocate: (label: string, size: number) => Tensor,
    o: TrainableOptions = {},
  ) {
    const from = o.trainableFrom ?? 0;
    const frozen = slots.filter((s) => s.layer < from);
    const trained = slots.filter((s) => s.layer >= from);
    if (frozen.length + trained.length !== slots.length || slots.some((s, i) => i > 0 && s.layer < slots[i - 1].layer)) {
      throw new Error('parameter slots must come in layer order');
    }
    // The trained parameters are the last ones, so their values form one aligned tail of the
    // value block that the gradient and velocity blocks mirror.
    const frozenFloats = parameterFloats(frozen);
    const trainedFloats = parameterFloats(trained);
    this.values = allocate(`${label}.parameters`, frozenFloats + trainedFloats);
    this.grads = trainedFloats > 0 ? allocate(`${label}.gradients`, trainedFloats) : null;
    this.velocities = trainedFloats > 0 ? allocate(`${label}.velocities`, trainedFloats) : null;
    this.nonFinite = allocate(`${label}.nonfinite`, 1);
    let offset = 0;
    for (const s of slots) {
      const size = product(s.shape);
      const own = s.layer >= from ? offset - frozenFloats : -1;
      this.parameters.push({
        ...s,
        value: backend.view(this.values, offset, size, s.name),
        grad: own >= 0 ? backend.view(this.grads!, own, size, `${s.name}.grad`) : null,
        velocity: own >= 0 ? backend.view(this.velocities!, own, size, `${s.name}.velocity`) : null,
      });
      offset += align(size);
    }
    // Consecutive trained parameters with the same multiplier update together (one op each).
    const ranges: { multiplier: number; start: number; size: number }[] = [];
    offset = frozenFloats;
    for (const s of trained) {
      const multiplier = o.lrMultipliers?.get(s.layer) ?? 1;
      const size = align(product(s.shape));
      const last = ranges.at(-1);
      if (last && last.multiplier === multiplier) last.size += size;
      else ranges.push({ multiplier, start: offset, size });
      offset += size;
    }
    this.groups = ranges.map((r, i) => ({
      multiplier: r.multiplier,
      values: backend.view(this.values, r.start, r.size, `${label}.update${i}.values`),
      grads: backend.view(this.grads!, r.start - frozenFloats, r.size, `${label}.update${i}.gradients`),
      velocities: backend.view(this.velocities!, r.start - frozenFloats, r.size, `${label}.update${i}.velocities`),
    }));
  }

  /** The weight and bias of layer `index`, or undefined for a layer without parameters. */
  ofLayer(index: number): [Parameter, Parameter] | undefined {
    const own = this.parameters.filter((p) => p.layer === index);
    return own.length === 2 ? [own[0], own[1]] : undefined;
  }

  zeroGradients(): void {
    if (this.grads) this.backend.fill(this.grads, 0);
  }

  zeroVelocities(): void {
    if (this.velocities) this.backend.fill(this.velocities, 0);
  }

  /** One SGD step over every trained parameter: one op per learning-rate group. */
  update(h: SgdParams): void {
    for (const g of this.groups) this.backend.sgdUpdate(g.values.size, { ...h, lr: h.lr * g.multiplier }, g.values, g.grads, g.velocities);
  }

  /** Whether every gradient is finite (one read of one float). */
  async gradientsFinite(): Promise<boolean> {
    if (!this.grads) return true;
    this.backend.fill(this.nonFinite, 0);
    this.backend.flagNonFinite(this.grads.size, this.grads, this.nonFinite);
    return (await this.backend.read(this.nonFinite, 1))[0] === 0;
  }

  /** Every gradient of the trained parameters, as laid out in the arena (alignment gaps hold zeros). */
  readGradients(): Promise<Float32Array> {
    return this.grads ? this.backend.read(this.grads) : Promise.resolve(new Float32Array(0));
  }

  /** Replaces every gradient with `data`, laid out as readGradients gives it. */
  writeGradients(data: Float32Array): void {
    if (this.grads) this.backend.write(this.grads, data);
  }
}
