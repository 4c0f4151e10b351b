// The open run in the worker: its data and net (new, fine-tuned from a trained model, or restored
// from a kept run with its history), the training loop with its checkpoints, and the scoring of
// the test set after it (cancellable, with progress). Every run is set up by the library's
// prepareRun, as `alexnet train` sets up its runs. Nothing here replaces another kept run: each
// run has its own id.
import {
  architecture, batchOutputFor, countTopK, describeFineTune, encodeSafetensors, feedBatch, filterMosaic, FrontCache, MOMENTA_KIND, PAPER_SGD, parameterNames,
  parseSafetensors, prepareRun, requireImages, runDataOptions, softmax, storedSide, trainEpochs, trainingData,
  type Architecture, type LoadedSource, type Net as NetType, type Network, type OpenedData, type Restored, type RunState, type SavedModel, type TrainConfig, type TrainingData,
} from '../../src/browser.js';
import { openChoice } from '../data.js';
import type { ClassImages, DataChoice, FineTuneChoice, Picture, RunPosition, RunSettings, Scores } from '../protocol.js';
import { listRuns, saveRun, summary, type KeptRun, type RunRecord } from '../store.js';
import { backendFor } from './backend.js';
import { image } from './pictures.js';
import { post, yieldToMessages } from './post.js';
import { loadSource } from './sources.js';

const BUNDLED = new URL('../fashion-mnist-subset/', self.location.href).href;
/** The paper net on small images scaled up: the settings that train it (README; its own init diverges there). */
const PAPER_ON_SMALL_IMAGES = { init: 'he', inputScale: 1 / 64, biasInit: 0.1, schedule: 'step:5' } as const;
/** A replaced fc8 learns this many times faster than the loaded layers (Caffe's recipe; alexnet train's default). */
const LR_MULT_NEW = 10;
const FILTERS_EVERY_MS = 3000;
const SAVE_EVERY_MS = 15000;
const TEST_PICTURES = 48;

export interface Session {
  id: string;
  settings: RunSettings;
  dataKind: DataChoice['kind'];
  fingerprint: string;
  arch: Architecture;
  /** What the loop trains: the net, or the net behind its kept frozen front (front_cache.ts). */
  trainer: Network;
  /** The net itself, for everything that reads it (scores, classification, filters, features). */
  net: NetType;
  data: TrainingData;
  state: RunState;
  model: SavedModel;
  losses: number[];
  filters: Picture | null;
  results: (Scores & { probs: Float32Array }) | null;
  /** A new run on the person's classes: the images it trains on, kept with its first save. */
  images?: ClassImages[];
  /** fc7 features of the retrieval bank, made on the first retrieval. */
  bank?: Float32Array;
  control: 'run' | 'pause' | 'stop';
  running: boolean;
  scoring: boolean;
  cancelScoring: boolean;
  /** Save at the next step boundary (the page is hidden or closing). */
  flush: boolean;
}

export const bundledBase = () => BUNDLED;

export async function postRuns(open: string | null): Promise<void> {
  post({ type: 'runs', runs: (await listRuns()).map(summary), open });
}

export const position = (s: Session): RunPosition => ({
  epoch: s.state.epoch, stepInEpoch: s.state.history.stepInEpoch, epochs: s.state.config.epochs, stepsPerEpoch: s.data.train.batchesPerEpoch,
});

/**
 * A new run's config, as `alexnet train` makes it from its options. On the person's classes a
 * tenth of the training images (one at least) validates each epoch, and a batch larger than the
 * images left is all of them. A fine-tune trains without augmentation, so that its frozen layers
 * run once per image (front_cache.ts).
 */
function runConfig(settings: RunSettings, opened: OpenedData, source: LoadedSource | undefined, freeze: string | null): TrainConfig {
  const arch = architecture(settings.arch);
  const paper = settings.arch === 'paper' && !source;
  const validation = opened.name === 'your classes' ? Math.max(1, Math.floor(opened.train.count / 10)) : undefined;
  const batch = validation === undefined ? settings.batch : Math.max(1, Math.min(settings.batch, opened.train.count - validation));
  return {
    arch: arch.name, data: opened.name, epochs: settings.epochs, batch, lr: settings.lr,
    schedule: paper ? PAPER_ON_SMALL_IMAGES.schedule : arch.defaults.schedule, momentum: PAPER_SGD.momentum, weightDecay: PAPER_SGD.weightDecay,
    sgdForm: PAPER_SGD.form, seed: settings.seed, checkpointEvery: 0, out: 'IndexedDB', ...(paper ? { init: 'he', inputScale: PAPER_ON_SMALL_IMAGES.inputScale, biasInit: 0.1 } : {}),
    ...(validation === undefined ? {} : { validation }),
    ...(source ? { augment: 'none', fineTune: { source: source.info, ...(freeze ? { freeze } : {}), lrMultNew: LR_MULT_NEW } } : {}),
  };
}

