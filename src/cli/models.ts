// Commands that use a trained model: `alexnet predict` (top-5 classes of image files),
// `alexnet features` (a layer's activations over a data split, to safetensors) and
// `alexnet similar` (the training images nearest a query by fc7 features: the paper's
// Figure 4); and the model options they share with `alexnet eval`. Wiring only.
import type { Command } from 'commander';
import { selectBackend } from '../backend/select.js';
import { UsageError } from '../core/errors.js';
import { extractFeatures } from '../eval/features.js';
import { loadTrainedModel, loadWeightsFile, type LoadedModel } from '../eval/models.js';
import { predictFiles, similarImages, similarRows, trainingDataOf } from '../eval/predict.js';
import { dataDirectory } from '../data/open.js';
import { writeFileAtomic, writeSafetensors } from '../io/files.js';
import { checkOutputFile } from '../io/outputs.js';
import { imageRows } from '../report/mosaic.js';
import { encodePng } from '../report/png.js';
import { ARCHITECTURE_NAMES } from '../nn/architectures.js';
import { backendOption, cpuOptions, threadsOption, nonNegativeInt, notice, oneOf, positiveInt, precisionOption } from './options.js';

/** --checkpoint (one, or several for an ensemble), or --weights with --arch. */
export function modelOptions(cmd: Command, checkpoints: 'one' | 'many'): Command {
  return cmd
    .option(checkpoints === 'many' ? '--checkpoint <dir...>' : '--checkpoint <dir>', checkpoints === 'many'
      ? 'run or checkpoint directories; more than one averages their softmax'
      : 'a run or checkpoint directory written by alexnet train')
    .option('--weights <file>', 'weights (.safetensors, .pth, .caffemodel) instead of a checkpoint; needs --arch')
    .option('--arch <name>', `architecture of --weights: ${ARCHITECTURE_NAMES.join(', ')}`);
}

/** The models the options name; --weights are preprocessed as training on `o.data` would be. */
export async function loadModels(what: string, o: { checkpoint?: string | string[]; weights?: string; arch?: string; data?: string }): Promise<LoadedModel[]> {
  if ((!o.checkpoint || o.checkpoint.length === 0) && !o.weights) throw new UsageError(`${what}: give --checkpoint DIR, or --weights FILE with --arch`);
  if (o.weights && !o.arch) throw new UsageError(`${what}: --weights needs --arch`);
  const dirs = o.checkpoint === undefined ? [] : Array.isArray(o.checkpoint) ? o.checkpoint : [o.checkpoint];
  return [
    ...(await Promise.all(dirs.map((dir) => loadTrainedModel(dir)))),
    ...(o.weights ? [await loadWeightsFile(o.weights, o.arch!, o.data ?? 'fashion-mnist')] : []),
  ];
}

/** The data to evaluate on: --data, else what the models were trained on (one spec for all of them). */
export function evaluationData(models: LoadedModel[], data?: string): string {
  if (data) return data;
  const specs = [...new Set(models.map((m) => m.model.data))];
  if (specs.length > 1) throw new UsageError(`eval: the models were trained on different data (${specs.join(', ')}); choose the test set with --data`);
  return specs[0];
}

/** The one model the options name, on the data of --data when it is given (a checkpoint's own data otherwise). */
export async function oneModel(what: string, o: Parameters<typeof loadModels>[1]): Promise<LoadedModel> {
  const models = await loadModels(what, o);
  if (models.length !== 1) throw new UsageError(`${what}: give one model (--checkpoint or --weights), found ${models.length}`);
  const [m] = models;
  return o.data ? { ...m, model: { ...m.model, data: o.data } } : m;
}

/** The folders a command reads that its outputs must stay out of: the data set of `m`. */
export async function usedFolders(m: LoadedModel) {
  return [{ path: await dataDirectory(m.model.data), what: `the data set ${m.model.data}` }];
}

const percent = (p: number) => `${(p * 100).toFixed(1)}%`;
const dataOption = ['--data <spec>', "the data set: with --weights, the training set whose statistics and class names apply (default fashion-mnist); with --checkpoint, instead of the run's own"] as const;

