// The page's training worker: the backend (WebGPU on the browser's adapter, or the CPU through
// WebAssembly), the data, the net and the library's training loop, checkpoints to IndexedDB, and
// everything that reads the trained net (test scores, conv1 filters, retrieval, classification).
// It talks to the page only through the messages of protocol.ts.
import {
  architecture, architectureForWeights, batchOutputFor, browserPoolHost, countTopK, CpuBackend, createWebGpuBackend, encodeSafetensors, feedBatch, filterMosaic,
  MemoryDataset, MOMENTA_KIND, nearest, newRunState, PAPER_SGD, parameterNames, parseSafetensors, parseWeights, platformGpu, probeGpu, requireImages,
  selectWeights, sharedBytes, softmax, storedImage, toChannels, trainEpochs, trainingData, decodeRgb,
  type AdapterDescription, type Architecture, type Backend, type Dataset, type Net as NetType, type RunState, type SavedModel, type TrainConfig, type TrainingData,
  Net, storedSide,
} from '../src/browser.js';
import { openChoice } from './data.js';
import { IMAGENET_CLASSES } from './imagenet_classes.js';
import type { DataChoice, FromWorker, Picture, RunSettings, ToWorker, TopClass } from './protocol.js';
import { loadRun, saveRun, type StoredRun } from './store.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
const BUNDLED = new URL('../fashion-mnist-subset/', self.location.href).href;
/** The paper net on small images scaled up: the settings that train it (README; its own init diverges there). */
const PAPER_ON_SMALL_IMAGES = { init: 'he', inputScale: 1 / 64, biasInit: 0.1, schedule: 'step:5' } as const;
const FILTERS_EVERY_MS = 3000;
const SAVE_EVERY_MS = 15000;
const RETRIEVAL_BANK = 2000;

interface Session {
  settings: RunSettings;
  dataKind: DataChoice['kind'];
  fingerprint: string;
  arch: Architecture;
  net: NetType;
  data: TrainingData;
  state: RunState;
  model: SavedModel;
  control: 'run' | 'pause' | 'stop';
  running: boolean;
  /** After the run: test softmax rows and fc7 features of test and bank images. */
  results?: { probs: Float32Array; testFeatures: Float32Array; bankFeatures: Float32Array; dims: number };
}

let backends: Partial<Record<RunSettings['backend'], Backend>> = {};
let session: Session | null = null;
/** A model from a weights file, for classification. */
let picked: { net: NetType; data: TrainingData; classes: readonly string[] } | null = null;

async function backendFor(choice: RunSettings['backend']): Promise<Backend> {
  const cached = backends[choice];
  if (cached) return cached;
  const notes: string[] = [];
  const gpu = choice === 'cpu' ? null : platformGpu();
  // As the command line's auto: a software adapter (SwiftShader, llvmpipe) runs the shaders on
  // the CPU, over 100 times slower than the CPU backend here (BENCHMARKS.md); "WebGPU" in the
  // menu takes it anyway.
  const probe = gpu ? await probeGpu(gpu).catch(() => null) : null;
  const software = choice === 'auto' && probe?.info.fallback;
  if (software) notes.push(`passed over WebGPU: the only adapter, ${adapterName(probe.info)}, is a software one`);
  const webgpu = gpu && probe && !software ? await createWebGpuBackend({ gpu }).catch(() => null) : null;
  if (choice === 'webgpu' && !webgpu) notes.push('no WebGPU adapter');
  // The CPU on every core (Web Workers sharing the backend's memory; one thread where the page
  // is not cross-origin isolated), started before the first op.
  const cpu = webgpu ? null : new CpuBackend({ host: browserPoolHost, notice: (line) => notes.push(line) });
  await cpu?.start();
  const backend = webgpu ?? cpu!;
  backends[choice] = backend;
  post({ type: 'backend', name: webgpu ? `WebGPU: ${adapterName(webgpu.adapter)}` : [cpu!.device, ...notes].join(': ') });
  return backend;
}

const adapterName = (a: AdapterDescription) => a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'adapter';

/** Grey or RGB CHW bytes as an RGB picture. */
function picture(pixels: Uint8Array, shape: readonly number[]): Picture {
  const [C, H, W] = shape;
  const rgb = new Uint8Array(H * W * 3);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = pixels[(C === 3 ? c : 0) * H * W + p];
  return { width: W, height: H, rgb };
}

function image(set: Dataset, i: number): Picture {
  const pixels = new Uint8Array(set.shape[0] * set.shape[1] * set.shape[2]);
  set.readImage(i, pixels);
  return picture(pixels, set.shape);
}

