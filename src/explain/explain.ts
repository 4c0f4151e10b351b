// Seeing inside a net (docs/explain.md): every layer's output for an image; the images of a data
// split that each unit responds to most (Zeiler & Fergus 2013); occlusion maps (ibid.); gradient
// saliency (Simonyan et al. 2013); Grad-CAM (Selvaraju et al. 2017). For any architecture and
// any loaded model on any backend: nothing here changes a parameter or needs a parameter
// gradient, so the net may hold values only (explainNet). An image is the net's input, [C, H, W]
// floats preprocessed as the model's training images were (inputs.ts makes them).
import type { Backend } from '../backend/backend.js';
import { softmax } from '../backend/cpu/loss.js';
import { ShapeError, UsageError } from '../core/errors.js';
import { product } from '../core/geometry.js';
import type { Loader } from '../data/loader.js';
import type { NamedTensor } from '../io/safetensors.js';
import type { Architecture } from '../nn/layers.js';
import { Net } from '../nn/net.js';
import { describeLayer, type StackLayer } from '../nn/stack.js';
import { feedBatch } from '../train/feed.js';
import { receptiveBox, type Box } from './receptive.js';

/**
 * Values over the image: `rows` x `cols`, row-major. Cell (r, c) sits at input pixel
 * (origin[0] + r * step[0], origin[1] + c * step[1]) (its centre), which is how render.ts lays
 * it over the picture.
 */
export interface HeatMap {
  data: Float32Array;
  rows: number;
  cols: number;
  origin: [number, number];
  step: [number, number];
}

/** The class a map explains: its logit (the score) and softmax probability for the image. */
export interface Target {
  class: number;
  score: number;
  probability: number;
}

/** A net for `arch` holding `weights` (read from `file`) and nothing else: no gradients, no momenta. */
export function explainNet(backend: Backend, arch: Architecture, weights: Map<string, NamedTensor>, file: string, maxBatch = 32): Net {
  const net = new Net(backend, arch, maxBatch, { trainableFrom: Infinity });
  net.importTensors(weights, file);
  return net;
}

/** Runs `input` (one image) through the net in evaluation mode; returns its logits. */
async function forwardOne(net: Net, input: Float32Array): Promise<Float32Array> {
  const size = product(net.arch.input);
  if (input.length !== size) {
    throw new ShapeError(`an image for the ${net.arch.name} net holds ${size} floats [${net.arch.input.join(', ')}], found ${input.length}`);
  }
  net.backend.write(net.input, input);
  net.forward(1, 'eval');
  return net.readLogits(1);
}

/** Softmax probabilities of `logits` row `row`, in float64. */
function probabilities(logits: Float32Array, row: number, classes: number): Float64Array {
  const p = Float64Array.from(logits.subarray(row * classes, (row + 1) * classes));
  softmax(1, classes, p, p);
  return p;
}

/** The class asked for (checked), or the top one. */
function target(net: Net, logits: Float32Array, asked?: number): Target {
  const classes = net.arch.classes;
  const p = probabilities(logits, 0, classes);
  let c = 0;
  for (let k = 1; k < classes; k++) if (logits[k] > logits[c]) c = k;
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 0 || asked >= classes) throw new UsageError(`class ${asked}: expected an integer in 0..${classes - 1}`);
    c = asked;
  }
  return { class: c, score: logits[c], probability: p[c] };
}

/** The image's top class (or the class asked for, checked), with its logit and probability. */
export async function classify(net: Net, input: Float32Array, asked?: number): Promise<Target> {
  return target(net, await forwardOne(net, input), asked);
}

const oneHot = (classes: number, c: number) => Float32Array.from({ length: classes }, (_, k) => (k === c ? 1 : 0));

/** A layer as activations() names it: conv1 ... fc8, else its kind and index (maxpool3, lrn2). */
export const layerName = (l: StackLayer) => describeLayer(l.spec, l.index);

/** Layers with their own output (not ReLU, dropout or flatten working in place on the one before). */
const ownsOutput = (l: StackLayer) => !l.inPlace;

function findLayer(net: Net, name: string, fits: (l: StackLayer) => boolean, what: string): StackLayer {
  const found = net.layers.find((l) => layerName(l) === name && fits(l));
  if (!found) throw new UsageError(`layer "${name}": the ${net.arch.name} net has no such ${what}; expected one of ${net.layers.filter(fits).map(layerName).join(', ')}`);
  return found;
}

export interface Activation {
  name: string;
  layer: number;
  /** Per image: [C, H, W] maps, or [F] features. */
  shape: number[];
  data: Float32Array;
}

/**
 * Every layer's output for one image (or the layers named), in layer order, after the ReLU that
 * follows where the net has one (ReLUs run in place): conv1 is conv1's output after its ReLU,
 * fc8 the logits.
 */
