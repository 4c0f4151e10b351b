// Caffe's .caffemodel: a binary NetParameter (caffe.proto) holding the layers in order, each
// with its type, its hyper-parameters and its learned blobs. Two layouts exist: `layer`
// (LayerParameter, string types, since 2015) and the legacy `layers` (V1LayerParameter, enum
// types, 4-D num/channels/height/width blobs), which is how bvlc_alexnet.caffemodel is stored.
// Weights are matched to an architecture layer by layer, in order, and every setting that
// changes what the net computes (kernel, stride, pad, group, LRN constants, pooling kind and
// rounding, ReLU slope) must agree with the architecture's: a model that differs is refused
// with the layer and both values named, never run with silently different settings.
import { lrnScale } from '../backend/cpu/lrn.js';
import { FormatError } from '../core/errors.js';
import { shapeString } from '../core/geometry.js';
import { parameterNames } from '../nn/architectures.js';
import type { Architecture, LayerSpec } from '../nn/layers.js';
import { ProtoMessage } from './protobuf.js';
import type { NamedTensor } from './safetensors.js';

// Field numbers, from BVLC caffe.proto.
const NET = { layers: 2, layer: 100 };
const LAYER = { name: 1, type: 2, blobs: 7, convolution: 106, innerProduct: 117, lrn: 118, pooling: 121, relu: 123 };
const V1 = { v0: 1, name: 4, type: 5, blobs: 6, convolution: 10, innerProduct: 17, lrn: 18, pooling: 19, relu: 30 };
const BLOB = { num: 1, channels: 2, height: 3, width: 4, data: 5, shape: 7, doubleData: 8, dim: 1 };
const CONV = { numOutput: 1, biasTerm: 2, pad: 3, kernel: 4, group: 5, stride: 6, padH: 9, padW: 10, kernelH: 11, kernelW: 12, strideH: 13, strideW: 14, dilation: 18 };
const INNER = { numOutput: 1, biasTerm: 2, transpose: 6 };
const LRN = { localSize: 1, alpha: 2, beta: 3, normRegion: 4, k: 5 };
const POOL = { pool: 1, kernel: 2, stride: 3, pad: 4, kernelH: 5, kernelW: 6, strideH: 7, strideW: 8, padH: 9, padW: 10, global: 12, roundMode: 13 };
/** V1LayerParameter.LayerType values of the layers an AlexNet model file holds. */
const V1_TYPES: Record<number, string> = {
  1: 'Accuracy', 4: 'Convolution', 5: 'Data', 6: 'Dropout', 8: 'Flatten', 9: 'HDF5Data', 12: 'ImageData', 14: 'InnerProduct',
  15: 'LRN', 17: 'Pooling', 18: 'ReLU', 20: 'Softmax', 21: 'SoftmaxWithLoss', 22: 'Split', 24: 'WindowData', 29: 'MemoryData',
  32: 'DummyData', 36: 'Silence',
};
/**
 * Layers that compute nothing at inference (inputs, losses, identities), or that our nets
 * apply implicitly (Flatten before fc6; Softmax after the logits we return).
 */
const PASSIVE = new Set([
  'Input', 'Data', 'HDF5Data', 'ImageData', 'WindowData', 'MemoryData', 'DummyData',
  'Accuracy', 'SoftmaxWithLoss', 'Softmax', 'Split', 'Silence', 'Dropout', 'Flatten',
]);

const MAX_LAYERS = 1024;
const MAX_BLOBS = 16;

export interface CaffeBlob {
  shape: number[];
  data: Float32Array;
}

/** Kernel, stride and pad as [height, width]. */
export interface CaffeWindow {
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
}

export interface CaffeLayer {
  name: string;
  type: string;
  blobs: CaffeBlob[];
  convolution?: CaffeWindow & { numOutput: number; group: number; biasTerm: boolean; dilation: number[] };
  innerProduct?: { numOutput: number; biasTerm: boolean; transpose: boolean };
  lrn?: { localSize: number; alpha: number; beta: number; k: number; acrossChannels: boolean };
  pooling?: CaffeWindow & { max: boolean; ceil: boolean; global: boolean };
  relu?: { negativeSlope: number };
}

