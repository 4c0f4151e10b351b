// The paper's model parallelism: tower A's half of every layer on device 0, tower B's on
// device 1 (tower_plan.ts says which half and where they exchange). Each device runs its
// segments with the backend's ordinary ops (a LayerStack per segment); at the exchange points
// the host reads the halves and writes what the next segment needs, and backward sends the
// gradients back along the same edges. Each device updates only its own parameters. The loss
// is computed on device 0 from the gathered logits. Checkpoints hold whole tensors (each
// parameter's two halves joined by rows), the files of a one-device run.
import type { Backend, SgdParams, Tensor } from '../backend/backend.js';
import { ShapeError } from '../core/errors.js';
import { product } from '../core/geometry.js';
import { expectTensor, type NamedTensor } from '../io/safetensors.js';
import { ParameterArena } from '../nn/arena.js';
import type { InitOptions } from '../nn/init.js';
import type { Architecture } from '../nn/layers.js';
import { initialTensors, parameterSlots } from '../nn/net.js';
import type { InputSlot, Network } from '../nn/network.js';
import { LayerStack, type Pass } from '../nn/stack.js';
import { halfOf, joinHalves, planTowers, type Segment } from './tower_plan.js';

const TOWERS = 2;

/** One tower on one device: its parameters, its segments' stacks, its buffers. */
interface Tower {
  backend: Backend;
  arena: ParameterArena;
  stacks: LayerStack[];
  /** [maxBatch, ...arch.input] and [maxBatch]. */
  input: Tensor;
  labels: Tensor;
  /** Activation gradients ping-pong between these (each a batch of the largest activation). */
  grads: [Tensor, Tensor];
}

export class TowerParallel implements Network {
  private readonly segments: Segment[];
  private readonly towers: Tower[];
  /** On device 0: the gathered logits [maxBatch, classes], the loss, and their gradient. */
  private readonly logits: Tensor;
  private readonly loss: Tensor;
  private readonly dLogits: Tensor;
  private last: Pass | null = null;

  constructor(
    backends: Backend[],
    readonly arch: Architecture,
    readonly maxBatch: number,
  ) {
    if (backends.length !== TOWERS) throw new ShapeError(`--parallel towers runs the paper's two towers on exactly 2 devices, found ${backends.length}`);
    this.segments = planTowers(arch);
    const B = maxBatch;
    this.towers = backends.map((backend) => {
      const allocate = (label: string, size: number) => backend.allocate(label, size);
      const arena = new ParameterArena(backend, arch.name, parameterSlots(arch, this.segments.flatMap((seg) => seg.layers)), allocate);
      const input = allocate('input', B * product(arch.input));
      const stacks: LayerStack[] = [];
      let previous: LayerStack | null = null;
      for (const seg of this.segments) {
        // A full tensor feeding a full-input layer stays where it is; an exchange writes a new buffer.
        const sameBuffer = previous && seg.input === 'full' && this.segments[stacks.length - 1].output === 'full';
        const segInput: Tensor = !previous ? input : sameBuffer ? previous.output : allocate(`tower input ${stacks.length}`, B * product(seg.layers[0].inShape));
        previous = new LayerStack(backend, seg.layers, segInput, B, (i) => arena.ofLayer(i), allocate);
        stacks.push(previous);
      }
      const largest = Math.max(arch.classes, ...stacks.map((s) => s.largest));
      return { backend, arena, stacks, input, labels: allocate('labels', B), grads: [allocate('grad.a', B * largest), allocate('grad.b', B * largest)] };
    });
    const be0 = backends[0];
    this.logits = be0.allocate('logits', B * arch.classes);
    this.loss = be0.allocate('loss', 1);
    this.dLogits = be0.allocate('logits.grad', B * arch.classes);
  }

  get parameterCount(): number {
    return this.towers.reduce((s, t) => s + t.arena.parameters.reduce((n, p) => n + product(p.shape), 0), 0);
  }

  get memoryBytes(): number {
    return this.towers.reduce((s, t) => s + t.backend.allocatedBytes, 0);
  }

  /** Both devices take the whole batch of images (conv1 reads all of each image); device 0 uses the labels. */
  inputSlots(batch: number): InputSlot[] {
    return this.towers.map((t) => ({ backend: t.backend, input: t.input, labels: t.labels, first: 0, count: batch }));
  }

  initialize(options: InitOptions): void {
    this.importTensors(new Map(initialTensors(this.arch, options).map((t) => [t.name, t])), 'initial values');
    for (const t of this.towers) t.arena.zeroVelocities();
  }

  async forward(batch: number, mode: 'train' | 'eval', seed = 0, step = 0): Promise<void> {
    if (!Number.isInteger(batch) || batch < 1 || batch > this.maxBatch) {
      throw new ShapeError(`batch must be an integer in 1..${this.maxBatch} (planned), found ${batch}`);
    }
    const pass: Pass = { batch, mode, seed, step, firstImage: 0 };
    this.last = pass;
    for (let s = 0; s < this.segments.length; s++) {
      if (s > 0) await this.exchangeForward(s, batch);
      for (const t of this.towers) t.stacks[s].forward(pass);
    }
    const last = this.towers.map((t) => t.stacks[t.stacks.length - 1].output);
    const halves = await Promise.all(this.towers.map((t, i) => t.backend.read(last[i], (batch * this.arch.classes) / TOWERS)));
    this.towers[0].backend.write(this.logits, joinHalves(halves, batch, this.arch.classes / TOWERS));
  }