export async function activations(net: Net, input: Float32Array, layers?: readonly string[]): Promise<Activation[]> {
  const chosen = layers ? layers.map((n) => findLayer(net, n, ownsOutput, 'layer')) : net.layers.filter(ownsOutput);
  await forwardOne(net, input);
  const out: Activation[] = [];
  for (const l of chosen.sort((a, b) => a.index - b.index)) {
    out.push({ name: layerName(l), layer: l.index, shape: l.outShape, data: await net.backend.read(l.output, product(l.outShape)) });
  }
  return out;
}

export interface Saliency extends Target {
  /** [H, W]: max over channels of |d score / d input|. */
  map: HeatMap;
}

/** Simonyan et al.'s map: max over the input's channels of |d score_class / d input|, score the logit. */
export async function saliency(net: Net, input: Float32Array, o: { class?: number } = {}): Promise<Saliency> {
  const t = target(net, await forwardOne(net, input), o.class);
  const grad = await net.inputGradient(0, oneHot(net.arch.classes, t.class));
  const [C, H, W] = net.arch.input;
  const map = new Float32Array(H * W);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < H * W; i++) map[i] = Math.max(map[i], Math.abs(grad[c * H * W + i]));
  }
  return { ...t, map: { data: map, rows: H, cols: W, origin: [0, 0], step: [1, 1] } };
}

export interface GradCam extends Target {
  layer: string;
  /** [K]: alpha_k, the spatial mean of d score / d A_k. */
  weights: Float32Array;
  /** [h, w] at the layer's own resolution: ReLU(sum_k alpha_k A_k). */
  map: HeatMap;
}

/** The last conv layer's name (conv5 in every AlexNet here): Grad-CAM's default. */
export function lastConv(net: Net): string {
  return layerName(net.layers.filter((l) => l.spec.kind === 'conv').at(-1)!);
}

/**
 * Selvaraju et al.'s map at conv layer `layer` (default: the last): ReLU(sum_k alpha_k A_k), A the
 * layer's output after its ReLU, alpha_k the spatial mean of d score_class / d A_k.
 */
export async function gradCam(net: Net, input: Float32Array, o: { class?: number; layer?: string } = {}): Promise<GradCam> {
  const conv = findLayer(net, o.layer ?? lastConv(net), (l) => l.spec.kind === 'conv', 'conv layer');
  // A is the input of the layer after the conv's ReLU (which ran in place on the conv's output).
  const after = conv.index + (net.layers[conv.index + 1].spec.kind === 'relu' ? 2 : 1);
  const t = target(net, await forwardOne(net, input), o.class);
  const [K, h, w] = conv.outShape;
  const plane = h * w;
  const a = await net.backend.read(net.layers[after - 1].output, K * plane);
  const grad = await net.inputGradient(after, oneHot(net.arch.classes, t.class));
  const weights = new Float32Array(K);
  const cam = new Float64Array(plane);
  for (let k = 0; k < K; k++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += grad[k * plane + i];
    weights[k] = sum / plane;
    for (let i = 0; i < plane; i++) cam[i] += weights[k] * a[k * plane + i];
  }
  const map = Float32Array.from(cam, (v) => Math.max(0, v));
  const [, H, W] = net.arch.input;
  const step: [number, number] = [H / h, W / w];
  return { ...t, layer: layerName(conv), weights, map: { data: map, rows: h, cols: w, origin: [step[0] / 2 - 0.5, step[1] / 2 - 0.5], step } };
}

export interface OcclusionOptions {
  class?: number;
  /** Side of the square, in input pixels (default: a seventh of the image's side). */
  patch?: number;
  /** Pixels between positions (default: half the patch). */
  stride?: number;
  /** Input value under the square (default 0: the data mean, after mean subtraction). */
  fill?: number;
}

export interface Occlusion extends Target {
  patch: number;
  stride: number;
  fill: number;
  /** [rows, cols]: the class's probability without the square less with it at each position. */
  map: HeatMap;
}

/** The occlusion square and step used where the caller gives none, for an image side `side`. */
export function occlusionDefaults(side: number): { patch: number; stride: number } {
  const patch = Math.max(1, Math.round(side / 7));
  return { patch, stride: Math.max(1, Math.round(patch / 2)) };
}

/**
 * Zeiler & Fergus's map: the drop in the class's probability when a `patch` x `patch` square of
 * `fill` covers the image at each position, `stride` apart from the top left corner. The
 * occluded copies go through the net in batches of net.maxBatch.
 */