const restoredOf = (k: KeptRun): Restored => ({
  state: k.run.state, weights: parseSafetensors(k.tensors.weights, 'saved weights').tensors, weightsPath: 'saved weights',
  momenta: parseSafetensors(k.tensors.momenta, 'saved momenta').tensors, optimizerPath: 'saved momenta',
});

/** The run's data and net: new (from scratch, or fine-tuned from `fineTune`'s model), or a kept run restored; the caller trains or shows it. */
export async function prepare(id: string, settings: RunSettings, choice: DataChoice, kept: KeptRun | null, fineTune?: FineTuneChoice): Promise<Session> {
  post({ type: 'state', state: 'loading' });
  const backend = await backendFor(settings.backend);
  const source = fineTune && !kept ? await loadSource(fineTune.from) : undefined;
  const base = architecture(kept?.run.state.config.arch ?? source?.info.arch ?? settings.arch);
  const skipped: string[] = [];
  const { opened, fingerprint } = await openChoice(choice, BUNDLED, storedSide(base.input[1]), (file, reason) => skipped.push(`${file}: ${reason}`));
  if (kept && kept.run.data.fingerprint !== fingerprint) throw new Error('these are not the files the saved run was trained on: give the same data to resume it');
  const config = kept ? kept.run.state.config : runConfig({ ...settings, arch: base.name }, opened, source, fineTune?.freeze ?? null);
  const data = trainingData(opened, {
    spec: opened.name, crop: base.input[1], batch: config.batch, seed: config.seed, validation: config.validation, ...runDataOptions(config, base),
    workers: 0, output: batchOutputFor(backend), channels: base.input[0],
  });
  requireImages(data, opened.name, config.batch);
  const notice = (message: string) => post({ type: 'notice', message });
  const run = prepareRun({ config, data, backends: [backend], restored: kept && restoredOf(kept), source, notice });
  const s: Session = {
    id, settings: kept ? kept.run.settings : { ...settings, arch: run.arch.name, batch: config.batch }, dataKind: choice.kind, fingerprint, arch: run.arch,
    trainer: run.net, net: run.net instanceof FrontCache ? run.net.net : (run.net as NetType), data, state: run.state, model: run.model,
    losses: kept ? [...kept.run.losses] : [], filters: kept?.run.filters ?? null, results: kept?.run.results ?? null,
    images: choice.kind === 'classes' && !kept ? choice.classes : undefined,
    control: 'run', running: false, scoring: false, cancelScoring: false, flush: false,
  };
  post({
    type: 'run', id, settings: s.settings, dataKind: s.dataKind, train: data.counts.train, val: data.counts.val, test: data.counts.test, parameters: s.net.parameterCount,
    losses: Float64Array.from(s.losses), epochs: s.state.history.epochs.map(epochPoint), position: position(s),
  });
  if (skipped.length > 0) notice(`${skipped.length} files skipped (${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; ...' : ''})`);
  if (choice.kind === 'classes') {
    const { train, val, test } = data.counts;
    notice(
      `Of your ${train + val + test} images, ${test} are held out as the test set (a tenth of each class with two or more, chosen with a fixed seed, as alexnet does ` +
        `for a folder without test/) and never trained on; ${val} more check each epoch (validation); the net trains on the other ${train}, ${config.batch} at a step.`,
    );
  }
  if (s.state.config.fineTune) notice(`This run is ${describeFineTune(s.state.config.fineTune)}.`);
  if (s.filters) post({ type: 'filters', picture: s.filters, towers: towers(run.arch) });
  return s;
}

const epochPoint = (e: { epoch: number; train_loss: number; val_loss: number; val_top1: number; val_top5: number }) => ({
  epoch: e.epoch, trainLoss: e.train_loss, valLoss: e.val_loss, valTop1: e.val_top1, valTop5: e.val_top5,
});
const towers = (arch: Architecture) => (arch.layers.some((l) => l.kind === 'conv' && l.groups === 2) ? 2 : 1);

function record(s: Session): RunRecord {
  return {
    id: s.id, settings: s.settings, data: { kind: s.dataKind, fingerprint: s.fingerprint }, state: structuredClone(s.state), model: s.model,
    stepsPerEpoch: s.data.train.batchesPerEpoch, losses: Float64Array.from(s.losses), filters: s.filters, results: s.results, savedAt: new Date().toISOString(),
  };
}

/** Saves the run as it is now: its record and (`tensors`) its weights and momenta. */
export async function persist(s: Session, tensors = true): Promise<void> {
  const run = record(s);
  await saveRun(
    run,
    tensors
      ? {
          weights: encodeSafetensors(await s.net.exportTensors('value'), { arch: s.arch.name }),
          momenta: encodeSafetensors(await s.net.exportTensors('velocity'), { kind: MOMENTA_KIND }),
        }
      : undefined,
    s.images,
  );
  s.images = undefined;
  post({ type: 'saved', id: s.id, step: s.state.step, savedAt: run.savedAt });
  await postRuns(s.id);
}

