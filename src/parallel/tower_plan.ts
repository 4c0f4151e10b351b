// The paper's two-tower split of a net, planned: which half of every layer each device runs,
// and where the towers exchange activations. Every conv and linear layer splits its outputs in
// two (tower t owns rows [t * out/2, (t+1) * out/2) of its weight and bias); a groups=2 conv's
// group t is tower t's. A tensor is 'split' (each device holds its tower's half of every
// image's features, channel-major) or 'full' (both devices hold all of it, computed twice).
// - conv groups=2 reads its own tower's half: split in, split out.
// - conv groups=1 (conv1, conv3) and linear layers (fc6-fc8) read both towers: full in, split
//   out; backward, their input gradient is the sum of the two towers' partial ones.
// - LRN (its window crosses the towers' boundary channels in the one-device net) and dropout
//   (its mask index is the element's place in the whole [B, F] tensor) run on full tensors.
// - ReLU, pooling and flatten work per channel: they keep the layout.
// A segment is a run of layers with no exchange inside; between two segments the host gathers
// the halves (split -> full), or cuts the halves (full -> split), or, before a full-input layer
// that follows full layers, nothing forward and a sum of partial gradients backward.
import { ShapeError } from '../core/errors.js';
import { product } from '../core/geometry.js';
import type { Architecture, LayerSpec } from '../nn/layers.js';
import { planLayers, type PlannedLayer } from '../nn/plan.js';

export type Layout = 'split' | 'full';

export interface Segment {
  /** The tower's layers: halved output channels or features where split, original indices. */
  layers: PlannedLayer[];
  input: Layout;
  output: Layout;
  /** The first layer reads a full tensor and writes a split one: backward, its input gradient is partial. */
  partial: boolean;
}

/** Whether `arch` has the paper's towers: a groups=2 conv, no other groups, every conv and linear output even. */
export function towersProblem(arch: Architecture): string | null {
  const weighted = arch.layers.filter((s): s is Extract<LayerSpec, { kind: 'conv' | 'linear' }> => s.kind === 'conv' || s.kind === 'linear');
  if (!weighted.some((s) => s.kind === 'conv' && s.groups === 2)) return 'it has no towers (no groups=2 convolution)';
  for (const s of weighted) {
    const out = s.kind === 'conv' ? s.outChannels : s.outFeatures;
    if (s.kind === 'conv' && s.groups > 2) return `${s.name} has ${s.groups} groups`;
    if (out % 2 !== 0) return `${s.name} has ${out} outputs, which two towers cannot share`;
  }
  return null;
}

/** What a layer needs of its input: a layout, or whatever it is given. */
function needs(s: LayerSpec): Layout | 'any' {
  if (s.kind === 'conv') return s.groups === 2 ? 'split' : 'full';
  if (s.kind === 'linear' || s.kind === 'lrn' || s.kind === 'dropout') return 'full';
  return 'any';
}

/** Tower t's share of a planned layer whose input arrives in `layout` (both towers' shares have the same shapes). */
function towerLayer(l: PlannedLayer, layout: Layout): PlannedLayer {
  const half = (shape: number[]) => [shape[0] / 2, ...shape.slice(1)];
  const inShape = layout === 'split' ? half(l.inShape) : l.inShape;
  const s = l.spec;
  switch (s.kind) {
    case 'conv':
      return {
        ...l, spec: { ...s, outChannels: s.outChannels / 2, groups: 1 }, inShape, outShape: half(l.outShape),
        weightShape: [s.outChannels / 2, inShape[0], s.kernel, s.kernel], biasShape: [s.outChannels / 2],
      };
    case 'linear':
      return { ...l, spec: { ...s, outFeatures: s.outFeatures / 2 }, inShape, outShape: half(l.outShape), weightShape: [s.outFeatures / 2, inShape[0]], biasShape: [s.outFeatures / 2] };
    case 'flatten':
      return { ...l, inShape, outShape: [product(inShape)] };
    default:
      return { ...l, inShape, outShape: layout === 'split' ? half(l.outShape) : l.outShape };
  }
}

/** The segments of a tower (the same for both towers), in order. */
export function planTowers(arch: Architecture): Segment[] {
  const problem = towersProblem(arch);
  if (problem) throw new ShapeError(`--parallel towers: the ${arch.name} architecture cannot be split into the paper's two towers: ${problem}`);
  const segments: Segment[] = [];
  let layout: Layout = 'full'; // the image, on both devices
  let current: Segment | null = null;
  for (const l of planLayers(arch)) {
    const need = needs(l.spec);
    const input: Layout = need === 'any' ? layout : need;
    const partial = (l.spec.kind === 'conv' || l.spec.kind === 'linear') && input === 'full';
    if (!current || input !== layout || partial) {
      current = { layers: [], input, output: input, partial };
      segments.push(current);
    }
    current.layers.push(towerLayer(l, input));
    layout = l.spec.kind === 'conv' || l.spec.kind === 'linear' ? 'split' : input;
    current.output = layout;
  }
  if (layout !== 'split') throw new ShapeError(`--parallel towers: ${arch.name} must end in a linear or conv layer`);
  return segments;
}

/** Per image: tower halves of `half` floats each -> the whole (channel-major: half 0, then half 1). */
export function joinHalves(halves: Float32Array[], batch: number, half: number): Float32Array {
  const out = new Float32Array(batch * half * halves.length);
  for (let b = 0; b < batch; b++) {
    halves.forEach((h, t) => out.set(h.subarray(b * half, (b + 1) * half), (b * halves.length + t) * half));
  }
  return out;
}

/** Tower t's half of every image of `whole` ([batch, towers * half]). */
export function halfOf(whole: Float32Array, t: number, towers: number, batch: number, half: number): Float32Array {
  const out = new Float32Array(batch * half);
  for (let b = 0; b < batch; b++) out.set(whole.subarray((b * towers + t) * half, (b * towers + t + 1) * half), b * half);
  return out;
}