  async backward(gradScale = 1): Promise<void> {
    const pass = this.need();
    const { batch } = pass;
    const be0 = this.towers[0].backend;
    for (const t of this.towers) t.arena.zeroGradients();
    be0.softmaxCrossEntropy(batch, this.arch.classes, this.logits, this.towers[0].labels, this.loss, this.dLogits, gradScale);
    const dLogits = await be0.read(this.dLogits, batch * this.arch.classes);
    const half = this.arch.classes / TOWERS;
    let dOut: Tensor[] = this.towers.map((t, i) => {
      t.backend.write(t.grads[0], halfOf(dLogits, i, TOWERS, batch, half));
      return t.grads[0];
    });
    for (let s = this.segments.length - 1; s >= 0; s--) {
      const dIn = this.towers.map((t, i) => t.stacks[s].backward(pass, dOut[i], other(t, dOut[i]), { inputGradient: s > 0 }));
      if (s > 0) dOut = await this.exchangeBackward(s, batch, dIn as Tensor[]);
    }
  }

  computeLoss(): void {
    const { batch } = this.need();
    this.towers[0].backend.softmaxCrossEntropy(batch, this.arch.classes, this.logits, this.towers[0].labels, this.loss, null);
  }

  update(h: SgdParams): void {
    for (const t of this.towers) t.arena.update(h);
  }

  async gradientsFinite(): Promise<boolean> {
    const finite = await Promise.all(this.towers.map((t) => t.arena.gradientsFinite()));
    return finite.every(Boolean);
  }

  async readLoss(): Promise<number> {
    return (await this.towers[0].backend.read(this.loss, 1))[0];
  }

  readLogits(batch: number): Promise<Float32Array> {
    return this.towers[0].backend.read(this.logits, batch * this.arch.classes);
  }

  /** Whole tensors: tower A's rows, then tower B's. */
  async exportTensors(which: 'value' | 'grad' | 'velocity' = 'value'): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [];
    const [a, b] = this.towers;
    for (let i = 0; i < a.arena.parameters.length; i++) {
      const [pa, pb] = [a.arena.parameters[i], b.arena.parameters[i]];
      const [ta, tb] = [pa[which]!, pb[which]!]; // towers train every layer: nothing is frozen
      const data = new Float32Array(2 * ta.size);
      data.set(await a.backend.read(ta), 0);
      data.set(await b.backend.read(tb), ta.size);
      out.push({ name: pa.name, shape: [2 * pa.shape[0], ...pa.shape.slice(1)], data });
    }
    return out;
  }

  importTensors(tensors: Map<string, NamedTensor>, file: string, which: 'value' | 'velocity' = 'value'): void {
    this.towers.forEach((t, i) => {
      for (const p of t.arena.parameters) {
        const whole = expectTensor(tensors, p.name, [2 * p.shape[0], ...p.shape.slice(1)], file).data;
        const size = product(p.shape);
        t.backend.write(p[which]!, whole.subarray(i * size, (i + 1) * size));
      }
    });
  }

  private need(): Pass {
    if (!this.last) throw new Error('backward() and computeLoss() need a forward() first');
    return this.last;
  }

  /** Into segment s's input: the halves joined (split -> full) or cut (full -> split); nothing when full stays full. */
  private async exchangeForward(s: number, batch: number): Promise<void> {
    const [from, to] = [this.segments[s - 1], this.segments[s]];
    if (from.output === 'full' && to.input === 'full') return;
    const outFloats = product(from.layers.at(-1)!.outShape); // per image, on each device
    const outs = await Promise.all(this.towers.map((t) => t.backend.read(t.stacks[s - 1].output, batch * outFloats)));
    const whole = from.output === 'split' ? joinHalves(outs, batch, outFloats) : outs[0];
    const half = (whole.length / batch) / TOWERS;
    this.writeTo(whole, to.input === 'split', batch, half, (t) => t.stacks[s].layers[0].input);
  }

  /**
   * The gradient of segment s's input (`dIn` on each device) to segment s-1's output: partial
   * gradients summed in device order, halves joined, then cut again where s-1's output is split.
   * Returns the buffers that now hold it (the ones dIn is not in).
   */
  private async exchangeBackward(s: number, batch: number, dIn: Tensor[]): Promise<Tensor[]> {
    const [from, to] = [this.segments[s - 1], this.segments[s]];
    const inFloats = product(to.layers[0].inShape);
    const parts = await Promise.all(this.towers.map((t, i) => t.backend.read(dIn[i], batch * inFloats)));
    let whole: Float32Array;
    if (to.partial) {
      whole = new Float32Array(batch * inFloats);
      for (const p of parts) for (let i = 0; i < whole.length; i++) whole[i] += p[i];
    } else whole = to.input === 'split' ? joinHalves(parts, batch, inFloats) : parts[0];
    const targets = this.towers.map((t, i) => other(t, dIn[i]));
    this.writeTo(whole, from.output === 'split', batch, whole.length / batch / TOWERS, (_, i) => targets[i]);
    return targets;
  }

  /** `whole` ([batch, towers * half] when split, else [batch, ...]) to every device: its half, or all of it. */
  private writeTo(whole: Float32Array, split: boolean, batch: number, half: number, target: (t: Tower, i: number) => Tensor): void {
    this.towers.forEach((t, i) => t.backend.write(target(t, i), split ? halfOf(whole, i, TOWERS, batch, half) : whole));
  }
}

function other(t: Tower, x: Tensor): Tensor {
  return x === t.grads[0] ? t.grads[1] : t.grads[0];
}