/** The run's data and net, new or restored; the caller starts the loop. */
async function prepare(settings: RunSettings, choice: DataChoice, stored: StoredRun | null): Promise<Session> {
  post({ type: 'state', state: 'loading' });
  const backend = await backendFor(settings.backend);
  const base = architecture(settings.arch);
  const paper = settings.arch === 'paper';
  const skipped: string[] = [];
  const { opened, fingerprint } = await openChoice(choice, BUNDLED, storedSide(base.input[1]), (file, reason) => skipped.push(`${file}: ${reason}`));
  if (skipped.length > 0) post({ type: 'weights', message: `${skipped.length} files skipped (${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; ...' : ''})` });
  if (stored && stored.data.fingerprint !== fingerprint) throw new Error('these are not the files the saved run was trained on: give the same data to resume it');
  const scale = paper ? PAPER_ON_SMALL_IMAGES.inputScale : base.inputScale;
  const data = trainingData(opened, {
    spec: opened.name, crop: base.input[1], batch: settings.batch, seed: settings.seed, scale, workers: 0, output: batchOutputFor(backend), channels: base.input[0],
  });
  requireImages(data, opened.name, settings.batch);
  const arch = architecture(settings.arch, data.input, data.classes.length);
  const net = new Net(backend, arch, settings.batch);
  const config: TrainConfig = {
    arch: arch.name, data: opened.name, epochs: settings.epochs, batch: settings.batch, lr: settings.lr,
    schedule: paper ? PAPER_ON_SMALL_IMAGES.schedule : arch.defaults.schedule, momentum: PAPER_SGD.momentum, weightDecay: PAPER_SGD.weightDecay,
    sgdForm: PAPER_SGD.form, seed: settings.seed, checkpointEvery: 0, out: 'IndexedDB', ...(paper ? { init: 'he', inputScale: scale, biasInit: 0.1 } : {}),
  };
  let state: RunState;
  if (stored) {
    net.importTensors(parseSafetensors(stored.weights, 'saved weights').tensors, 'saved weights');
    net.importTensors(parseSafetensors(stored.momenta, 'saved momenta').tensors, 'saved momenta', 'velocity');
    state = stored.state;
  } else {
    net.initialize({ scheme: config.init ?? arch.defaultInit, seed: config.seed, biasOverride: config.biasInit });
    state = newRunState(config);
  }
  const model: SavedModel = { arch: arch.name, input: arch.input, classes: data.classes, data: opened.name, scale, channelMean: data.stats.channelMean };
  post({
    type: 'start', train: data.counts.train, val: data.counts.val, test: data.counts.test, parameters: net.parameterCount,
    stepsPerEpoch: data.train.batchesPerEpoch, epochs: state.config.epochs, firstStep: state.step,
  });
  return { settings, dataKind: choice.kind, fingerprint, arch, net, data, state, model, control: 'run', running: false };
}

async function persist(s: Session): Promise<void> {
  await saveRun({
    settings: s.settings, data: { kind: s.dataKind, fingerprint: s.fingerprint }, state: structuredClone(s.state), model: s.model,
    weights: encodeSafetensors(await s.net.exportTensors('value'), { arch: s.arch.name }),
    momenta: encodeSafetensors(await s.net.exportTensors('velocity'), { kind: MOMENTA_KIND }),
    savedAt: new Date().toISOString(),
  });
  post({ type: 'saved', run: summary(await loadRun()) });
}

function summary(run: StoredRun | null) {
  return run && { arch: run.settings.arch, data: run.data.kind, epoch: run.state.epoch, epochs: run.state.config.epochs, step: run.state.step, savedAt: run.savedAt };
}

async function sendFilters(s: Session): Promise<void> {
  const param = s.net.parameters.find((p) => p.name === parameterNames(s.arch, 'conv1').weight)!;
  const towers = s.arch.layers.some((l) => l.kind === 'conv' && l.groups === 2) ? 2 : 1;
  const mosaic = filterMosaic(await s.net.backend.read(param.value), param.shape, towers, param.shape[0] >= 48 ? 12 : 8, param.shape[2] >= 11 ? 4 : 6);
  post({ type: 'filters', picture: { width: mosaic.width, height: mosaic.height, rgb: mosaic.rgb }, towers }, [mosaic.rgb.buffer]);
}

