// The report of a training run: an HTML page with the loss and accuracy curves, the conv1
// kernels (the paper's Figure 3), the test set's confusion matrix, nearest neighbours by fc7
// features (Figure 4), and what the net sees (sees.ts), written next to the run's checkpoints.
import { join } from 'node:path';
import { makeDirectories, writeFileAtomic } from '../io/files.js';
import type { Backend } from '../backend/backend.js';
import { loadTrainedModel, predictTestSet } from '../eval/models.js';
import { firstOfEachClass, similarImages, similarRows } from '../eval/predict.js';
import { architecture } from '../nn/architectures.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import type { EpochRecord, TrainConfig } from '../train/loop.js';
import { describeFineTune } from '../train/fine_tune.js';
import { modelPreprocessing } from '../data/preprocessing.js';
import { confusionMatrixSvg, escape, lineChart } from './charts.js';
import { filterMosaic, imageRows } from './mosaic.js';
import { encodePng } from './png.js';
import { whatTheNetSees, type Sees } from './sees.js';

export interface ReportSummary {
  path: string;
  epochs: number;
  filterTiles: number;
  filterSize: number;
  confusion: number[][];
  testTop1: number;
  /** For a fine-tuned run: what it was fine-tuned from, and how (fine_tune.ts's describeFineTune). */
  fineTuned?: string;
  sees: Sees;
}

/** Confusion counts [true][predicted] from softmax rows. */
export function confusionMatrix(probs: Float32Array, labels: ArrayLike<number>, classes: number): number[][] {
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let n = 0; n < labels.length; n++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[n * classes + c] > probs[n * classes + best]) best = c;
    counts[labels[n]][best]++;
  }
  return counts;
}

