// Node's side of explain (`alexnet explain`, `alexnet units`): a model and its images from
// files, the methods run on them, and the pictures and maps written to disk (atomically).
import { basename, extname, join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { FormatError, UsageError } from '../core/errors.js';
import { shapeString } from '../core/geometry.js';
import { decodeFiles, trainingDataOf } from '../eval/predict.js';
import type { LoadedModel } from '../eval/run.js';
import { makeDirectories, readInputBatch, readWeights, writeFileAtomic, writeSafetensors } from '../io/files.js';
import type { NamedTensor } from '../io/safetensors.js';
import { architectureForInput } from '../io/weights.js';
import { architecture } from '../nn/architectures.js';
import type { Architecture } from '../nn/layers.js';
import type { Net } from '../nn/net.js';
import { activations, classify, explainNet, gradCam, layerName, occlusion, saliency, topImages, type HeatMap, type Target, type TopImages } from './explain.js';
import { cropPixels, inputPixels, streamImages } from './inputs.js';
import { featureMapGrid, heatMapOverlay, pictureToPng, topImagesGrid, type Picture } from './render.js';

export const METHODS = ['activations', 'occlusion', 'saliency', 'gradcam'] as const;
export type Method = (typeof METHODS)[number];

/** A net to look into, the names of its classes, and the images to look at. */
export interface ExplainJob {
  net: Net;
  classes: string[];
  images: { name: string; input: Float32Array; pixels: Uint8Array }[];
}

const modelArchitecture = (m: LoadedModel): Architecture => architecture(m.model.arch, m.model.input, m.model.classes.length);

/** Image files, decoded and preprocessed as `m`'s training images were (predict's way). */
export async function jobFromFiles(m: LoadedModel, files: readonly string[], backend: Backend, batch: number): Promise<ExplainJob> {
  const net = explainNet(backend, modelArchitecture(m), m.weights, m.weightsPath, batch);
  const data = await trainingDataOf(m, backend, batch);
  try {
    const decoded = await decodeFiles(files, data.sets.train.shape);
    const images = await streamImages(net, data.centreStream(decoded, [...files.keys()]), decoded);
    return { net, classes: m.model.classes, images: images.map((im) => ({ name: files[im.index], input: im.input, pixels: im.pixels })) };
  } finally {
    await data.close();
  }
}

/**
 * The preprocessed images of `input` (tensor "input" [N, C, H, W], as `alexnet forward` takes),
 * for a trained model or for a weights file of architecture `arch`.
 */
export async function jobFromInput(input: string, model: LoadedModel | { weights: string; arch: string }, backend: Backend, batch: number): Promise<ExplainJob> {
  const x = await readInputBatch(input);
  const [N, C, H, W] = x.shape;
  let net: Net;
  let classes: string[];
  if ('model' in model) {
    if (shapeString(model.model.input) !== shapeString([C, H, W])) {
      throw new FormatError(input, `tensor "input" holds images of ${shapeString([C, H, W])}; the model in ${model.source} takes ${shapeString(model.model.input)}`);
    }
    net = explainNet(backend, modelArchitecture(model), model.weights, model.weightsPath, batch);
    classes = model.model.classes;
  } else {
    const weights = await readWeights(model.weights, model.arch);
    const arch = architectureForInput(model.arch, weights, model.weights, [C, H, W], input);
    net = explainNet(backend, arch, weights, model.weights, batch);
    classes = Array.from({ length: arch.classes }, (_, c) => `class ${c}`);
  }
  const size = C * H * W;
  const stem = basename(input, extname(input));
  const images = Array.from({ length: N }, (_, i) => {
    const data = x.data.slice(i * size, (i + 1) * size);
    return { name: N > 1 ? `${stem}${i}` : stem, input: data, pixels: inputPixels(data) };
  });
  return { net, classes, images };
}

export interface ExplainOptions {
  methods: readonly Method[];
  class?: number;
  layer?: string;
  patch?: number;
  stride?: number;
  out: string;
  /** One image's raw maps as float32 tensors. */
  save?: string;
}

export interface ExplainSummary {
  image: string;
  class: number;
  name: string;
  score: number;
  probability: number;
  activations?: string[];
  occlusion?: { patch: number; stride: number; rows: number; cols: number; largest_drop: number };
  saliency?: { rows: number; cols: number };
  gradcam?: { layer: string; rows: number; cols: number };
  /** Pictures written into the output folder. */
  files: string[];
}

/** Output pixels per image pixel: small images drawn larger (28 x 28 at 8x). */
export const displayScale = (side: number) => Math.max(1, Math.floor(224 / side));

/** Runs `o.methods` on every image of `job`; writes a PNG per method and image into o.out, and the maps to o.save. */
export async function runExplain(job: ExplainJob, o: ExplainOptions): Promise<ExplainSummary[]> {
  if (o.save && job.images.length !== 1) throw new UsageError(`--save: one image at a time (its maps are saved as [H, W] tensors); found ${job.images.length}`);
  await makeDirectories(o.out, '--out');
  const { net } = job;
  const shape = net.arch.input;
  const scale = displayScale(Math.max(shape[1], shape[2]));
  const stems = job.images.map((im) => basename(im.name, extname(im.name)));
  const unique = new Set(stems).size === stems.length;
  const out: ExplainSummary[] = [];
  for (const [i, image] of job.images.entries()) {
    const stem = unique ? stems[i] : `${i}.${stems[i]}`;
    const files: string[] = [];
    const tensors: NamedTensor[] = [];
    const write = async (name: string, p: Picture) => {
      await writeFileAtomic(join(o.out, `${stem}.${name}.png`), pictureToPng(p));
      files.push(`${stem}.${name}.png`);
    };
    const keep = (name: string, map: HeatMap) => tensors.push({ name, shape: [map.rows, map.cols], data: map.data });
    let target: Target | null = null;
    const summary: Partial<ExplainSummary> = {};
    if (o.methods.includes('activations')) {
      const acts = await activations(net, image.input);
      for (const a of acts) {
        tensors.push({ name: `activations.${a.name}`, shape: a.shape, data: a.data });
        if (net.layers[a.layer].spec.kind === 'conv') await write(`activations.${a.name}`, featureMapGrid(a, { scale: Math.max(1, Math.floor(scale / 2)) }));
      }
      summary.activations = acts.map((a) => a.name);
    }
    if (o.methods.includes('occlusion')) {
      const r = await occlusion(net, image.input, { class: o.class, patch: o.patch, stride: o.stride });
      target = r;
      keep('occlusion', r.map);
      await write('occlusion', heatMapOverlay(image.pixels, shape, r.map, { scale }));
      summary.occlusion = { patch: r.patch, stride: r.stride, rows: r.map.rows, cols: r.map.cols, largest_drop: Math.max(...r.map.data) };
    }
    if (o.methods.includes('saliency')) {
      const r = await saliency(net, image.input, { class: o.class });
      target = r;
      keep('saliency', r.map);
      await write('saliency', heatMapOverlay(image.pixels, shape, r.map, { scale }));
      summary.saliency = { rows: r.map.rows, cols: r.map.cols };
    }
    if (o.methods.includes('gradcam')) {
      const r = await gradCam(net, image.input, { class: o.class, layer: o.layer });
      target = r;
      keep('gradcam', r.map);
      await write('gradcam', heatMapOverlay(image.pixels, shape, r.map, { scale }));
      summary.gradcam = { layer: r.layer, rows: r.map.rows, cols: r.map.cols };
    }
    target ??= await classify(net, image.input, o.class); // activations alone: still say which class
    if (o.save) await writeSafetensors(o.save, tensors, { class: String(target.class), arch: net.arch.name, ...(summary.gradcam ? { layer: summary.gradcam.layer } : {}) });
    out.push({ image: image.name, class: target.class, name: job.classes[target.class] ?? `class ${target.class}`, score: target.score, probability: target.probability, ...summary, files });
  }
  return out;
}

export interface UnitsOptions {
  layer: string;
  k: number;
  /** Which units (default: the first 16). */
  units?: number[];
  split: 'train' | 'test';
  limit?: number;
  batch: number;
  out: string;
}

/** `alexnet units`: each unit's k strongest images of a split (one pass), drawn as a grid PNG at o.out. */
export async function runUnits(m: LoadedModel, backend: Backend, o: UnitsOptions): Promise<TopImages> {
  const net = explainNet(backend, modelArchitecture(m), m.weights, m.weightsPath, o.batch);
  const data = await trainingDataOf(m, backend, o.batch);
  try {
    const set = data.sets[o.split];
    const indices = Array.from({ length: Math.min(o.limit ?? set.count, set.count) }, (_, i) => i);
    const units = o.units ?? Array.from({ length: Math.min(16, net.layers.find((l) => layerName(l) === o.layer)?.outShape[0] ?? 0) }, (_, u) => u);
    const top = await topImages(net, data.centreStream(set, indices), o.layer, { units, k: o.k });
    const crop = data.input[1];
    const grid = topImagesGrid(top, (i) => cropPixels(set, i, crop), data.input, { scale: Math.max(1, Math.floor(displayScale(crop) / 4)) });
    await writeFileAtomic(o.out, pictureToPng(grid));
    return top;
  } finally {
    await data.close();
  }
}
