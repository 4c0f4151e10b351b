// Fine-tuning: a run that starts from a trained model instead of random weights (DESIGN.md section
// 10). Every layer is loaded from the source; fc8 is kept only when the data's classes are the
// source's (same names, same order), else it is drawn afresh as the architecture's fc8 would be
// and learns `lrMultNew` times faster (Caffe's fine-tuning recipe: 10). `freeze` stops training
// at a layer: it and everything below compute no gradient and keep no momentum (Caffe's lr_mult
// 0), and run as a fixed feature extractor, so with no augmentation their outputs can be kept per
// image (front_cache.ts). Browser-safe: the page fine-tunes through the same code.
import { sha256Hex } from '../core/digest.js';
import { UsageError } from '../core/errors.js';
import { dataPreprocessing, modelPreprocessing, type Preprocessing } from '../data/preprocessing.js';
import { expectTensor, type NamedTensor } from '../io/safetensors.js';
import { architectureOfFile, inputOfWeights, parseWeightsInfo, weightsClasses, weightsPreprocessing } from '../io/weights.js';
import { architecture, parameterNames } from '../nn/architectures.js';
import type { TrainableOptions } from '../nn/arena.js';
import type { InitOptions } from '../nn/init.js';
import type { Architecture } from '../nn/layers.js';
import { initialTensors } from '../nn/net.js';
import { planLayers } from '../nn/plan.js';
import type { SavedModel } from './loop.js';

/** What a run was fine-tuned from (recorded in every checkpoint and said in the report). */
export interface FineTuneSource {
  /** The file or run directory as the user named it, and the SHA-256 of its weights' bytes. */
  name: string;
  sha256: string;
  /** run (one of ours), safetensors, pth (torchvision's torch.save) or caffemodel. */
  format: 'run' | 'safetensors' | 'pth' | 'caffemodel';
  arch: string;
  /** [C, H, W] of the source net's input: a fine-tune's images get its channels. */
  input: [number, number, number];
  /** The source's class names in order, where it records them (our runs); null otherwise. */
  classes: string[] | null;
  /** The source's preprocessing, which the run keeps unless told otherwise. */
  preprocessing: Preprocessing;
}

/** A source's description and its tensors by name, and the file they came from (errors name it). */
export interface LoadedSource {
  info: FineTuneSource;
  tensors: Map<string, NamedTensor>;
  file: string;
}

/**
 * A trained model of ours as a source (a run on disk, or the model a page trained): its own
 * preprocessing where it records one (itself fine-tuned), else its training data's channel means
 * (its mean image is not kept) and its scale.
 */
export function sourceFromModel(name: string, model: SavedModel, tensors: Map<string, NamedTensor>, file: string, sha256: string): LoadedSource {
  const own = modelPreprocessing(model);
  const preprocessing = own.mean !== 'image' ? own : { mean: model.channelMean, scale: own.scale, origin: `the channel mean of ${name}'s training data` };
  return { info: { name, sha256, format: 'run', arch: model.arch, input: model.input, classes: model.classes, preprocessing }, tensors, file };
}

/**
 * A weights file's bytes as a source; `arch` says which net it fits where the file does not (its
 * metadata, torchvision's keys or Caffe's format say otherwise).
 */
export async function sourceFromWeights(name: string, bytes: Uint8Array, arch?: string): Promise<LoadedSource> {
  // Only a .caffemodel is read for a particular net (its layers are checked against it): without
  // an architecture, Caffe's own.
  const w = parseWeightsInfo(bytes, name, arch ?? 'caffe');
  const archName = arch ?? architectureOfFile(w);
  if (!archName) throw new UsageError(`--from ${name}: the file does not say which net its weights fit; give --arch`);
  const a = architecture(archName);
  const input = inputOfWeights(a, w.tensors);
  const preprocessing = weightsPreprocessing(w, archName, name) ?? { ...dataPreprocessing(input[0], a.inputScale), origin: `the data's mean image (${name} does not say what its model expects)` };
  return { info: { name, sha256: await sha256Hex(bytes), format: w.format, arch: archName, input, classes: weightsClasses(w, name), preprocessing }, tensors: w.tensors, file: name };
}

export interface FineTuneConfig {
  source: FineTuneSource;
  /** The last frozen layer (conv1 ... fc7); absent: every layer trains. */
  freeze?: string;
  /** The learning-rate multiplier of a replaced fc8. */
  lrMultNew: number;
  /** Whether fc8 is replaced (the data's classes are not the source's): decided when the run starts. */
  newLast?: boolean;
  /** The source's preprocessing (default), or the data's mean image and the architecture's scale, as from scratch. */
  preprocessing?: 'source' | 'data';
  /** Keep the frozen front's outputs per image where nothing random happens there (default true). */
  cacheFeatures?: boolean;
}

