// The parameters of a net on one backend: values, gradients and velocities each in one
// contiguous block with the same layout, so that the SGD update of every parameter is one op
// and a device's gradients travel as one read.
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
  grad: Tensor;
  velocity: Tensor;
}

export interface ParameterSlot {
  name: string;
  shape: number[];
  layer: number;
}

/** Floats the three blocks of `slots` take, each (for the memory figure before allocating). */
export function parameterFloats(slots: ParameterSlot[]): number {
  return slots.reduce((s, p) => s + align(product(p.shape)), 0);
}

export class ParameterArena {
  readonly parameters: Parameter[] = [];
  private readonly values: Tensor;
  private readonly grads: Tensor;
  private readonly velocities: Tensor;
  /** gradientsFinite's answer on the device: 1 when a gradient is NaN or infinite. */
  private readonly nonFinite: Tensor;

  constructor(
    private readonly backend: Backend,
    label: string,
    slots: ParameterSlot[],
    allocate: (label: string, size: number) => Tensor,
  ) {
    const floats = parameterFloats(slots);
    this.values = allocate(`${label}.parameters`, floats);
    this.grads = allocate(`${label}.gradients`, floats);
    this.velocities = allocate(`${label}.velocities`, floats);
    this.nonFinite = allocate(`${label}.nonfinite`, 1);
    let offset = 0;
    for (const s of slots) {
      const size = product(s.shape);
      this.parameters.push({
        ...s,
        value: backend.view(this.values, offset, size, s.name),
        grad: backend.view(this.grads, offset, size, `${s.name}.grad`),
        velocity: backend.view(this.velocities, offset, size, `${s.name}.velocity`),
      });
      offset += align(size);
    }
  }

  /** The weight and bias of layer `index`, or undefined for a layer without parameters. */
  ofLayer(index: number): [Parameter, Parameter] | undefined {
    const own = this.parameters.filter((p) => p.layer === index);
    return own.length === 2 ? [own[0], own[1]] : undefined;
  }

  zeroGradients(): void {
    this.backend.fill(this.grads, 0);
  }

  zeroVelocities(): void {
    this.backend.fill(this.velocities, 0);
  }

  /** One SGD step over every parameter at once. */
  update(h: SgdParams): void {
    this.backend.sgdUpdate(this.values.size, h, this.values, this.grads, this.velocities);
  }

  /** Whether every gradient is finite (one read of one float). */
  async gradientsFinite(): Promise<boolean> {
    this.backend.fill(this.nonFinite, 0);
    this.backend.flagNonFinite(this.grads.size, this.grads, this.nonFinite);
    return (await this.backend.read(this.nonFinite, 1))[0] === 0;
  }

  /** Every gradient, as laid out in the arena (alignment gaps hold zeros). */
  readGradients(): Promise<Float32Array> {
    return this.backend.read(this.grads);
  }

  /** Replaces every gradient with `data`, laid out as readGradients gives it. */
  writeGradients(data: Float32Array): void {
    this.backend.write(this.grads, data);
  }
}