/** A window's [h, w]: from the _h/_w fields if set, else the repeated field (one value or two). */
function pair(m: ProtoMessage, list: number, h: number, w: number, name: string, fallback: number): [number, number] {
  if (m.has(h) || m.has(w)) return [m.uint(h, `${name}_h`, fallback), m.uint(w, `${name}_w`, fallback)];
  const values = m.ints(list, name, 2);
  if (values.some((v) => v < 0)) m.fail(`negative value ${values}`, name);
  if (values.length === 0) return [fallback, fallback];
  return values.length === 1 ? [values[0], values[0]] : [values[0], values[1]];
}

function parseBlob(m: ProtoMessage): CaffeBlob {
  const data = m.has(BLOB.doubleData) ? m.floats(BLOB.doubleData, 'double_data', 8) : m.floats(BLOB.data, 'data');
  const shapeMessage = m.message(BLOB.shape, 'shape');
  const shape = shapeMessage
    ? shapeMessage.ints(BLOB.dim, 'dim', 8)
    : [m.int(BLOB.num, 'num', 0), m.int(BLOB.channels, 'channels', 0), m.int(BLOB.height, 'height', 0), m.int(BLOB.width, 'width', 0)];
  // Multiply step by step, stopping once past the data, so a huge shape can neither overflow
  // nor be believed.
  let count = shape.includes(0) ? 0 : 1;
  for (const d of shape) {
    if (d < 0) m.fail(`negative dimension in ${shapeString(shape)}`, 'shape');
    count *= d;
    if (count > data.length) break;
  }
  if (count !== data.length) m.fail(`shape ${shapeString(shape)} needs ${count > data.length ? 'more than ' : ''}${count} values, data holds ${data.length}`);
  return { shape, data };
}

function parseLayer(m: ProtoMessage, legacy: boolean): CaffeLayer {
  const f = legacy ? V1 : LAYER;
  if (legacy && m.has(V1.v0)) m.fail('V0 layer layout (pre-2014) is not supported; upgrade it with Caffe\'s upgrade_net_proto_binary');
  const typeCode = legacy ? m.uint(V1.type, 'type', 0) : 0;
  const type = legacy ? (V1_TYPES[typeCode] ?? `V1 type ${typeCode}`) : m.string(LAYER.type, 'type', '');
  const layer: CaffeLayer = { name: m.string(f.name, 'name', ''), type, blobs: m.messages(f.blobs, 'blobs', MAX_BLOBS).map(parseBlob) };
  const params = (field: number, name: string) => m.message(field, name) ?? ProtoMessage.decode(new Uint8Array(0), m.file, `${m.path}.${name}`);
  if (type === 'Convolution') {
    const p = params(f.convolution, 'convolution_param');
    layer.convolution = {
      numOutput: p.uint(CONV.numOutput, 'num_output', 0),
      biasTerm: p.bool(CONV.biasTerm, 'bias_term', true),
      kernel: pair(p, CONV.kernel, CONV.kernelH, CONV.kernelW, 'kernel', 0),
      stride: pair(p, CONV.stride, CONV.strideH, CONV.strideW, 'stride', 1),
      pad: pair(p, CONV.pad, CONV.padH, CONV.padW, 'pad', 0),
      group: p.uint(CONV.group, 'group', 1),
      dilation: p.ints(CONV.dilation, 'dilation', 3),
    };
  } else if (type === 'InnerProduct') {
    const p = params(f.innerProduct, 'inner_product_param');
    layer.innerProduct = {
      numOutput: p.uint(INNER.numOutput, 'num_output', 0),
      biasTerm: p.bool(INNER.biasTerm, 'bias_term', true),
      transpose: p.bool(INNER.transpose, 'transpose', false),
    };
  } else if (type === 'LRN') {
    const p = params(f.lrn, 'lrn_param');
    layer.lrn = {
      localSize: p.uint(LRN.localSize, 'local_size', 5),
      alpha: p.float(LRN.alpha, 'alpha', 1),
      beta: p.float(LRN.beta, 'beta', 0.75),
      k: p.float(LRN.k, 'k', 1),
      acrossChannels: p.uint(LRN.normRegion, 'norm_region', 0) === 0,
    };
  } else if (type === 'Pooling') {
    const p = params(f.pooling, 'pooling_param');
    layer.pooling = {
      max: p.uint(POOL.pool, 'pool', 0) === 0,
      kernel: pair(p, POOL.kernel, POOL.kernelH, POOL.kernelW, 'kernel_size', 0),
      stride: pair(p, POOL.stride, POOL.strideH, POOL.strideW, 'stride', 1),
      pad: pair(p, POOL.pad, POOL.padH, POOL.padW, 'pad', 0),
      ceil: p.uint(POOL.roundMode, 'round_mode', 0) === 0, // Caffe's default rounding is CEIL
      global: p.bool(POOL.global, 'global_pooling', false),
    };
  } else if (type === 'ReLU') {
    layer.relu = { negativeSlope: params(f.relu, 'relu_param').float(1, 'negative_slope', 0) };
  }
  return layer;
}

