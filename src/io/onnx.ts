// ONNX export (opset 13) of any architecture with its weights, written with our protobuf
// writer from onnx.proto's field numbers. The graph is the inference net: input "input"
// [N, C, H, W] with a symbolic batch N, outputs "logits" and "probabilities" (softmax)
// [N, classes], weights as initializers. Dropout is the identity at inference and is left
// out; torchvision's adaptive average pool is left out where it is the identity (6x6 in,
// 6x6 out) and refused otherwise.
import { UsageError } from '../core/errors.js';
import type { Architecture } from '../nn/layers.js';
import { planLayers } from '../nn/plan.js';
import { ProtoWriter } from './protobuf.js';
import type { NamedTensor } from './safetensors.js';
import { parameterNames } from '../nn/architectures.js';

const IR_VERSION = 7; // the IR of opset 13
const OPSET = 13;
const FLOAT = 1; // TensorProto.DataType
const ATTRIBUTE = { FLOAT: 1, INT: 2, INTS: 7 }; // AttributeProto.AttributeType

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type Attribute = [name: string, value: number | number[], type?: 'float'];

function attribute([name, value, type]: Attribute): ProtoWriter {
  // AttributeProto: name 1, f 2, i 3, ints 8, type 20.
  const a = new ProtoWriter().string(1, name);
  if (Array.isArray(value)) return a.varints(8, value).varint(20, ATTRIBUTE.INTS);
  if (type === 'float') return a.float(2, value).varint(20, ATTRIBUTE.FLOAT);
  return a.varint(3, value).varint(20, ATTRIBUTE.INT);
}

function node(op: string, name: string, inputs: string[], output: string, attributes: Attribute[] = []): ProtoWriter {
  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
  const n = new ProtoWriter();
  for (const i of inputs) n.string(1, i);
  n.string(2, output).string(3, name).string(4, op);
  for (const a of attributes) n.message(5, attribute(a));
  return n;
}

/** A float tensor's ValueInfoProto; string dimensions are symbolic. */
function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter(); // TensorShapeProto: dim 1 (dim_value 1, dim_param 2)
  for (const d of dims) shape.message(1, typeof d === 'string' ? new ProtoWriter().string(2, d) : new ProtoWriter().varint(1, d));
  const tensorType = new ProtoWriter().varint(1, FLOAT).message(2, shape); // elem_type 1, shape 2
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType)); // name 1, type 2 (tensor_type 1)
}

function initializer(t: NamedTensor): ProtoWriter {
  // TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian).
  let raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!LITTLE_ENDIAN_HOST) {
    raw = new Uint8Array(t.data.byteLength);
    const view = new DataView(raw.buffer);
    t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  }
  return new ProtoWriter().varints(1, t.shape).varint(2, FLOAT).string(8, t.name).bytes(9, raw);
}

/**
 * The ONNX model of `arch` with `weights` (selectWeights' list) as its initializers. The
 * LRN's alpha is written divided by size, as ONNX defines it: the paper's 1e-4 becomes 5e-4.
 */
export function encodeOnnx(arch: Architecture, weights: NamedTensor[]): Uint8Array {
  const graph = new ProtoWriter().string(2, arch.name); // GraphProto: node 1, name 2, initializer 5, input 11, output 12
  const nodes: ProtoWriter[] = [];
  let current = 'input';
  const refuse = (what: string, why: string): never => {
    throw new UsageError(`cannot export ${arch.name} to ONNX: ${what} ${why}`);
  };
  for (const l of planLayers(arch)) {
    const s = l.spec;
    const out = 'name' in s ? s.name : `${s.kind}${l.index}`;
    switch (s.kind) {
      case 'conv': {
        const p = parameterNames(arch, s.name);
        nodes.push(node('Conv', out, [current, p.weight, p.bias], out, [
          ['kernel_shape', [s.kernel, s.kernel]], ['strides', [s.stride, s.stride]], ['pads', [s.pad, s.pad, s.pad, s.pad]], ['group', s.groups],
        ]));
        break;
      }
      case 'linear': {
        const p = parameterNames(arch, s.name);
        nodes.push(node('Gemm', out, [current, p.weight, p.bias], out, [['transB', 1]]));
        break;
      }
      case 'relu':
        nodes.push(node('Relu', out, [current], out));
        break;
      case 'lrn': {
        const p = s.params;
        // ONNX's window is [c - floor((n-1)/2), c + ceil((n-1)/2)], ours [c - floor(n/2), c + floor((n-1)/2)]: equal for odd n only.
        if (p.size % 2 === 0) refuse(`LRN of even size ${p.size}`, 'centres its window differently in ONNX');
        const alpha = p.alphaDividedBySize ? p.alpha : p.alpha * p.size;
        nodes.push(node('LRN', out, [current], out, [['size', p.size], ['alpha', alpha, 'float'], ['beta', p.beta, 'float'], ['bias', p.k, 'float']]));
        break;
      }
      case 'maxpool':
        nodes.push(node('MaxPool', out, [current], out, [
          ['kernel_shape', [s.size, s.size]], ['strides', [s.stride, s.stride]], ['pads', [0, 0, 0, 0]], ['ceil_mode', s.rounding === 'ceil' ? 1 : 0],
        ]));
        break;
      case 'adaptiveavgpool':
        if (l.inShape[1] !== s.outSize || l.inShape[2] !== s.outSize) {
          refuse(`adaptive average pooling from ${l.inShape[1]}x${l.inShape[2]} to ${s.outSize}x${s.outSize}`, 'is only exported where it is the identity (use the default input size)');
        }
        continue; // the identity
      case 'dropout':
        continue; // the identity at inference
      case 'flatten':
        nodes.push(node('Flatten', out, [current], out, [['axis', 1]]));
        break;
    }
    current = out;
  }
  nodes.push(node('Identity', 'logits', [current], 'logits'));
  nodes.push(node('Softmax', 'probabilities', ['logits'], 'probabilities', [['axis', 1]]));
  for (const n of nodes) graph.message(1, n);
  for (const t of weights) graph.message(5, initializer(t));
  graph.message(11, valueInfo('input', ['N', ...arch.input]));
  graph.message(12, valueInfo('logits', ['N', arch.classes]));
  graph.message(12, valueInfo('probabilities', ['N', arch.classes]));
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (version 2).
  return new ProtoWriter()
    .varint(1, IR_VERSION)
    .string(2, 'alexnet-ts')
    .message(7, graph)
    .message(8, new ProtoWriter().varint(2, OPSET))
    .finish();
}