/** Trains until the run is done, paused or stopped; a stopped or finished run is then scored. */
async function run(s: Session): Promise<void> {
  s.running = true;
  post({ type: 'state', state: 'training' });
  const steps = s.data.train.batchesPerEpoch;
  const total = s.state.config.epochs * steps;
  let lastFilters = 0;
  let lastSave = performance.now();
  await sendFilters(s);
  try {
    const outcome = await trainEpochs(s.net, s.data, s.state, {
      savedIn: "this browser's storage (IndexedDB)",
      save: () => persist(s),
      report: (e) => {
        if (e.event === 'step') {
          const done = s.state.step;
          post({ type: 'step', epoch: e.epoch, step: e.step, steps: e.steps, loss: e.loss, lr: e.lr, imgPerS: e.img_per_s, etaS: ((total - done) * s.state.config.batch) / e.img_per_s, done, total });
        } else if (e.event === 'epoch') {
          post({ type: 'epoch', epoch: e.epoch, trainLoss: e.train_loss, valLoss: e.val_loss, valTop1: e.val_top1, valTop5: e.val_top5 });
        }
      },
      shouldStop: async () => {
        // A macrotask between steps: the page's pause, stop and questions are read here.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const now = performance.now();
        if (now - lastFilters > FILTERS_EVERY_MS) {
          lastFilters = now;
          await sendFilters(s);
        }
        if (now - lastSave > SAVE_EVERY_MS) {
          lastSave = now;
          await persist(s);
        }
        return s.control !== 'run';
      },
    });
    await sendFilters(s);
    if (outcome === 'stopped' && s.control === 'pause') {
      post({ type: 'state', state: 'paused' });
      return;
    }
    await finish(s);
  } finally {
    s.running = false;
  }
}

/** Test scores, the confusion matrix, and fc7 features of the test images and a retrieval bank. */
async function finish(s: Session): Promise<void> {
  post({ type: 'state', state: 'finishing' });
  const { net, data } = s;
  const classes = data.classes.length;
  const n = data.counts.test;
  const probs = new Float32Array(n * classes);
  const labels = new Float32Array(n);
  const features: Float32Array[] = [];
  let at = 0;
  for await (const b of data.test.epoch(0)) {
    feedBatch(net, data.test.plan, b);
    net.forward(b.count, 'eval');
    const p = await net.readLogits(b.count);
    softmax(b.count, classes, p, p);
    probs.set(p, at * classes);
    labels.set(b.labels, at);
    features.push((await net.readLayerOutput('fc7', b.count)).data);
    at += b.count;
  }
  const bankIndices = Array.from({ length: Math.min(RETRIEVAL_BANK, data.sets.train.count) }, (_, i) => i);
  const bank: Float32Array[] = [];
  for await (const b of data.centreStream(data.sets.train, bankIndices).epoch(0)) {
    feedBatch(net, data.test.plan, b);
    net.forward(b.count, 'eval');
    bank.push((await net.readLayerOutput('fc7', b.count)).data);
  }
  const join = (parts: Float32Array[]) => {
    const all = new Float32Array(parts.reduce((k, p) => k + p.length, 0));
    parts.reduce((k, p) => (all.set(p, k), k + p.length), 0);
    return all;
  };
  const testFeatures = join(features);
  s.results = { probs, testFeatures, bankFeatures: join(bank), dims: testFeatures.length / n };
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    confusion[labels[i]][best]++;
  }
  await persist(s);
  const tests = Array.from({ length: Math.min(48, n) }, (_, i) => image(data.sets.test, i));
  post({
    type: 'done', top1: countTopK(probs, labels, n, classes, 1) / n, top5: countTopK(probs, labels, n, classes, Math.min(5, classes)) / n, n, confusion,
    classes: data.classes, tests,
  });
  post({ type: 'state', state: 'done' });
}