/** The conv and linear layers of `arch` by name, with their indices, in order. */
function parameterised(arch: Architecture): { name: string; index: number }[] {
  return arch.layers.flatMap((l, index) => (l.kind === 'conv' || l.kind === 'linear' ? [{ name: l.name, index }] : []));
}

/**
 * The index of the first trained layer when `freeze` (a layer name) and everything below it are
 * frozen; 0 without `freeze`.
 */
export function firstTrainedLayer(arch: Architecture, freeze: string | undefined): number {
  if (freeze === undefined) return 0;
  const layers = parameterised(arch);
  const at = layers.findIndex((l) => l.name === freeze);
  const names = layers.map((l) => l.name);
  if (at < 0) throw new UsageError(`--freeze ${freeze}: the ${arch.name} net has no layer of that name; expected one of ${names.slice(0, -1).join(', ')}`);
  if (at === layers.length - 1) throw new UsageError(`--freeze ${freeze}: that freezes every layer, leaving nothing to train; the last you can freeze is ${names.at(-2)}`);
  return layers[at + 1].index;
}

/** What the net trains under `ft` (everything, at one rate, without it). */
export function trainableOptions(arch: Architecture, ft: FineTuneConfig | undefined): TrainableOptions {
  if (!ft) return {};
  const last = parameterised(arch).at(-1)!;
  return {
    trainableFrom: firstTrainedLayer(arch, ft.freeze),
    lrMultipliers: ft.newLast ? new Map([[last.index, ft.lrMultNew]]) : undefined,
  };
}

/** Whether a source with `sourceClasses` keeps its fc8 for data with `dataClasses`: the same names in the same order. */
export function keepsLastLayer(sourceClasses: readonly string[] | null, dataClasses: readonly string[]): boolean {
  return sourceClasses !== null && sourceClasses.length === dataClasses.length && sourceClasses.every((c, i) => c === dataClasses[i]);
}

/**
 * The tensors a fine-tune starts from: every parameter of `arch` from the source (`file` names
 * it in errors), checked by name and shape, except a replaced fc8, drawn as a run from scratch
 * with `init` would draw it.
 */
export function startingTensors(arch: Architecture, source: Map<string, NamedTensor>, file: string, ft: FineTuneConfig, init: InitOptions): Map<string, NamedTensor> {
  const last = parameterNames(arch, parameterised(arch).at(-1)!.name);
  const fresh = ft.newLast ? initialTensors(arch, init).filter((t) => t.name === last.weight || t.name === last.bias) : [];
  const out = new Map(fresh.map((t) => [t.name, t]));
  for (const l of planLayers(arch)) {
    if (!l.weightShape || !l.biasShape || !('name' in l.spec)) continue;
    const names = parameterNames(arch, l.spec.name);
    for (const [name, shape] of [[names.weight, l.weightShape], [names.bias, l.biasShape]] as const) {
      if (!out.has(name)) out.set(name, expectTensor(source, name, shape, file));
    }
  }
  return out;
}

/** The preprocessing a run of `ft` uses when not the data's own: the source's, unless asked otherwise. */
export function fineTunePreprocessing(ft: FineTuneConfig | undefined): Preprocessing | undefined {
  if (!ft || ft.preprocessing === 'data') return undefined;
  const p = ft.source.preprocessing;
  const channels = ft.source.input[0];
  // Caffe's mean pixel (BGR) for a grey net written as a .caffemodel: said, not run on a mismatch.
  if (p.mean !== 'image' && p.mean.length !== channels) {
    throw new UsageError(`--from ${ft.source.name}: ${p.origin} is for ${p.mean.length}-channel images, but its ${ft.source.arch} net takes ${channels}; give --preprocessing data to use the data's own mean`);
  }
  return p;
}

/** `ft` with newLast decided for data whose classes are `dataClasses` (kept as it is once decided). */
export function settleFineTune(ft: FineTuneConfig, dataClasses: readonly string[]): FineTuneConfig {
  return { ...ft, newLast: ft.newLast ?? !keepsLastLayer(ft.source.classes, dataClasses) };
}

/** One line for reports and notices: what the run was fine-tuned from, and how. */
export function describeFineTune(ft: FineTuneConfig): string {
  const what = ft.freeze ? `layers up to ${ft.freeze} frozen` : 'every layer trained';
  const last = ft.newLast ? `a new fc8 for the data's classes at ${ft.lrMultNew}x the rate` : "the source's fc8 kept (the same classes)";
  return `fine-tuned from ${ft.source.name} (${ft.source.format}, SHA-256 ${ft.source.sha256.slice(0, 16)}...): ${what}, ${last}`;
}
