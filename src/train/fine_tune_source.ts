// A fine-tune's source from disk (Node): a run or checkpoint directory of ours, or a weights file
// (our .safetensors, torchvision's .pth, Caffe's .caffemodel). Says what it is (fine_tune.ts's
// FineTuneSource: name, SHA-256 of the weights' bytes, architecture, classes, preprocessing) and
// holds its tensors for the run's start.
import { stat } from 'node:fs/promises';
import { sha256Hex } from '../core/digest.js';
import { UsageError } from '../core/errors.js';
import { dataPreprocessing, modelPreprocessing, type Preprocessing } from '../data/preprocessing.js';
import type { SavedModel } from './loop.js';
import { readInputFile, readWeightBytes } from '../io/files.js';
import type { NamedTensor } from '../io/safetensors.js';
import { architectureOfFile, inputOfWeights, parseWeightsInfo, weightsClasses, weightsPreprocessing } from '../io/weights.js';
import { architecture } from '../nn/architectures.js';
import { loadTrainedModel } from '../eval/models.js';
import type { FineTuneSource } from './fine_tune.js';

export interface LoadedSource {
  info: FineTuneSource;
  tensors: Map<string, NamedTensor>;
  /** The file the tensors came from (errors name it). */
  file: string;
}

/**
 * What a run of ours used as its preprocessing, for images it never saw: its own where it records
 * one (itself fine-tuned), else its training data's channel means (its mean image is not kept)
 * and its scale.
 */
function runPreprocessing(model: SavedModel, path: string): Preprocessing {
  const own = modelPreprocessing(model);
  if (own.mean !== 'image') return own;
  return { mean: model.channelMean, scale: own.scale, origin: `the channel mean of ${path}'s training data` };
}

/**
 * The source `path` names; `arch` says which net a file fits where the file does not (and must
 * agree with a run's own).
 */
export async function readFineTuneSource(path: string, arch?: string): Promise<LoadedSource> {
  const isDirectory = (await stat(path).catch(() => null))?.isDirectory();
  if (isDirectory) {
    const m = await loadTrainedModel(path);
    if (arch !== undefined && arch !== m.model.arch) throw new UsageError(`--from ${path}: a run of the ${m.model.arch} net, not ${arch}; leave out --arch`);
    const bytes = await readInputFile(m.weightsPath, 'a checkpoint tensor file');
    return {
      info: {
        name: path, sha256: await sha256Hex(bytes), format: 'run', arch: m.model.arch, input: m.model.input, classes: m.model.classes,
        preprocessing: runPreprocessing(m.model, path),
      },
      tensors: m.weights,
      file: m.weightsPath,
    };
  }
  const bytes = await readWeightBytes(path);
  // Only a .caffemodel is read for a particular net (its layers are checked against it): without
  // --arch, Caffe's own.
  const w = parseWeightsInfo(bytes, path, arch ?? 'caffe');
  const archName = arch ?? architectureOfFile(w);
  if (!archName) throw new UsageError(`--from ${path}: the file does not say which net its weights fit; give --arch`);
  const a = architecture(archName);
  const input = inputOfWeights(a, w.tensors);
  return {
    info: {
      name: path, sha256: await sha256Hex(bytes), format: w.format, arch: archName, input, classes: weightsClasses(w, path),
      preprocessing: weightsPreprocessing(w, archName, path) ?? { ...dataPreprocessing(input[0], a.inputScale), origin: `the data's mean image (${path} does not say what its model expects)` },
    },
    tensors: w.tensors,
    file: path,
  };
}
