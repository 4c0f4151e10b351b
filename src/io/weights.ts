// Weight files of every format we read, behind one call: safetensors (our own), PyTorch's
// torch.save (.pth/.pt, zip or legacy) and Caffe's .caffemodel. The format is told by the
// content where it has a signature (ZIP, pickle, the safetensors JSON header) and by the
// extension otherwise (protobuf has no signature).
import { FormatError } from '../core/errors.js';
import { CAFFE_PREPROCESSING, TORCHVISION_PREPROCESSING, type Preprocessing } from '../data/preprocessing.js';
import { shapeString } from '../core/geometry.js';
import { architecture, parameterNames } from '../nn/architectures.js';
import type { Architecture } from '../nn/layers.js';
import { planLayers } from '../nn/plan.js';
import { caffeWeights, parseCaffeModel } from './caffe.js';
import { isPth, parsePth } from './pth.js';
import { expectTensor, parseSafetensors, type NamedTensor } from './safetensors.js';

export type WeightFormat = 'safetensors' | 'pth' | 'caffemodel';

/** The `kind` metadata of a checkpoint's optimizer.safetensors (SGD momenta, never a model). */
export const MOMENTA_KIND = 'sgd momenta';

/** The extension of a file name, lower case, with its dot ('' when it has none). */
function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

/** The format of a weight file, from its bytes (and its name where they do not say). */
export function detectWeightFormat(bytes: Uint8Array, path: string): WeightFormat {
  const ext = extensionOf(path);
  if (isPth(bytes)) return 'pth';
  if (ext === '.caffemodel') return 'caffemodel';
  // safetensors: an 8-byte header length, then the JSON header's "{".
  if (ext === '.safetensors' || bytes[8] === 0x7b) return 'safetensors';
  if (ext === '.pth' || ext === '.pt') return 'pth'; // parsePth says what is wrong with it
  throw new FormatError(path, 'unknown weight format: expected .safetensors, a torch.save .pth/.pt or a .caffemodel');
}

/** The tensors of weight file bytes in any supported format, by name, for the architecture `archName`. */
export function parseWeights(bytes: Uint8Array, path: string, archName: string): Map<string, NamedTensor> {
  return decodeWeights(bytes, path, detectWeightFormat(bytes, path), archName);
}

/**
 * The tensors of a weight file by our file names. A Caffe model is checked against the
 * architecture `archName` (its LRN, groups, pooling...) and renamed to its weight names.
 */
export function decodeWeights(bytes: Uint8Array, path: string, format: WeightFormat, archName: string): Map<string, NamedTensor> {
  switch (format) {
    case 'safetensors':
      return modelSafetensors(bytes, path).tensors;
    case 'pth':
      return parsePth(bytes, path);
    case 'caffemodel':
      return caffeWeights(parseCaffeModel(bytes, path), architecture(archName), path);
  }
}


/** A safetensors file that holds a model (not a checkpoint's momenta). */
function modelSafetensors(bytes: Uint8Array, path: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const parsed = parseSafetensors(bytes, path);
  if (parsed.metadata.kind === MOMENTA_KIND) {
    throw new FormatError(path, "holds a checkpoint's SGD momenta (kind \"sgd momenta\"), not a model's weights: use weights.safetensors beside it");
  }
  return parsed;
}

/** The architecture `archName` with as many classes as the weights' last layer has rows. */
export function architectureForWeights(archName: string, tensors: Map<string, NamedTensor>): Architecture {
  const last = parameterNames(architecture(archName), 'fc8').weight;
  return architecture(archName, undefined, tensors.get(last)?.shape[0]);
}

/**
 * The architecture `archName` of `tensors` (read from `weightsFile`) for images of `shape`
 * [C, H, W] given in `inputFile`; an input whose channels the weights do not take is the input's
 * fault, said before any net is built.
 */
export function architectureForInput(archName: string, tensors: Map<string, NamedTensor>, weightsFile: string, shape: [number, number, number], inputFile: string): Architecture {
  const conv1 = tensors.get(parameterNames(architecture(archName), 'conv1').weight);
  if (conv1 && conv1.shape[1] !== shape[0]) {
    throw new FormatError(inputFile, `tensor "input" has ${shape[0]} channels, but the ${archName} weights in ${weightsFile} take ${conv1.shape[1]} (conv1 weight ${shapeString(conv1.shape)})`);
  }
  return architecture(archName, shape, architectureForWeights(archName, tensors).classes);
}