/** The layers of a .caffemodel, in either layout. */
export function parseCaffeModel(bytes: Uint8Array, file: string): CaffeLayer[] {
  const net = ProtoMessage.decode(bytes, file, 'NetParameter');
  const current = net.messages(NET.layer, 'layer', MAX_LAYERS);
  const legacy = net.messages(NET.layers, 'layers', MAX_LAYERS);
  if (current.length && legacy.length) net.fail('holds both `layer` and legacy `layers` entries');
  if (!current.length && !legacy.length) net.fail('no layers (is this a .caffemodel? a .prototxt is text, not supported)');
  return current.length ? current.map((m) => parseLayer(m, false)) : legacy.map((m) => parseLayer(m, true));
}

/** Caffe stores float32: compare to 1e-6 relative, and print 7 significant digits. */
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b));
const fmt = (x: number) => String(Number(x.toPrecision(7)));

function describeSpec(spec: LayerSpec): string {
  return 'name' in spec ? `${spec.kind} ${spec.name}` : spec.kind;
}

/**
 * Caffe nets read images as OpenCV loads them, BGR; ours (and torchvision's) read RGB. Reversing
 * the first convolution's input channels makes the model expect RGB like every other weight file.
 */
function bgrToRgb(weight: NamedTensor): NamedTensor {
  const [out, channels] = weight.shape;
  const plane = weight.data.length / (out * channels);
  const data = new Float32Array(weight.data.length);
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < channels; c++) {
      const from = (o * channels + (channels - 1 - c)) * plane;
      data.set(weight.data.subarray(from, from + plane), (o * channels + c) * plane);
    }
  }
  return { ...weight, data };
}

/**
 * The weights of `layers` under `arch`'s file names, after checking that the model computes
 * what `arch` does. Layers are paired in order, ignoring data, loss, dropout and flatten
 * layers on both sides (bvlc_alexnet's names, conv1 ... fc8, are ours too). Blob shapes are
 * left for Net.importTensors to check (the class count of fc8 may differ), except that legacy
 * 4-D blobs lose their leading 1s. A 3-channel first convolution is turned from BGR to RGB.
 */
