// What a run trains, from its settings and its data, on any host: the net on one device or
// several (what it trains, for a fine-tune), its starting weights (random, a fine-tune's source,
// or a checkpoint's with its momenta), its state, and the model description its checkpoints
// carry. Node's trainer (trainer.ts) and the page's worker both start runs here, then hand the net
// to the loop (loop.ts).
import type { Backend } from '../backend/backend.js';
import { UsageError } from '../core/errors.js';
import { preprocessingOptions } from '../data/preprocessing.js';
import type { NamedTensor } from '../io/safetensors.js';
import { architecture } from '../nn/architectures.js';
import type { Architecture } from '../nn/layers.js';
import { Net } from '../nn/net.js';
import type { Network } from '../nn/network.js';
import { DataParallel } from '../parallel/data.js';
import { TowerParallel } from '../parallel/towers.js';
import type { DataOptions, TrainingData } from './data.js';
import { fineTunePreprocessing, settleFineTune, startingTensors, trainableOptions } from './fine_tune.js';
import { FrontCache } from './front_cache.js';
import { newRunState, type RunState, type SavedModel, type TrainConfig } from './loop.js';

/** A checkpoint to continue from: its state and tensors (checkpoint.ts's loadCheckpoint, or a page's store). */
export interface Restored {
  state: RunState;
  weights: Map<string, NamedTensor>;
  weightsPath: string;
  momenta: Map<string, NamedTensor>;
  optimizerPath: string;
}

export interface RunInputs {
  config: TrainConfig;
  data: TrainingData;
  backends: Backend[];
  /** With several backends: data parallelism (default) or the paper's two towers. */
  parallel?: 'data' | 'towers';
  restored?: Restored | null;
  /** A fine-tune's source tensors by name (config.fineTune says what they are), and the file they came from. */
  source?: { tensors: Map<string, NamedTensor>; file: string };
  notice(line: string): void;
}

export interface Run {
  arch: Architecture;
  net: Network;
  state: RunState;
  model: SavedModel;
}

/** The preprocessing options of the data path for a run of `config` on an `arch`-like net. */
export function runDataOptions(config: TrainConfig, arch: Architecture): Pick<DataOptions, 'scale' | 'mean' | 'augment' | 'fixedChannels'> {
  const own = fineTunePreprocessing(config.fineTune);
  return {
    ...(own ? preprocessingOptions(own) : { scale: config.inputScale ?? arch.inputScale }),
    augment: config.augment, fixedChannels: config.fineTune?.source.input[0],
  };
}

/** The run's net, starting weights and state; a fine-tune's config is settled (fc8 kept or new) for the data. */
export function prepareRun(r: RunInputs): Run {
  const { data, backends } = r;
  const config = r.config.fineTune ? { ...r.config, fineTune: settleFineTune(r.config.fineTune, data.classes) } : r.config;
  const arch = architecture(config.arch, data.input, data.classes.length);
  const ft = config.fineTune;
  const trainable = trainableOptions(arch, ft);
  let net: Network;
  if (backends.length === 1) {
    const one = new Net(backends[0], arch, config.batch, trainable);
    // A frozen front runs once per image where nothing random reaches it (front_cache.ts).
    net = one.frozenBefore > 0 && ft?.cacheFeatures !== false ? new FrontCache(one, [data.train.plan, data.val.plan], r.notice) : one;
  } else if (r.parallel === 'towers') {
    if (ft) throw new UsageError('--parallel towers trains the two towers from scratch; fine-tune on one device or with --parallel data');
    net = new TowerParallel(backends, arch, config.batch);
  } else net = new DataParallel(backends, arch, config.batch, trainable);
  let state: RunState;
  const init = { scheme: config.init ?? arch.defaultInit, seed: config.seed, biasOverride: config.biasInit };
  if (r.restored) {
    net.importTensors(r.restored.weights, r.restored.weightsPath);
    net.importTensors(r.restored.momenta, r.restored.optimizerPath, 'velocity');
    state = { ...r.restored.state, config };
  } else if (ft) {
    if (!r.source) throw new Error('prepareRun: a fine-tune needs its source tensors');
    net.importTensors(startingTensors(arch, r.source.tensors, r.source.file, ft, init), r.source.file);
    state = newRunState(config);
  } else {
    net.initialize(init);
    state = newRunState(config);
  }
  const model: SavedModel = {
    arch: arch.name, input: arch.input, classes: data.classes, data: config.data, scale: config.inputScale ?? arch.inputScale,
    channelMean: data.stats.channelMean,
  };
  const own = fineTunePreprocessing(ft);
  if (own) model.preprocessing = own;
  return { arch, net, state, model };
}