export async function buildReport(runDir: string, backend: Backend, queries = 6, neighbours = 7, bank = 5000): Promise<ReportSummary> {
  const model = await loadTrainedModel(runDir);
  const { state } = await loadCheckpoint<TrainConfig, { epochs: EpochRecord[] }>(await latestCheckpoint(checkpointDir(runDir)));
  const epochs = state.history.epochs;
  const out = join(runDir, 'report');
  await makeDirectories(out, 'the report folder');

  const at = (key: keyof EpochRecord) => epochs.map((e) => [e.epoch, e[key] as number] as [number, number]);
  await writeFileAtomic(join(out, 'loss.svg'), lineChart('Loss', 'epoch', 'cross-entropy', [
    { name: 'train', points: at('train_loss') },
    { name: 'validation', points: at('val_loss') },
  ]));
  await writeFileAtomic(join(out, 'accuracy.svg'), lineChart('Validation accuracy', 'epoch', 'accuracy', [
    { name: 'top-1', points: at('val_top1') },
    { name: 'top-5', points: at('val_top5') },
  ]));

  const arch = architecture(model.model.arch, model.model.input, model.model.classes.length);
  const conv1 = model.weights.get(model.weights.has('conv1.weight') ? 'conv1.weight' : 'features.0.weight')!;
  const twoTowers = arch.layers.some((l) => l.kind === 'conv' && l.groups === 2);
  const filters = filterMosaic(conv1.data, conv1.shape, twoTowers ? 2 : 1, conv1.shape[0] >= 48 ? 16 : 12, conv1.shape[2] >= 11 ? 4 : 8);
  await writeFileAtomic(join(out, 'conv1.png'), encodePng(filters.width, filters.height, filters.rgb));

  const predictions = await predictTestSet([model], state.config.data, backend);
  const confusion = confusionMatrix(predictions.probs, predictions.labels, model.model.classes.length);
  const correct = confusion.reduce((sum, row, i) => sum + row[i], 0);
  await writeFileAtomic(join(out, 'confusion.svg'), confusionMatrixSvg(confusion, model.model.classes));

  // Queries: the first test image of each of the first `queries` classes; the bank: training images.
  const similar = await similarImages(model, backend, { testQueries: (test) => firstOfEachClass(test, queries), k: neighbours - 1, bankSize: bank });
  const shape = [...similar.bank.shape] as [number, number, number];
  const retrieval = { mosaic: imageRows(similarRows(similar), shape, shape[1] <= 32 ? 3 : 1), bankSize: Math.min(bank, similar.bank.count) };
  await writeFileAtomic(join(out, 'retrieval.png'), encodePng(retrieval.mosaic.width, retrieval.mosaic.height, retrieval.mosaic.rgb));

  const sees = await whatTheNetSees(model, predictions, backend, out);

  const testTop1 = correct / predictions.n;
  const last = epochs.at(-1);
  const fineTuned = state.config.fineTune && describeFineTune(state.config.fineTune);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AlexNet.ts report: ${model.model.arch} on ${state.config.data}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{display:inline-block;margin:1em 1em 1em 0;vertical-align:top}figcaption{font-size:90%;color:#555;max-width:520px}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}img{image-rendering:pixelated}
table.sees td{text-align:center;vertical-align:middle;font-size:85%}table.sees td.wrong{color:#b00}table.sees img{max-width:240px}</style></head>
<body><h1>${model.model.arch} on ${state.config.data}</h1>
<p>${epochs.length} epochs, ${state.step} steps, batch ${state.config.batch}, learning rate ${state.config.lr} (${state.config.schedule}),
momentum ${state.config.momentum}, weight decay ${state.config.weightDecay}, seed ${state.config.seed}.
Test top-1 <b>${(testTop1 * 100).toFixed(2)}%</b> on ${predictions.n} images${last ? `; last validation top-1 ${(last.val_top1 * 100).toFixed(2)}%` : ''}.</p>
${fineTuned ? `<p>${escape(fineTuned[0].toUpperCase() + fineTuned.slice(1))}.</p>
` : ''}<p>Preprocessing: ${escape(modelPreprocessing(model.model).origin)}.</p>
<figure><img src="loss.svg" alt="loss curves"><figcaption>Training loss (mean over each epoch, with dropout) and validation loss.</figcaption></figure>
<figure><img src="accuracy.svg" alt="accuracy curves"><figcaption>Validation top-1 and top-5 accuracy after each epoch.</figcaption></figure>
<figure><img src="conv1.png" alt="conv1 kernels"><figcaption>The ${filters.tiles} conv1 kernels (${filters.tileSize}x${filters.tileSize}), each stretched to its own range${twoTowers ? '; one block per tower, as in the paper\'s Figure 3' : ''}.</figcaption></figure>
<figure><img src="confusion.svg" alt="confusion matrix"><figcaption>Test-set confusion matrix: rows are true classes, columns predictions.</figcaption></figure>
<figure><img src="retrieval.png" alt="retrieval"><figcaption>First column: test images. Then the ${neighbours - 1} training images (of the first ${retrieval.bankSize}) with the nearest fc7 features, nearest first: the paper's Figure 4.</figcaption></figure>
${sees.html}
<h2>Epochs</h2><table><tr><th>epoch</th><th>lr</th><th>train loss</th><th>val loss</th><th>val top-1</th><th>val top-5</th><th>img/s</th></tr>
${epochs.map((e) => `<tr><td>${e.epoch}</td><td>${e.lr}</td><td>${e.train_loss.toFixed(4)}</td><td>${e.val_loss.toFixed(4)}</td><td>${(e.val_top1 * 100).toFixed(2)}%</td><td>${(e.val_top5 * 100).toFixed(2)}%</td><td>${e.img_per_s.toFixed(0)}</td></tr>`).join('\n')}
</table></body></html>
`;
  const path = join(out, 'index.html');
  await writeFileAtomic(path, html);
  return { path, epochs: epochs.length, filterTiles: filters.tiles, filterSize: filters.tileSize, confusion, testTop1, fineTuned, sees };
}
