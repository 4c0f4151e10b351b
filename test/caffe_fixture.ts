// A .caffemodel written here, with our protobuf writer and field numbers taken from caffe.proto
// independently of src/io/caffe.ts, laid out as bvlc_alexnet is (data, conv1 relu1 norm1 pool1,
// ..., fc8, prob), in the `layer` or the legacy `layers` (V1, 4-D blobs) layout: the fixture of
// the Caffe import tests and of fine-tuning from a .caffemodel.
import { ProtoWriter } from '../src/io/protobuf.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import type { Architecture } from '../src/nn/layers.js';

/** A layer as the fixture describes it, before encoding; tests alter these to make bad models. */
export interface Desc {
  name: string;
  type: string;
  blobs: NamedTensor[];
  conv?: { num: number; kernel: number; stride: number; pad: number; group: number };
  lrn?: { size: number; alpha: number; beta: number; k?: number };
  pool?: { kernel: number; stride: number; floor: boolean };
  ip?: { num: number };
}

/** The layers of `arch` named as bvlc_alexnet names them (relu1, norm1, pool1, ..., drop7). */
export function describe(arch: Architecture, tensors: NamedTensor[]): Desc[] {
  const out: Desc[] = [{ name: 'data', type: 'Input', blobs: [] }];
  const params = [...tensors];
  let n = '';
  for (const s of arch.layers) {
    if (s.kind === 'conv' || s.kind === 'linear') {
      n = s.name.replace(/\D/g, '');
      const blobs = params.splice(0, 2);
      if (s.kind === 'conv') out.push({ name: s.name, type: 'Convolution', blobs, conv: { num: s.outChannels, kernel: s.kernel, stride: s.stride, pad: s.pad, group: s.groups } });
      else out.push({ name: s.name, type: 'InnerProduct', blobs, ip: { num: s.outFeatures } });
    } else if (s.kind === 'relu') out.push({ name: `relu${n}`, type: 'ReLU', blobs: [] });
    else if (s.kind === 'lrn') {
      // Caffe always divides alpha by local_size; k is left at its default (1) where it is 1.
      const p = s.params;
      out.push({ name: `norm${n}`, type: 'LRN', blobs: [], lrn: { size: p.size, alpha: p.alphaDividedBySize ? p.alpha : p.alpha * p.size, beta: p.beta, k: p.k === 1 ? undefined : p.k } });
    } else if (s.kind === 'maxpool') out.push({ name: `pool${n}`, type: 'Pooling', blobs: [], pool: { kernel: s.size, stride: s.stride, floor: s.rounding === 'floor' } });
    else if (s.kind === 'dropout') out.push({ name: `drop${n}`, type: 'Dropout', blobs: [] });
  }
  out.push({ name: 'prob', type: 'Softmax', blobs: [] });
  return out;
}

// caffe.proto: NetParameter.layer 100 (LayerParameter) or .layers 2 (V1LayerParameter).
const V1_TYPE: Record<string, number> = { Input: 5, Convolution: 4, ReLU: 18, LRN: 15, Pooling: 17, InnerProduct: 14, Dropout: 6, Softmax: 20 };
const PARAM_FIELD: Record<string, [layer: number, v1: number]> = {
  conv: [106, 10], lrn: [118, 18], pool: [121, 19], ip: [117, 17],
};

export function encode(layers: Desc[], legacy: boolean): Uint8Array {
  const net = new ProtoWriter();
  for (const d of layers) {
    const w = new ProtoWriter();
    if (legacy) w.string(4, d.name).varint(5, V1_TYPE[d.type]); // V1: name 4, type 5 (enum)
    else w.string(1, d.name).string(2, d.type); // name 1, type 2
    for (const t of d.blobs) {
      const b = new ProtoWriter(); // BlobProto: num 1, channels 2, height 3, width 4, data 5, shape 7 (BlobShape.dim 1)
      if (legacy) {
        const [num, channels, height, width] = [1, 1, 1, 1, ...t.shape].slice(-4);
        b.varint(1, num).varint(2, channels).varint(3, height).varint(4, width);
      } else b.message(7, new ProtoWriter().packedVarints(1, t.shape));
      w.message(legacy ? 6 : 7, b.packedFloats(5, t.data)); // blobs: V1 6, LayerParameter 7
    }
    const param = (key: string, p: ProtoWriter) => w.message(PARAM_FIELD[key][legacy ? 1 : 0], p);
    // ConvolutionParameter: num_output 1, pad 3, kernel_size 4, group 5, stride 6.
    if (d.conv) param('conv', new ProtoWriter().varint(1, d.conv.num).varint(4, d.conv.kernel).varint(6, d.conv.stride).varint(3, d.conv.pad).varint(5, d.conv.group));
    if (d.lrn) { // LRNParameter: local_size 1, alpha 2, beta 3, k 5.
      const p = new ProtoWriter().varint(1, d.lrn.size).float(2, d.lrn.alpha).float(3, d.lrn.beta);
      param('lrn', d.lrn.k === undefined ? p : p.float(5, d.lrn.k));
    }
    if (d.pool) { // PoolingParameter: pool 1 (MAX 0), kernel_size 2, stride 3, round_mode 13 (CEIL 0, FLOOR 1).
      const p = new ProtoWriter().varint(1, 0).varint(2, d.pool.kernel).varint(3, d.pool.stride);
      param('pool', d.pool.floor ? p.varint(13, 1) : p);
    }
    if (d.ip) param('ip', new ProtoWriter().varint(1, d.ip.num)); // InnerProductParameter: num_output 1
    net.message(legacy ? 2 : 100, w);
  }
  return net.finish();
}

