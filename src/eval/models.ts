// Trained models as the user names them (a run directory, a checkpoint, or a weights file) and
// their predictions on a data set's test split, alone or as an ensemble that averages softmax
// outputs as the paper did (5 nets: 16.4% top-5 error vs 18.2% for one).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { UsageError } from '../core/errors.js';
import { readWeightBytes } from '../io/files.js';
import { architectureForWeights, inputOfWeights, parseWeightsInfo, weightsClasses, weightsPreprocessing } from '../io/weights.js';
import { architecture } from '../nn/architectures.js';
import { latestCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import { requireImages, type TrainingData } from '../train/data.js';
import { openTrainingData } from '../train/open_data.js';
import { batchOutputFor } from '../train/feed.js';
import type { SavedModel } from '../train/loop.js';
import { dataPreprocessing, modelPreprocessing, preprocessingOptions, type Preprocessing } from '../data/preprocessing.js';
import { addSoftmax, classColumns, type LoadedModel, type Predictions } from './run.js';

export type { LoadedModel, Predictions } from './run.js';
import { countTopK } from './metrics.js';

/** A checkpoint directory from a run directory, a checkpoints/ directory or a ckpt-* directory. */
async function resolveCheckpoint(path: string): Promise<string> {
  if (existsSync(join(path, 'state.json'))) return path;
  if (existsSync(join(path, 'latest.json'))) return latestCheckpoint(path);
  return latestCheckpoint(join(path, 'checkpoints'));
}

export async function loadTrainedModel(path: string): Promise<LoadedModel> {
  const ckpt = await loadCheckpoint<unknown, unknown>(await resolveCheckpoint(path));
  const model = ckpt.state.model as SavedModel | undefined;
  if (!model) throw new UsageError(`${path}: the checkpoint has no model description (not written by alexnet train)`);
  return { source: path, model, weights: ckpt.weights, weightsPath: ckpt.weightsPath };
}

/** A bare weights file for `arch`, preprocessed as training on `spec` would have been. */
export async function loadWeightsFile(path: string, arch: string, spec: string): Promise<LoadedModel> {
  const a = architecture(arch);
  const w = parseWeightsInfo(await readWeightBytes(path), path, arch);
  const [channels, crop] = inputOfWeights(a, w.tensors);
  // What the file says its model expects (torchvision's, Caffe's, ours), else the data's mean image.
  const own = weightsPreprocessing(w, arch, path);
  const data = await testData(spec, { channels, crop, preprocessing: own ?? dataPreprocessing(channels, a.inputScale), batch: 1 });
  await data.close();
  const classes = weightsClasses(w, path) ?? data.classes;
  const count = architectureForWeights(arch, w.tensors).classes;
  if (count !== classes.length) {
    throw new UsageError(
      `--weights ${path}: its ${arch} net has ${count} classes, but the class names come from --data, and ${spec} has ${classes.length}; ` +
        'give --data with the data set these weights were trained on',
    );
  }
  const model: SavedModel = {
    arch, input: data.input, classes, data: spec, scale: a.inputScale, channelMean: data.stats.channelMean,
    ...(own ? { preprocessing: own } : {}),
  };
  return { source: path, model, weights: w.tensors, weightsPath: path };
}

/** The input options of `model` for testData: its channels, crop and preprocessing. */
export function modelInput(model: SavedModel): Pick<TestDataOptions, 'channels' | 'crop' | 'preprocessing'> {
  return { channels: model.input[0], crop: model.input[1], preprocessing: modelPreprocessing(model) };
}

export interface TestDataOptions {
  /** The net's input channels (the data's are turned into them) and crop side, and how pixels become its input. */
  channels?: number;
  crop: number;
  preprocessing: Preprocessing;
  batch: number;
  /** Loader output: floats, or uint8 for a backend that crops (feed.ts's batchOutputFor). */
  output?: 'float32' | 'uint8';
  /** The paper's ten crops per test image instead of the centre crop. */
  tenCrop?: boolean;
}

/** The data of `spec`, preprocessed for evaluation (only its test stream is used). */
export function testData(spec: string, o: TestDataOptions): Promise<TrainingData> {
  return openTrainingData({
    spec, fixedChannels: o.channels, crop: o.crop, batch: o.batch, seed: 1, validation: 0, ...preprocessingOptions(o.preprocessing), workers: 0,
    output: o.output, testViews: o.tenCrop ? 'ten-crop' : 'centre',
  });
}

export interface PredictOptions {
  batch?: number;
  /** Average the softmax over the paper's ten crops of each image (corners, centre, mirrored). */
  tenCrop?: boolean;
  /** Told what the user should know about the test split (a held-out test set), once. */
  notice?: (line: string) => void;
}

/**
 * The models' softmax over the test split of `spec` (each model's own crop and preprocessing),
 * averaged over the models and, with tenCrop, over each image's ten views.
 */
export async function predictTestSet(models: LoadedModel[], spec: string, backend: Backend, o: PredictOptions = {}): Promise<Predictions> {
  const batch = o.batch ?? 64;
  let out: Predictions | null = null;
  for (const m of models) {
    const data = await testData(spec, { ...modelInput(m.model), batch, output: batchOutputFor(backend), tenCrop: o.tenCrop });
    try {
      if (m === models[0]) data.notes.forEach((line) => o.notice?.(line));
      requireImages(data, spec);
      const classes = data.classes.length;
      const columns = classColumns(m.source, m.model.classes, spec, data.classes);
      const n = data.counts.test;
      const result: Predictions = out ?? { probs: new Float32Array(n * classes), labels: new Float32Array(n), n, classes: data.classes };
      await addSoftmax(m, data.test, backend, batch, 1 / (models.length * data.test.views), result, columns);
      out = result;
    } finally {
      await data.close();
    }
  }
  if (!out) throw new UsageError('no model to evaluate');
  return out;
}

export interface EvalSummary {
  top1: number;
  top5: number;
  n: number;
  models: number;
  views: number;
}

/** Top-1/top-5 of the models' averaged softmax (one model, centre crops: plain evaluation). */
export async function evaluateModels(models: LoadedModel[], spec: string, backend: Backend, o: PredictOptions = {}): Promise<EvalSummary> {
  const p = await predictTestSet(models, spec, backend, o);
  const k = p.classes.length;
  return {
    top1: countTopK(p.probs, p.labels, p.n, k, 1) / p.n,
    top5: countTopK(p.probs, p.labels, p.n, k, Math.min(5, k)) / p.n,
    n: p.n,
    models: models.length,
    views: o.tenCrop ? 10 : 1,
  };
}