export function registerModelCommands(program: Command): void {
  modelOptions(program.command('predict'), 'one')
    .description('the most probable classes of image files (JPEG, PNG, WebP), with probabilities')
    .argument('<images...>', 'image files')
    .option(...dataOption)
    .option('--top <k>', 'classes per image', positiveInt('--top'), 5)
    .addOption(backendOption())
    .addOption(precisionOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per image')
    .action(async (images: string[], o) => {
      const model = await oneModel('predict', o);
      const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o), precision: o.precision });
      for (const p of await predictFiles(model, images, backend, o.top)) {
        if (o.json) console.log(JSON.stringify(p));
        else console.log(`${p.file}\n${p.top.map((t) => `  ${percent(t.probability).padStart(6)}  ${t.name}`).join('\n')}`);
      }
    });

  modelOptions(program.command('features'), 'one')
    .description("a layer's activations (fc7 by default: 4096 per image in the paper net) for a data split, to safetensors")
    .requiredOption('--out <file>', 'the .safetensors file: features [images, dims], labels [images]')
    .option(...dataOption)
    .option('--split <name>', 'train or test', oneOf('--split', ['train', 'test'] as const), 'test')
    .option('--layer <name>', 'conv1 ... conv5, fc6, fc7, fc8', 'fc7')
    .option('--limit <n>', 'the first n images of the split only', positiveInt('--limit'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(async (o) => {
      const model = await oneModel('features', o);
      await checkOutputFile('--out', o.out, { inputs: [model.weightsPath], folders: await usedFolders(model) });
      const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o) });
      const data = await trainingDataOf(model, backend);
      try {
        const set = data.sets[o.split as 'train' | 'test'];
        const indices = Array.from({ length: Math.min(o.limit ?? set.count, set.count) }, (_, i) => i);
        const f = await extractFeatures(model, data.centreStream(set, indices), backend, o.layer);
        const labels = Float32Array.from(indices, (i) => set.label(i));
        await writeSafetensors(o.out, [
          { name: 'features', shape: [indices.length, f.dims], data: f.data },
          { name: 'labels', shape: [indices.length], data: labels },
        ], { layer: o.layer, split: o.split, data: model.model.data, classes: JSON.stringify(data.classes) });
        console.log(`wrote ${o.layer} features [${indices.length}, ${f.dims}] of ${set.name} to ${o.out}`);
      } finally {
        await data.close();
      }
    });

  modelOptions(program.command('similar'), 'one')
    .description("the training images nearest to each query by Euclidean distance of fc7 features (the paper's Figure 4)")
    .argument('[images...]', 'query image files (default: the first test image of each class)')
    .option(...dataOption)
    .option('--k <n>', 'neighbours per query', positiveInt('--k'), 6)
    .option('--bank <n>', 'search the first n training images (0: all)', nonNegativeInt('--bank'), 0)
    .option('--layer <name>', 'whose activations are compared', 'fc7')
    .option('--png <file>', 'also draw the queries and their neighbours, one row per query')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per query')
    .action(async (images: string[], o) => {
      const model = await oneModel('similar', o);
      if (o.png) await checkOutputFile('--png', o.png, { inputs: [model.weightsPath, ...images], folders: await usedFolders(model) });
      const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o) });
      const s = await similarImages(model, backend, { files: images, k: o.k, bankSize: o.bank || Infinity, layer: o.layer });
      s.queryIndices.forEach((qi, r) => {
        const query = images[r] ?? `test image ${qi} (${s.classes[s.queries.label(qi)]})`;
        if (o.json) console.log(JSON.stringify({ query, neighbours: s.neighbours[r] }));
        else console.log(`${query}\n${s.neighbours[r].map((n) => `  ${n.distance.toFixed(2).padStart(8)}  training image ${n.index} (${n.name})`).join('\n')}`);
      });
      if (o.png) {
        const shape = [...s.bank.shape] as [number, number, number];
        const mosaic = imageRows(similarRows(s), shape, shape[1] <= 32 ? 3 : 1);
        await writeFileAtomic(o.png, encodePng(mosaic.width, mosaic.height, mosaic.rgb));
        notice(`drew ${s.queryIndices.length} rows to ${o.png}`);
      }
    });
}
