// `alexnet forward`: logits for a batch of images given as a safetensors tensor.
import type { Backend } from '../backend/backend.js';
import { product } from '../core/geometry.js';
import { readInputBatch, readWeights, writeSafetensors } from '../io/files.js';
import { checkOutputFile } from '../io/outputs.js';
import { architectureForInput } from '../io/weights.js';
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
  const x = await readInputBatch(o.input);
  const [N, C, H, W] = x.shape;
  const weights = await readWeights(o.weights, o.arch);
  const arch = architectureForInput(o.arch, weights, o.weights, [C, H, W], o.input);
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
