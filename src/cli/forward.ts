// `alexnet forward`: logits for a batch of images given as a safetensors tensor.
import type { Backend } from '../backend/backend.js';
import { FormatError } from '../core/errors.js';
import { product, shapeString } from '../core/geometry.js';
import { readSafetensors, readWeights, writeSafetensors } from '../io/files.js';
import { checkOutputFile } from '../io/outputs.js';
import { architectureForWeights } from '../io/weights.js';
import { architecture, parameterNames } from '../nn/architectures.js';
import { Net } from '../nn/net.js';

export interface ForwardOptions {
  arch: string;
  weights: string;
  input: string;
  output: string;
  batch: number;
}

export async function runForward(o: ForwardOptions, backend: Backend): Promise<{ n: number; classes: number }> {
  await checkOutputFile('--output', o.output, { inputs: [o.input, o.weights] });
  const { tensors: inputs } = await readSafetensors(o.input);
  const x = inputs.get('input');
  if (!x) throw new FormatError(o.input, `missing tensor "input" (expected f32 [N, C, H, W]); found ${[...inputs.keys()].join(', ') || 'no tensors'}`);
  if (x.shape.length !== 4) throw new FormatError(o.input, `tensor "input": expected 4 dimensions [N, C, H, W], found ${shapeString(x.shape)}`);
  const [N, C, H, W] = x.shape;
  const weights = await readWeights(o.weights, o.arch);
  // The input must fit the weights: a mismatch is the input's fault, said before building a net.
  const conv1 = weights.get(parameterNames(architecture(o.arch), 'conv1').weight);
  if (conv1 && conv1.shape[1] !== C) {
    throw new FormatError(o.input, `tensor "input" has ${C} channels, but the ${o.arch} weights in ${o.weights} take ${conv1.shape[1]} (conv1 weight ${shapeString(conv1.shape)})`);
  }
  const arch = architecture(o.arch, [C, H, W], architectureForWeights(o.arch, weights).classes);
  const batch = Math.min(o.batch, N);
  const net = new Net(backend, arch, batch);
  net.importTensors(weights, o.weights);
  const perImage = product([C, H, W]);
  const logits = new Float32Array(N * arch.classes);
  for (let start = 0; start < N; start += batch) {
    const count = Math.min(batch, N - start);
    backend.write(net.input, x.data.subarray(start * perImage, (start + count) * perImage));
    net.forward(count, 'eval');
    logits.set(await net.readLogits(count), start * arch.classes);
  }
  await writeSafetensors(o.output, [{ name: 'logits', shape: [N, arch.classes], data: logits }], { arch: arch.name });
  return { n: N, classes: arch.classes };
}