export async function occlusion(net: Net, input: Float32Array, o: OcclusionOptions = {}): Promise<Occlusion> {
  const [C, H, W] = net.arch.input;
  const defaults = occlusionDefaults(Math.min(H, W));
  const patch = o.patch ?? defaults.patch;
  const stride = o.stride ?? defaults.stride;
  const fill = o.fill ?? 0;
  if (!Number.isInteger(patch) || patch < 1 || patch > Math.min(H, W)) throw new UsageError(`patch ${patch}: expected an integer in 1..${Math.min(H, W)} (the image is ${H} x ${W})`);
  if (!Number.isInteger(stride) || stride < 1) throw new UsageError(`stride ${stride}: expected a positive integer`);
  const t = target(net, await forwardOne(net, input), o.class);
  const rows = Math.floor((H - patch) / stride) + 1;
  const cols = Math.floor((W - patch) / stride) + 1;
  const size = C * H * W;
  const positions = rows * cols;
  const copies = new Float32Array(Math.min(net.maxBatch, positions) * size);
  const map = new Float32Array(positions);
  for (let start = 0; start < positions; start += net.maxBatch) {
    const count = Math.min(net.maxBatch, positions - start);
    for (let j = 0; j < count; j++) {
      const image = copies.subarray(j * size, (j + 1) * size);
      image.set(input);
      const top = Math.floor((start + j) / cols) * stride;
      const left = ((start + j) % cols) * stride;
      for (let c = 0; c < C; c++) {
        for (let y = top; y < top + patch; y++) image.fill(fill, (c * H + y) * W + left, (c * H + y) * W + left + patch);
      }
    }
    net.backend.write(net.input, copies.subarray(0, count * size));
    net.forward(count, 'eval');
    const logits = await net.readLogits(count);
    for (let j = 0; j < count; j++) map[start + j] = t.probability - probabilities(logits, j, net.arch.classes)[t.class];
  }
  const centre = (patch - 1) / 2;
  return { ...t, patch, stride, fill, map: { data: map, rows, cols, origin: [centre, centre], step: [stride, stride] } };
}

/** One of a unit's strongest images: its activation there and where, and the input pixels under it. */
export interface TopImage {
  /** Index of the image in the data set the stream reads. */
  image: number;
  /** The unit's largest activation over the image's positions (after ReLU). */
  value: number;
  /** Where in the layer's map (0, 0 for a fully connected layer). */
  y: number;
  x: number;
  /** The input pixels under the receptive field of that position; null for a fully connected layer. */
  box: Box | null;
}

export interface TopImages {
  layer: string;
  units: number[];
  /** Per unit (in `units` order), its k strongest images, strongest first. */
  top: TopImage[][];
  /** Images streamed. */
  images: number;
}

/**
 * For each unit (channel) of conv or linear layer `layer`, the `k` images of `stream` that
 * activate it most: an image's activation is its largest over the unit's positions (the first,
 * in scan order, on ties). Equal activations rank in stream order. One pass, keeping k per unit:
 * memory does not grow with the split. The stream's batches must fit net.maxBatch.
 */
export async function topImages(net: Net, stream: Loader, layer: string, o: { units?: readonly number[]; k?: number } = {}): Promise<TopImages> {
  const l = findLayer(net, layer, (x) => x.spec.kind === 'conv' || x.spec.kind === 'linear', 'conv or linear layer');
  const [K, h = 1, w = 1] = l.outShape;
  const units = o.units ? [...o.units] : Array.from({ length: K }, (_, u) => u);
  const bad = units.find((u) => !Number.isInteger(u) || u < 0 || u >= K);
  if (bad !== undefined) throw new UsageError(`unit ${bad}: ${layer} has units 0..${K - 1}`);
  const k = o.k ?? 9;
  if (!Number.isInteger(k) || k < 1) throw new UsageError(`k ${k}: expected a positive integer`);
  const plane = h * w;
  const best: { image: number; value: number; at: number }[][] = units.map(() => []);
  let images = 0;
  for await (const b of stream.epoch(0)) {
    if (b.views !== 1 || b.count > net.maxBatch) throw new UsageError(`topImages: batches of ${b.count} x ${b.views} views; expected one view and at most ${net.maxBatch} images`);
    feedBatch(net, stream.plan, b);
    net.forward(b.count, 'eval');
    const out = await net.backend.read(l.output, b.count * K * plane);
    for (let i = 0; i < b.count; i++) {
      for (const [j, u] of units.entries()) {
        const base = (i * K + u) * plane;
        let at = 0;
        for (let p = 1; p < plane; p++) if (out[base + p] > out[base + at]) at = p;
        keep(best[j], { image: b.indices[i], value: out[base + at], at }, k);
      }
    }
    images += b.count;
  }
  const spatial = l.outShape.length === 3;
  const top = best.map((list) =>
    list.map((e) => {
      const y = Math.floor(e.at / w);
      const x = e.at % w;
      return { image: e.image, value: e.value, y, x, box: spatial ? receptiveBox(net.layers, l.index, y, x) : null };
    }),
  );
  return { layer: layerName(l), units, top, images };
}

/** Inserts `e` into `list` (strongest first, at most k); it goes after every entry at least as strong. */
function keep<T extends { value: number }>(list: T[], e: T, k: number): void {
  if (list.length === k && !(e.value > list[k - 1].value)) return;
  let at = list.length;
  while (at > 0 && e.value > list[at - 1].value) at--;
  list.splice(at, 0, e);
  if (list.length > k) list.pop();
}