export function caffeWeights(layers: CaffeLayer[], arch: Architecture, file: string): Map<string, NamedTensor> {
  const ours = arch.layers.filter((l) => l.kind !== 'flatten' && l.kind !== 'dropout');
  const theirs = layers.filter((l) => !PASSIVE.has(l.type));
  const out = new Map<string, NamedTensor>();
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    const spec = ours[i];
    const layer = theirs[i];
    if (!layer) throw new FormatError(file, `the model ends after ${theirs.length} layers; architecture ${arch.name} goes on with ${describeSpec(spec)}`);
    const where = `layer "${layer.name}" (${layer.type})`;
    const fail = (fault: string): never => {
      throw new FormatError(file, `${where}: ${fault}`);
    };
    if (!spec) fail(`architecture ${arch.name} has ended before it`);
    const differs = (what: string, found: unknown, expected: unknown) =>
      fail(`${what} ${found}, but architecture ${arch.name}'s ${describeSpec(spec)} has ${expected}`);
    const sameWindow = (w: CaffeWindow, kernel: number, stride: number, pad: number) => {
      for (const [what, found, expected] of [['kernel', w.kernel, kernel], ['stride', w.stride, stride], ['pad', w.pad, pad]] as const) {
        if (found[0] !== expected || found[1] !== expected) differs(what, found.join('x'), expected);
      }
    };
    /** Stores the layer's weight and bias under our names; returns the weight. */
    const takeBlobs = (specName: string, rank: number, numOutput: number): NamedTensor => {
      if (layer.blobs.length !== 2) fail(`expected 2 blobs (weights and bias), found ${layer.blobs.length}`);
      const names = parameterNames(arch, specName);
      for (const [blob, name, r] of [[layer.blobs[0], names.weight, rank], [layer.blobs[1], names.bias, 1]] as const) {
        const shape = [...blob.shape];
        while (shape.length > r && shape[0] === 1) shape.shift(); // legacy 4-D blobs: [1, 1, out, in]
        if (shape.length !== r) fail(`blob of shape ${shapeString(blob.shape)} cannot be a ${r}-D ${name}`);
        if (shape[0] !== numOutput) fail(`num_output ${numOutput}, but blob ${name} has shape ${shapeString(blob.shape)}`);
        out.set(name, { name, shape, data: blob.data });
      }
      return out.get(names.weight)!;
    };
    const expectType = (type: string) => {
      if (layer.type !== type) fail(`architecture ${arch.name} has ${describeSpec(spec)} here`);
    };
    switch (spec.kind) {
      case 'conv': {
        expectType('Convolution');
        const c = layer.convolution!;
        sameWindow(c, spec.kernel, spec.stride, spec.pad);
        if (c.group !== spec.groups) differs('group', c.group, `groups ${spec.groups}`);
        if (!c.biasTerm) fail('has no bias term');
        if (c.dilation.some((d) => d !== 1)) differs('dilation', c.dilation.join('x'), 1);
        const weight = takeBlobs(spec.name, 4, c.numOutput);
        if (spec === ours[0] && weight.shape[1] === 3) out.set(weight.name, bgrToRgb(weight));
        break;
      }
      case 'linear':
        expectType('InnerProduct');
        if (!layer.innerProduct!.biasTerm) fail('has no bias term');
        if (layer.innerProduct!.transpose) fail('stores its weights transposed (transpose: true), not supported');
        takeBlobs(spec.name, 2, layer.innerProduct!.numOutput);
        break;
      case 'relu':
        expectType('ReLU');
        if (layer.relu!.negativeSlope !== 0) differs('negative_slope', fmt(layer.relu!.negativeSlope), 0);
        break;
      case 'lrn': {
        expectType('LRN');
        const n = layer.lrn!;
        const p = spec.params;
        if (!n.acrossChannels) fail('normalises within channels, not across them');
        // Caffe divides alpha by local_size; compare the coefficients actually applied.
        if (n.localSize !== p.size || !close(n.alpha / n.localSize, lrnScale(p)) || !close(n.beta, p.beta) || !close(n.k, p.k)) {
          const ourAlpha = p.alphaDividedBySize ? `alpha ${p.alpha} divided by size` : `alpha ${p.alpha} not divided by size`;
          const found = `local_size ${n.localSize}, alpha ${fmt(n.alpha)} (divided by local_size), beta ${fmt(n.beta)}, k ${fmt(n.k)}`;
          fail(`${found} computes a different LRN than architecture ${arch.name}'s (size ${p.size}, ${ourAlpha}, beta ${p.beta}, k ${p.k})`);
        }
        break;
      }
      case 'maxpool': {
        expectType('Pooling');
        const pool = layer.pooling!;
        if (!pool.max || pool.global) fail(`is ${pool.global ? 'global' : 'average'} pooling, but architecture ${arch.name} has a max-pool here`);
        sameWindow(pool, spec.size, spec.stride, 0);
        const rounding = pool.ceil ? 'ceil' : 'floor';
        if (rounding !== spec.rounding) differs('round_mode', rounding, `rounding ${spec.rounding}`);
        break;
      }
      case 'adaptiveavgpool':
        fail(`architecture ${arch.name} has an adaptive average pool here, which Caffe models do not have`);
    }
  }
  return out;
}
