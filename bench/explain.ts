// How long seeing inside the net takes on the CPU backend (docs/explain.md), one JSON line each:
//   node dist/bench/explain.js [--checkpoint RUN] [--threads N] [--only mini,paper,units]
// - mini: `alexnet explain --method all` on one Fashion-MNIST test image after loading (the
//   four methods and the PNGs written), median of 5 runs after one;
// - paper: occlusion on one random 227 x 227 image at patch 32, stride 8 (25 x 25 positions,
//   626 forward passes in batches of 32), one run after a warm-up forward pass;
// - units: `alexnet units` over the 10,000 Fashion-MNIST test images, conv5 of the mini net,
//   everything after loading the model (opening the data, one pass, the grid PNG).
// Random He-initialised weights unless --checkpoint names a mini run: the time does not depend
// on the values.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { trainingDataOf } from '../src/eval/predict.js';
import { loadTrainedModel, loadWeightsFile } from '../src/eval/models.js';
import { explainNet, occlusion } from '../src/explain/explain.js';
import { METHODS, runExplain, runUnits } from '../src/explain/files.js';
import { streamImages } from '../src/explain/inputs.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';

const { values } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    threads: { type: 'string', default: String(nodePoolHost.cores) },
    only: { type: 'string', default: 'mini,paper,units' },
  },
});
const only = values.only!.split(',');
const backend = new CpuBackend({ host: nodePoolHost, threads: Number(values.threads) });
await backend.start();
const dir = mkdtempSync(join(tmpdir(), 'alexnet-bench-explain-'));
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const common = { threads: backend.threads, device: backend.device, node: process.version };

async function randomModel(arch: string) {
  const net = new Net(new CpuBackend(), architecture(arch), 1, { trainableFrom: Infinity });
  net.initialize({ scheme: 'he', seed: 1 });
  const path = join(dir, `${arch}.safetensors`);
  writeFileSync(path, encodeSafetensors(await net.exportTensors()));
  return loadWeightsFile(path, arch, 'fashion-mnist');
}

const mini = values.checkpoint ? await loadTrainedModel(values.checkpoint) : await randomModel('mini');

if (only.includes('mini')) {
  const net = explainNet(backend, architecture('mini'), mini.weights, mini.weightsPath, 32);
  const data = await trainingDataOf(mini, backend, 1);
  const [image] = await streamImages(net, data.centreStream(data.sets.test, [0]), data.sets.test);
  await data.close();
  const job = { net, classes: mini.model.classes, images: [{ name: 'test0', input: image.input, pixels: image.pixels }] };
  const times: number[] = [];
  for (let run = 0; run < 6; run++) {
    const start = process.hrtime.bigint();
    await runExplain(job, { methods: METHODS, out: join(dir, 'explain') });
    if (run > 0) times.push(seconds(start));
  }
  console.log(JSON.stringify({ bench: 'explain --method all, mini, one image', seconds: median(times), runs: times, ...common }));
}

if (only.includes('paper')) {
  const arch = architecture('paper');
  const net = new Net(backend, arch, 32, { trainableFrom: Infinity });
  net.initialize({ scheme: 'paper', seed: 1 });
  const input = Float32Array.from({ length: 3 * 227 * 227 }, (_, i) => Math.sin(i) * 50);
  net.backend.write(net.input, input);
  net.forward(1, 'eval'); // warm-up
  const start = process.hrtime.bigint();
  const r = await occlusion(net, input, { patch: 32, stride: 8 });
  const s = seconds(start);
  console.log(JSON.stringify({ bench: 'occlusion, paper, patch 32 stride 8', seconds: s, positions: r.map.rows * r.map.cols, batch: 32, img_per_s: (r.map.rows * r.map.cols + 1) / s, ...common }));
}

if (only.includes('units')) {
  const start = process.hrtime.bigint();
  const t = await runUnits(mini, backend, { layer: 'conv5', k: 9, split: 'test', batch: 64, out: join(dir, 'units.png') });
  console.log(JSON.stringify({ bench: 'units, mini conv5, Fashion-MNIST test split', seconds: seconds(start), images: t.images, units: t.units.length, ...common }));
}
backend.dispose();