async function sendFilters(s: Session): Promise<void> {
  const param = s.net.parameters.find((p) => p.name === parameterNames(s.arch, 'conv1').weight)!;
  const mosaic = filterMosaic(await s.net.backend.read(param.value), param.shape, towers(s.arch), param.shape[0] >= 48 ? 12 : 8, param.shape[2] >= 11 ? 4 : 6);
  s.filters = { width: mosaic.width, height: mosaic.height, rgb: mosaic.rgb };
  post({ type: 'filters', picture: { ...s.filters, rgb: mosaic.rgb.slice() }, towers: towers(s.arch) });
}

/** Trains until the run is done, paused or stopped; a stopped or finished run is then scored. */
export async function train(s: Session): Promise<void> {
  s.running = true;
  s.control = 'run';
  if (s.results) {
    s.results = null; // more training: the old scores no longer hold
    s.bank = undefined;
  }
  post({ type: 'state', state: 'training' });
  const steps = s.data.train.batchesPerEpoch;
  const total = s.state.config.epochs * steps;
  let lastFilters = performance.now();
  let lastSave = performance.now();
  if (!s.filters) await sendFilters(s);
  try {
    const outcome = await trainEpochs(s.trainer, s.data, s.state, {
      savedIn: "this browser's storage (IndexedDB)",
      save: () => persist(s),
      report: (e) => {
        if (e.event === 'step') {
          const done = s.state.step;
          s.losses.push(e.loss);
          post({ type: 'step', epoch: e.epoch, step: e.step, steps: e.steps, loss: e.loss, lr: e.lr, imgPerS: e.img_per_s, etaS: ((total - done) * s.state.config.batch) / e.img_per_s, done, total });
        } else if (e.event === 'epoch') {
          post({ type: 'epoch', ...epochPoint(e) });
        }
      },
      shouldStop: async () => {
        await yieldToMessages();
        const now = performance.now();
        if (now - lastFilters > FILTERS_EVERY_MS) {
          lastFilters = now;
          await sendFilters(s);
        }
        if (s.flush || now - lastSave > SAVE_EVERY_MS) {
          s.flush = false;
          lastSave = now;
          if (s.control === 'run') await persist(s); // a pause or stop saves anyway
        }
        return s.control !== 'run';
      },
    });
    await sendFilters(s);
    if (outcome === 'stopped' && (s.control as Session['control']) === 'pause') {
      await persist(s, false); // the last filters
      post({ type: 'state', state: 'paused' });
      return;
    }
  } finally {
    s.running = false;
  }
  await score(s);
}

/** Test scores and the confusion matrix, with progress; a stop while scoring cancels it. */
export async function score(s: Session): Promise<void> {
  s.scoring = true;
  s.cancelScoring = false;
  post({ type: 'state', state: 'scoring' });
  try {
    const { net, data } = s;
    const classes = data.classes.length;
    const n = data.counts.test;
    const probs = new Float32Array(n * classes);
    const labels = new Float32Array(n);
    let at = 0;
    post({ type: 'scoring', done: 0, total: n });
    for await (const b of data.test.epoch(0)) {
      feedBatch(net, data.test.plan, b);
      net.forward(b.count, 'eval');
      const p = await net.readLogits(b.count);
      softmax(b.count, classes, p, p);
      probs.set(p, at * classes);
      labels.set(b.labels, at);
      at += b.count;
      post({ type: 'scoring', done: at, total: n });
      await yieldToMessages();
      if (s.cancelScoring) {
        post({ type: 'cancelled', position: position(s) });
        post({ type: 'state', state: 'paused' });
        return;
      }
    }
    const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    for (let i = 0; i < n; i++) confusion[labels[i]][topClass(probs, i, classes)]++;
    const top5 = countTopK(probs, labels, n, classes, Math.min(5, classes)) / n;
    s.results = { top1: countTopK(probs, labels, n, classes, 1) / n, top5, n, confusion, classes: data.classes, probs };
    await persist(s, false);
    showResults(s);
  } finally {
    s.scoring = false;
  }
}

/** Test image `i`'s most likely class (the first on ties), from the rows of `probs`. */
function topClass(probs: Float32Array, i: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
  return best;
}

/** The run's saved or new scores, with the first test images to click, their true classes and the model's. */
export function showResults(s: Session): void {
  const { probs, ...scores } = s.results!;
  const test = s.data.sets.test;
  const { classes } = s.data;
  const shown = Array.from({ length: Math.min(TEST_PICTURES, test.count) }, (_, i) => i);
  post({
    type: 'done', ...scores, position: position(s), tests: shown.map((i) => image(test, i)), testLabels: shown.map((i) => classes[test.label(i)]),
    testPredicted: shown.map((i) => classes[topClass(probs, i, classes.length)]),
  });
  post({ type: 'state', state: 'done' });
}
