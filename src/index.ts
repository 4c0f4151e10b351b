// The typed library: build a net, load weights, train and run it, from Node.
export * from './core/errors.js';
export * from './core/geometry.js';
export type { Backend, CropGeometry, Precision, Tensor } from './backend/backend.js';
export { CpuBackend, type CpuOptions } from './backend/cpu/index.js';
// Node's host for the CPU backend's threads: new CpuBackend({ host: nodePoolHost }) uses every core.
export { nodePoolHost } from './backend/cpu/host_node.js';
export { selectBackend, selectBackends, type BackendChoice } from './backend/select.js';
export type { LrnParams } from './backend/cpu/lrn.js';
export type { SgdParams, SgdForm } from './backend/cpu/sgd.js';
export { architecture, ARCHITECTURE_NAMES, miniArchitecture, paperFamily, parameterNames, PAPER_LRN, CAFFE_LRN, registerArchitecture } from './nn/architectures.js';
export type { Architecture, LayerSpec, InitScheme } from './nn/layers.js';
export { Net, type Parameter } from './nn/net.js';
export type { InputSlot, Network } from './nn/network.js';
export { batchSlices, DataParallel, type Slice } from './parallel/data.js';
export { TowerParallel } from './parallel/towers.js';
export { planLayers, forwardMacs } from './nn/plan.js';
export { parseSafetensors, encodeSafetensors, type NamedTensor } from './io/safetensors.js';
export { readSafetensors, writeSafetensors } from './io/files.js';
export { decodeIdx, parseIdx } from './data/idx.js';
export { FASHION_MNIST_CLASSES, fashionMnistSplit, type ImageSet } from './data/fashion_mnist.js';
export { loadFashionMnist, readIdx, FASHION_MNIST_DIR } from './data/source.js';
export { loadData } from './data/source.js';
export { train, type TrainOptions } from './train/trainer.js';
// Fine-tuning (docs/transfer.md): train({ ...config, fineTune: { source: source.info, freeze, lrMultNew } }, backend, report, undefined, { source }).
export { readFineTuneSource } from './train/fine_tune_source.js';
export { describeFineTune, firstTrainedLayer, sourceFromModel, sourceFromWeights, type FineTuneConfig, type FineTuneSource, type LoadedSource } from './train/fine_tune.js';
export { FrontCache } from './train/front_cache.js';
export { CAFFE_PREPROCESSING, TORCHVISION_PREPROCESSING, dataPreprocessing, modelPreprocessing, type Preprocessing } from './data/preprocessing.js';
export { type TrainConfig, type TrainEvent, type SavedModel } from './train/loop.js';
export { saveCheckpoint, loadCheckpoint, latestCheckpoint } from './train/checkpoint.js';
export { evaluate, type EvalResult } from './train/evaluate.js';
export { Rng } from './rng/hash.js';
export { architectureForWeights } from './io/weights.js';
export { readWeights } from './io/files.js';
export { parsePth } from './io/pth.js';
export { parseCaffeModel, caffeWeights } from './io/caffe.js';
export { encodeOnnx } from './io/onnx.js';
export { evaluateModels, loadTrainedModel, loadWeightsFile, predictTestSet, type EvalSummary, type PredictOptions } from './eval/models.js';
export { predictFiles, similarImages, type FilePrediction, type Similar } from './eval/predict.js';
export { extractFeatures, nearest } from './eval/features.js';
export { type Dataset } from './data/dataset.js';
export { openDataset } from './data/open.js';
export { Loader, type Batch, type LoaderOptions } from './data/loader.js';
export { feedBatch, batchOutputFor } from './train/feed.js';
export { WebGpuBackend, GpuError, type WebGpuOptions } from './backend/webgpu/index.js';
export { createWebGpuBackend, probeAdapter } from './backend/webgpu/dawn.js';
// GEMM tiles timed per problem on first use, cached per adapter (docs/webgpu.md).
export { tuneOnFirstUse, tileCachePath } from './backend/webgpu/tile_cache.js';
export { benchmark, type BenchOptions, type BenchResult } from './cli/bench.js';
// Inside the net: activations, top images per unit, occlusion, saliency, Grad-CAM, and their pictures (docs/explain.md).
export * from './explain/index.js';
export { jobFromFiles, jobFromInput, runExplain, runUnits, METHODS, type ExplainJob, type ExplainOptions, type ExplainSummary, type Method, type UnitsOptions } from './explain/files.js';
