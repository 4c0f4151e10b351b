// A fine-tune's source from disk (Node): a run or checkpoint directory of ours, or a weights file
// (our .safetensors, torchvision's .pth, Caffe's .caffemodel), read and described by fine_tune.ts.
import { stat } from 'node:fs/promises';
import { sha256Hex } from '../core/digest.js';
import { UsageError } from '../core/errors.js';
import { loadTrainedModel } from '../eval/models.js';
import { readInputFile, readWeightBytes } from '../io/files.js';
import { sourceFromModel, sourceFromWeights, type LoadedSource } from './fine_tune.js';

export type { LoadedSource } from './fine_tune.js';

/**
 * The source `path` names; `arch` says which net a file fits where the file does not (and must
 * agree with a run's own).
 */
export async function readFineTuneSource(path: string, arch?: string): Promise<LoadedSource> {
  const isDirectory = (await stat(path).catch(() => null))?.isDirectory();
  if (!isDirectory) return sourceFromWeights(path, await readWeightBytes(path), arch);
  const m = await loadTrainedModel(path);
  if (arch !== undefined && arch !== m.model.arch) throw new UsageError(`--from ${path}: a run of the ${m.model.arch} net, not ${arch}; leave out --arch`);
  const sha256 = await sha256Hex(await readInputFile(m.weightsPath, 'a checkpoint tensor file'));
  return sourceFromModel(path, m.model, m.weights, m.weightsPath, sha256);
}
