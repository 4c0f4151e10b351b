// The library for browsers (package.json `exports`, condition "browser"): nets, both backends,
// the weight-format and IDX parsers on bytes, image pixels and augmentation, the RNG, the
// training loop, metrics and the report's figures. It imports no Node module (a test walks its
// import graph): files, worker_threads, sharp, Dawn and child processes stay in the Node entry
// (index.ts) and its adapters.
export * from './core/errors.js';
export * from './core/geometry.js';
export { concatBytes, crc32, gunzipBounded } from './core/bytes.js';
export { sha256Hex } from './core/digest.js';
export type { Backend, CropGeometry, Precision, Tensor } from './backend/backend.js';
export { CpuBackend, type CpuOptions } from './backend/cpu/index.js';
// Web Workers for the CPU backend's threads: new CpuBackend({ host: browserPoolHost }), then await backend.start().
export { browserPoolHost } from './backend/cpu/host_browser.js';
export { createWebGpuBackend, WebGpuBackend, platformGpu, probeGpu, type AdapterDescription, type WebGpuOptions } from './backend/webgpu/index.js';
export { GpuError } from './backend/webgpu/errors.js';
export { softmax } from './backend/cpu/loss.js';
export { PAPER_SGD, type SgdForm } from './backend/cpu/sgd.js';
export { architecture, ARCHITECTURE_NAMES, miniArchitecture, paperFamily, parameterNames, registerArchitecture } from './nn/architectures.js';
export type { Architecture, LayerSpec, InitScheme } from './nn/layers.js';
export { Net, type Parameter } from './nn/net.js';
export type { InputSlot, Network } from './nn/network.js';
export { batchSlices, DataParallel, type Slice } from './parallel/data.js';
export { TowerParallel } from './parallel/towers.js';
export { planLayers, forwardMacs } from './nn/plan.js';
export { parseSafetensors, encodeSafetensors, type NamedTensor } from './io/safetensors.js';
export { architectureForWeights, decodeWeights, detectWeightFormat, modelMetadata, MOMENTA_KIND, parseWeights, parseWeightsInfo, selectWeights, weightsClasses, weightsPreprocessing } from './io/weights.js';
export { parsePth } from './io/pth.js';
export { parseCaffeModel, caffeWeights } from './io/caffe.js';
export { encodeOnnx } from './io/onnx.js';
export { decodeIdx, parseIdx, type IdxArray } from './data/idx.js';
export { FASHION_MNIST_CLASSES, fashionMnistFiles, fashionMnistSplit, type ImageSet } from './data/fashion_mnist.js';
export { classCounts, datasetFromSet, holdOutTest, MemoryDataset, sharedBytes, stratifiedHoldOut, type Dataset, type OpenedData } from './data/dataset.js';
export { computeStats, type ImageStats } from './data/stats.js';
export { imageHeaderProblem, storedImage, toChannels } from './data/pixels.js';
export { Loader, type Batch, type LoaderOptions } from './data/loader.js';
export { centreView } from './data/augment.js';
export { trainingData, requireImages, storedSide, type DataOptions, type TrainingData } from './train/data.js';
export { newRunState, trainEpochs, type EpochRecord, type LoopHooks, type RunState, type SavedModel, type TrainConfig, type TrainEvent } from './train/loop.js';
export { evaluate, type EvalResult } from './train/evaluate.js';
// Fine-tuning (docs/transfer.md): a run's setup from its config (config.fineTune), its source, its kept front.
export { prepareRun, runDataOptions, type Restored, type Run, type RunInputs } from './train/run_setup.js';
export {
  describeFineTune, firstTrainedLayer, keepsLastLayer, sourceFromModel, sourceFromWeights, startingTensors, trainableOptions,
  type FineTuneConfig, type FineTuneSource, type LoadedSource,
} from './train/fine_tune.js';
export { FrontCache } from './train/front_cache.js';
export { CAFFE_PREPROCESSING, TORCHVISION_PREPROCESSING, dataPreprocessing, modelPreprocessing, type Preprocessing } from './data/preprocessing.js';
export { feedBatch, batchOutputFor } from './train/feed.js';
export { countTopK } from './eval/metrics.js';
export { extractFeatures, nearest } from './eval/features.js';
export { parseSchedule, learningRate } from './optim/schedule.js';
export { Rng } from './rng/hash.js';
export { filterMosaic, imageRows } from './report/mosaic.js';
export { encodePng } from './report/png.js';
export { confusionMatrixSvg, lineChart } from './report/charts.js';
export { decodeRgb, type DecodedRgb } from './data/decode_browser.js';
export { addSoftmax, forEachBatch, type LoadedModel, type Predictions } from './eval/run.js';
// Inside the net: activations, top images per unit, occlusion, saliency, Grad-CAM, and their pictures (docs/explain.md).
export * from './explain/index.js';
