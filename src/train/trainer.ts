// Training in Node: a locked run directory, the data opened from disk, crash-safe checkpoints
// written as files, the loop of loop.ts, the test set and the report at the end. A run resumed
// from a checkpoint continues exactly as if it had never stopped.
import { availableParallelism, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { absoluteDataSpec, dataDirectory } from '../data/open.js';
import { checkOutputFolder } from '../io/outputs.js';
import { applyPrecision, type Backend } from '../backend/backend.js';
import { UsageError } from '../core/errors.js';
import { architecture } from '../nn/architectures.js';
import { checkDevicesFit } from '../nn/memory.js';
import { buildReport } from '../report/report.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint, readCheckpointState, saveCheckpoint } from './checkpoint.js';
import { requireImages } from './data.js';
import { openTrainingData } from './open_data.js';
import { dataChanges, fingerprintData, type DataFingerprint } from './fingerprint.js';
import { claimRunDirectory } from './run_dir.js';
import { tuneOnFirstUse } from '../backend/webgpu/tile_cache.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { batchOutputFor } from './feed.js';
import { describeFineTune } from './fine_tune.js';
import type { LoadedSource } from './fine_tune.js';
import { trainEpochs, type Progress, type RunState, type TrainConfig, type TrainEvent } from './loop.js';
import { prepareRun, runDataOptions } from './run_setup.js';

export type { EpochRecord, SavedModel, TrainConfig, TrainEvent } from './loop.js';

export interface TrainOptions {
  /** Start a new run where one exists, its checkpoints moved aside. */
  force?: boolean;
  /** With several backends: data parallelism (default) or the paper's two towers. */
  parallel?: 'data' | 'towers';
  /** A fine-tune's source (config.fineTune.source describes it): readFineTuneSource's. */
  source?: LoadedSource;
}

/**
 * Trains from scratch, or from the newest checkpoint under `resume` with that run's settings;
 * `epochs` may be raised and `lr` replaces the current learning rate. Checkpoints go to
 * `requested.out`, which is locked for the run: the resumed directory itself, or another one
 * that then continues it. `force` starts a new run where one exists (its checkpoints moved aside).
 * Several backends (of one kind) train data-parallel, one replica each (src/parallel/data.ts),
 * or, with `parallel: 'towers'`, two run the paper's two towers (src/parallel/towers.ts); the
 * checkpoints are a one-device run's, and a run may resume on any number of devices.
 */
export async function train(
  requested: TrainConfig,
  backend: Backend | Backend[],
  report: (e: TrainEvent) => void,
  resume?: { dir: string; epochs?: number; lr?: number },
  { force = false, parallel = 'data', source }: TrainOptions = {},
): Promise<EvalResult> {
  if (requested.fineTune && !resume && !source) throw new UsageError('train: a fine-tune (config.fineTune) needs its source: readFineTuneSource(path)');
  const fresh = !resume || resolve(resume.dir) !== resolve(requested.out);
  // The data spec is recorded absolute: the run (and eval, report) read the same data from any working directory.
  const config = { ...requested, data: absoluteDataSpec(requested.data) };
  const backends = Array.isArray(backend) ? backend : [backend];
  // Before any work (the run directory included): the devices fit the machine, the run's folder is no data set's.
  const settings = resume ? (await readCheckpointState<TrainConfig>(await latestCheckpoint(checkpointDir(resume.dir)))).config : config;
  checkDevicesFit(architecture(settings.arch), settings.batch, backends, parallel === 'towers', { cores: availableParallelism(), memory: totalmem() });
  const data = settings.data;
  await checkOutputFolder('--out', requested.out, 'training run', { folders: [{ path: await dataDirectory(data), what: `the data set ${data}` }] }, ['sweep']);
  const run = await claimRunDirectory(requested.out, { fresh, force, notice: (message) => report({ event: 'notice', message }) });
  try {
    return await trainIn(config, backends, parallel, report, resume, source);
  } finally {
    await run.release();
  }
}

async function trainIn(
  requested: TrainConfig, backends: Backend[], parallel: 'data' | 'towers', report: (e: TrainEvent) => void, resume?: { dir: string; epochs?: number; lr?: number }, source?: LoadedSource,
): Promise<EvalResult> {
  const started = performance.now();
  const latest = resume ? await latestCheckpoint(checkpointDir(resume.dir)) : null;
  const restored = latest ? await loadCheckpoint<TrainConfig, Progress>(latest) : null;
  // A resumed run writes where it is told (a copied or moved run never writes to its origin).
  const config: TrainConfig = restored
    ? { ...restored.state.config, out: requested.out, epochs: resume?.epochs ?? restored.state.config.epochs }
    : requested;
  const backend = backends[0];
  // The run's precision (a resumed run keeps its own). Loss scaling follows the run's setting,
  // not the device, so that a run continues the same on any machine (it is exact in float32).
  const notice = (message: string) => report({ event: 'notice', message });
  const precision = applyPrecision(backend, config.precision ?? 'fp32', notice);
  for (const other of backends.slice(1)) other.usePrecision(precision);
  const base = architecture(config.arch);
  const data = await openTrainingData({
    spec: config.data, crop: base.input[1], batch: config.batch, seed: config.seed, validation: config.validation,
    limit: config.limit, ...runDataOptions(config, base), workers: loaderWorkers(), output: batchOutputFor(backend), channels: base.input[0],
  });
  for (const message of data.notes) report({ event: 'notice', message });
  const wrote = restored?.state.devices;
  if (typeof wrote === 'number' && wrote !== backends.length) {
    const how = wrote > 1 ? ` (--parallel ${restored?.state.parallel})` : '';
    notice(
      `resuming on ${backends.length} device${backends.length > 1 ? 's' : ''} a run that ${wrote} device${wrote > 1 ? 's' : ''} trained${how}: it goes on from its ` +
        `checkpoint, but its bits may differ from the ${wrote}-device run's; give --devices ${wrote} to continue as it ran`,
    );
  }
  try {
    requireImages(data, config.data, config.batch);
    // A new --epochs is kept in later checkpoints, so a second resume keeps the extended run.
    const { arch, net, state, model } = prepareRun({
      config, data, backends, parallel, restored: restored && { ...restored, state: restored.state as RunState }, notice,
      source: source && { tensors: source.tensors, file: source.file },
    });
    if (resume?.lr !== undefined) state.history.schedule.lr = resume.lr;
    if (state.config.fineTune) notice(describeFineTune(state.config.fineTune));
    report({
      event: 'start', arch: arch.name, data: data.name, origin: data.origin, train: data.counts.train, val: data.counts.val,
      test: data.counts.test, parameters: net.parameterCount, backend: backends.length === 1 ? backend.device : `${backends.length} x ${backend.device}`, memory_bytes: net.memoryBytes,
      resumed_from_step: state.step, precision,
    });

    if (backends.length === 1) {
      // Tiles measured per GEMM on first use of this adapter (WebGPU on hardware; cached on disk).
      const pass = async () => (await net.forward(config.batch, 'train', config.seed, state.step), await net.backward(state.history.lossScale?.scale ?? 1));
      await tuneOnFirstUse(backend, pass, { notice });
    }
    const ckptDir = checkpointDir(config.out);
    const dataFingerprint = await fingerprintData(config.data, data);
    const before = restored?.state.data as DataFingerprint | undefined;
    const changes = before ? dataChanges(before, dataFingerprint) : [];
    if (changes.length > 0) {
      report({ event: 'notice', message: `warning: the data changed since the checkpoint was written (${changes.join('; ')}); training goes on with the data as it is now` });
    }
    // The checkpoint of the last epoch is the run's final one: the test score changes nothing in
    // it, so it is not written again (on a full disk, a second copy failed a finished run).
    let checkpoint = latest;
    const save = async () => (checkpoint = await saveCheckpoint(ckptDir, net, state, { model, data: dataFingerprint, devices: backends.length, parallel }));
    await trainEpochs(net, data, state, { report, save, savedIn: ckptDir });
    // A run resumed into another --out with nothing left to train still leaves its checkpoint there.
    if (latest !== null && checkpoint === latest && resolve(dirname(latest)) !== resolve(ckptDir)) await save();
    const test = await evaluate(net, data.test);
    const reportPath = config.report ? (await buildReport(config.out, backend)).path : undefined;
    report({
      event: 'done', test_top1: test.top1, test_top5: test.top5, test_n: test.n, seconds: (performance.now() - started) / 1000, checkpoint: checkpoint!,
      report: reportPath,
    });
    return test;
  } finally {
    await data.close();
  }
}

/**
 * Loader threads for training: one on a 2-core machine (the other runs the net), up to 6 where
 * there are more cores (a GPU machine: the paper net on small images resamples each one to
 * 256 x 256, about 1,600 images/s per thread). The batches are the same for any count.
 */
function loaderWorkers(): number {
  return Math.max(1, Math.min(6, availableParallelism() - 1));
}