function topClasses(probs: Float32Array, names: readonly string[]): TopClass[] {
  return Array.from(probs, (probability, c) => ({ name: names[c] ?? `class ${c}`, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5);
}

/** The model to classify with: a weights file the user picked, else the run's (not while it trains). */
function classifier(): { net: NetType; data: TrainingData; classes: readonly string[] } {
  if (picked) return picked;
  if (!session) throw new Error('train a model first, or pick a weights file');
  if (session.running) throw new Error('pause or stop the run to classify with it');
  return { net: session.net, data: session.data, classes: session.data.classes };
}

async function classify(name: string, bytes: Uint8Array): Promise<void> {
  const { net, data, classes } = classifier();
  const decoded = await decodeRgb(bytes);
  if (!decoded.ok) throw new Error(`${name}: ${decoded.reason} (the page reads JPEG, PNG and WebP images)`);
  const [C, side] = data.sets.train.shape;
  const pixels = toChannels(storedImage(decoded.rgb, decoded.width, decoded.height, side), side * side, C);
  const images = sharedBytes(pixels.length);
  images.set(pixels);
  const one = new MemoryDataset(name, 'test', [C, side, side], [], [], images, new Int32Array(1));
  for await (const b of data.centreStream(one, [0]).epoch(0)) {
    feedBatch(net, data.test.plan, b);
    net.forward(1, 'eval');
  }
  const p = await net.readLogits(1);
  softmax(1, p.length, p, p);
  post({ type: 'prediction', source: name, top: topClasses(p, classes), picture: picture(pixels, [C, side, side]) });
}

/** A weights file for classification: checked against the architecture, read with the page's data. */
async function useWeights(name: string, bytes: Uint8Array, archName: string): Promise<void> {
  const tensors = parseWeights(bytes, name, archName);
  const arch = architectureForWeights(archName, tensors);
  selectWeights(arch, tensors, name); // every name and shape, before anything is built
  const backend = await backendFor(session?.settings.backend ?? 'auto');
  const { opened } = await openChoice({ kind: 'bundled' }, BUNDLED, storedSide(arch.input[1]), () => {});
  const data = trainingData(opened, { spec: opened.name, crop: arch.input[1], batch: 1, seed: 1, scale: arch.inputScale, workers: 0, output: batchOutputFor(backend), channels: arch.input[0] });
  const net = new Net(backend, architecture(archName, data.input, arch.classes), 1);
  net.importTensors(tensors, name);
  const classes = arch.classes === data.classes.length ? data.classes : arch.classes === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : [];
  picked = { net, data, classes };
  post({ type: 'weights', message: `${name}: ${archName} weights, ${arch.classes} classes, ready to classify` });
}

async function similar(index: number): Promise<void> {
  const s = session;
  if (!s?.results) throw new Error('the retrieval grid needs a finished run');
  const { testFeatures, bankFeatures, dims } = s.results;
  const query = testFeatures.subarray(index * dims, (index + 1) * dims);
  const train = s.data.sets.train;
  const neighbours = nearest(query, bankFeatures, dims, 6).map((nb) => ({ picture: image(train, nb.index), label: s.data.classes[train.label(nb.index)], distance: nb.distance }));
  post({ type: 'similar', query: image(s.data.sets.test, index), neighbours });
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'start':
      if (session?.running) throw new Error('a run is already training: stop it first');
      picked = null;
      session = await prepare(m.settings, m.data, null);
      await persist(session);
      return run(session);
    case 'restore': {
      const stored = await loadRun();
      if (!stored) throw new Error('no saved run in this browser');
      if (stored.data.kind !== 'bundled' && !m.data) throw new Error(`the saved run trained on your own ${stored.data.kind === 'idx' ? 'IDX files' : 'image folder'}: pick them again to resume it`);
      session = await prepare(stored.settings, m.data ?? { kind: 'bundled' }, stored);
      return session.state.epoch < session.state.config.epochs ? run(session) : finish(session);
    }
    case 'pause':
    case 'stop':
      if (session) session.control = m.type;
      if (session && !session.running && m.type === 'stop') await finish(session);
      return;
    case 'resume':
      if (!session || session.running) return;
      session.control = 'run';
      return run(session);
    case 'classify':
      return classify(m.name, m.bytes);
    case 'classifyTest': {
      const s = session;
      if (!s?.results) throw new Error('the test images are scored when the run ends');
      const k = s.data.classes.length;
      post({ type: 'prediction', source: `test image ${m.index}`, top: topClasses(s.results.probs.subarray(m.index * k, (m.index + 1) * k), s.data.classes), picture: image(s.data.sets.test, m.index) });
      return;
    }
    case 'similar':
      return similar(m.index);
    case 'weights':
      return useWeights(m.name, m.bytes, m.arch);
    case 'export': {
      if (!session) throw new Error('train a model first');
      if (session.running) throw new Error('pause or stop the run to download its model');
      const bytes = encodeSafetensors(await session.net.exportTensors('value'), { arch: session.arch.name, source: 'AlexNet.ts page' });
      post({ type: 'exported', name: `alexnet-${session.arch.name}-step${session.state.step}.safetensors`, bytes }, [bytes.buffer]);
      return;
    }
    case 'loseDevice': {
      const gpu = Object.values(backends).find((b) => b?.name === 'webgpu') as { ctx?: { device: GPUDevice } } | undefined;
      gpu?.ctx?.device.destroy();
      return;
    }
  }
}

/** A failure is one message for the page; what was saved stays saved, and a lost device drops the backend. */
function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (/device (was )?lost/i.test(message)) {
    backends = {};
    if (session) session.running = false;
    post({ type: 'error', message: `The GPU device was lost (${message}). Your run is saved up to its last checkpoint: press "Resume saved run" to go on (on the CPU if the GPU does not come back).` });
    post({ type: 'state', state: 'idle' });
    return;
  }
  post({ type: 'error', message });
  const s = session;
  post({ type: 'state', state: !s ? 'idle' : s.running ? 'training' : s.results ? 'done' : s.state.step > 0 ? 'paused' : 'idle' });
}

self.onmessage = (e: MessageEvent<ToWorker>) => void handle(e.data).catch(fail);
// Said at once: which backend a run would use, and whether a saved run can be resumed.
backendFor('auto').catch(fail);
loadRun().then((run) => post({ type: 'saved', run: summary(run) }), () => post({ type: 'saved', run: null }));
