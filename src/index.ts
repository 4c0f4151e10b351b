// The typed library: build a net, load weights, train and run it, from Node.
export * from './core/errors.js';
export * from './core/geometry.js';
export type { Backend, Tensor } from './backend/backend.js';
export { CpuBackend, type CpuOptions } from './backend/cpu/index.js';
export { selectBackend, type BackendChoice } from './backend/select.js';
export type { LrnParams } from './backend/cpu/lrn.js';
export type { SgdParams, SgdForm } from './backend/cpu/sgd.js';
export { architecture, ARCHITECTURE_NAMES, paperFamily, PAPER_LRN, CAFFE_LRN } from './nn/architectures.js';
export type { Architecture, LayerSpec, InitScheme } from './nn/layers.js';
export { Net, type Parameter } from './nn/net.js';
export { planLayers, forwardMacs } from './nn/plan.js';
export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors, type NamedTensor } from './io/safetensors.js';
export { readIdx, parseIdx } from './data/idx.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, type ImageSet } from './data/fashion_mnist.js';
export { loadData } from './data/source.js';
export { train, saveWeights, type TrainConfig, type TrainEvent } from './train/trainer.js';
export { evaluate, type EvalResult } from './train/evaluate.js';
export { Rng } from './rng/hash.js';