/** Exactly the parameters `arch` has, in its order, each checked by name and shape. */
export function selectWeights(arch: Architecture, tensors: Map<string, NamedTensor>, file: string): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const l of planLayers(arch)) {
    if (!l.weightShape || !l.biasShape || !('name' in l.spec)) continue;
    const names = parameterNames(arch, l.spec.name);
    out.push(expectTensor(tensors, names.weight, l.weightShape, file), expectTensor(tensors, names.bias, l.biasShape, file));
  }
  return out;
}

/** The input [C, H, W] of `arch` with weights `tensors`: its channels are conv1's (a grey model's takes one). */
export function inputOfWeights(arch: Architecture, tensors: Map<string, NamedTensor>): [number, number, number] {
  const conv1 = tensors.get(parameterNames(arch, 'conv1').weight);
  return [conv1?.shape[1] ?? arch.input[0], arch.input[1], arch.input[2]];
}

/** A weight file's tensors with what it says about itself: its format and (safetensors) metadata. */
export interface WeightsInfo {
  tensors: Map<string, NamedTensor>;
  format: WeightFormat;
  metadata: Record<string, string>;
}

/** The architecture a weight file's own words or names point to, or null: its metadata, torchvision's keys, Caffe's format. */
export function architectureOfFile(w: WeightsInfo): string | null {
  if (w.metadata.arch) return w.metadata.arch;
  if (w.format === 'pth' && w.tensors.has('features.0.weight')) return 'torchvision';
  return w.format === 'caffemodel' ? 'caffe' : null;
}

/** Parses weight file bytes for `archName`, keeping the format and the metadata. */
export function parseWeightsInfo(bytes: Uint8Array, path: string, archName: string): WeightsInfo {
  const format = detectWeightFormat(bytes, path);
  if (format === 'safetensors') return { ...modelSafetensors(bytes, path), format };
  return { tensors: decodeWeights(bytes, path, format, archName), format, metadata: {} };
}

/**
 * The preprocessing a weight file's model expects: what our files record (metadata
 * "preprocessing"), torchvision's for its .pth, Caffe's for a .caffemodel; null when the file does
 * not say (then the data's mean image and the architecture's scale, as a run from scratch).
 */
export function weightsPreprocessing(w: WeightsInfo, archName: string, path: string): Preprocessing | null {
  if (w.metadata.preprocessing) return parseMetadataJson(w.metadata.preprocessing, 'preprocessing', path, isPreprocessing);
  if (w.format === 'pth' && archName === 'torchvision') return TORCHVISION_PREPROCESSING;
  return w.format === 'caffemodel' ? CAFFE_PREPROCESSING : null;
}

/**
 * What a model's weight file says of it, for whoever reads it later (weightsClasses,
 * weightsPreprocessing, architectureOfFile): its architecture, class names and, when not its
 * data's mean image, its preprocessing.
 */
export function modelMetadata(model: { arch: string; classes: readonly string[]; preprocessing?: Preprocessing }): Record<string, string> {
  return { arch: model.arch, classes: JSON.stringify(model.classes), ...(model.preprocessing ? { preprocessing: JSON.stringify(model.preprocessing) } : {}) };
}

/** The class names a weight file records (metadata "classes", as our exports write it), or null. */
export function weightsClasses(w: WeightsInfo, path: string): string[] | null {
  if (!w.metadata.classes) return null;
  return parseMetadataJson(w.metadata.classes, 'classes', path, (v): v is string[] => Array.isArray(v) && v.every((c) => typeof c === 'string'));
}

function parseMetadataJson<T>(text: string, key: string, path: string, valid: (v: unknown) => v is T): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FormatError(path, `metadata "${key}" is not valid JSON`);
  }
  if (!valid(value)) throw new FormatError(path, `metadata "${key}" does not hold what this key holds (${key === 'classes' ? 'a list of class names' : 'mean, scale and origin per channel'})`);
  return value;
}

function isPreprocessing(v: unknown): v is Preprocessing {
  const p = v as Preprocessing;
  const numbers = (a: unknown) => Array.isArray(a) && a.length >= 1 && a.length <= 3 && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return typeof p === 'object' && p !== null && (p.mean === 'image' || numbers(p.mean)) && numbers(p.scale) && typeof p.origin === 'string';
}
