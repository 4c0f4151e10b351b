// Data pipeline throughput, as JSON lines:
//   node dist/bench/data.js [--images 256] [--seconds 3] [--workers 0,1,2]
// 1. JPEG decode + resize (shorter side 256, centre crop) of generated 500x375 photos-like JPEGs
//    (ImageNet's typical size), at several decodes in flight; then `prepare` of the same files
//    into a shard cache (decode + write).
// 2. Augmented 227x227 crops per second from that cache (batch 128, the paper's training
//    augmentation), float32 output (everything on the CPU) and uint8 output (stored images and
//    crop parameters; cropping, mirroring, mean and lighting left to the device), for each
//    worker count.
// 3. The device side of the uint8 path: those batches uploaded and cropped, mirrored and
//    normalised by the WebGPU backend's writeCrops (when an adapter exists; on llvmpipe this is
//    the CPU emulating a GPU), end to end from the loader, and the upload + kernel alone.
// 4. The single-thread cost of each step: reading a record; cropping, mirroring, normalising.
// Nothing else heavy should run meanwhile: the figures are per machine, not per test.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { nodeLoaderThread } from '../src/data/loader_node.js';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createWebGpuBackend } from '../src/backend/webgpu/dawn.js';
import { augmentInto, cropGeometry, lightingColour, makePlan, trainDraw } from '../src/data/augment.js';
import { openDataset } from '../src/data/open.js';
import { decodeInOrder } from '../src/data/decode.js';
import { Loader } from '../src/data/loader.js';
import { prepareCache } from '../src/data/prepare.js';
import { Rng } from '../src/rng/hash.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '0,1,2' },
  },
});
const IMAGES = Number(values.images);
const SECONDS = Number(values.seconds);
const machine = { cpu: cpus()[0]?.model, threads: availableParallelism(), node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips };
const emit = (record: object) => console.log(JSON.stringify({ ...record, ...machine }));

/** A 500x375 JPEG with smooth colour fields and noise, roughly a photo's size and entropy. */
async function photo(path: string, seed: number): Promise<void> {
  const W = 500;
  const H = 375;
  const rng = new Rng(seed);
  const f = [rng.uniform(), rng.uniform(), rng.uniform()].map((v) => 0.005 + 0.03 * v);
  const raw = Buffer.alloc(W * H * 3);
  for (let y = 0, k = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++, k++) raw[k] = Math.max(0, Math.min(255, 128 + 90 * Math.sin(f[c] * x + f[(c + 1) % 3] * y + c) + 30 * (rng.uniform() - 0.5)));
    }
  }
  await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
}

/**
 * Calls `step` (which handles `n` images) until `SECONDS` have passed. Images per second of wall
 * time, and per second of this process's CPU time (all its threads, libvips' included): the
 * second is what the code costs even when other work shares the cores, as it often does here.
 */
async function rate(n: number, step: () => Promise<void> | void): Promise<{ img_per_s: number; img_per_cpu_s: number; load: number }> {
  await step(); // warm-up
  let images = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await step();
    images += n;
  }
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { img_per_s: Math.round(images / wall), img_per_cpu_s: Math.round(images / ((used.user + used.system) / 1e6)), load: loadavg()[0] };
}

const root = await mkdtemp(join(tmpdir(), 'alexnet-bench-data-'));
try {
  const files: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const dir = join(root, 'photos', `class${i % 4}`);
    await mkdir(dir, { recursive: true });
    files.push(join(dir, `${String(i).padStart(5, '0')}.jpg`));
    await photo(files[i], i + 1);
  }

  for (const inFlight of [1, 2, 4]) {
    const r = await rate(files.length, () => decodeInOrder(files, 256, inFlight, () => {}));
    emit({ bench: 'jpeg_decode_resize', source: '500x375 q90', side: 256, in_flight: inFlight, ...r });
  }
  const cache = join(root, 'cache');
  const started = performance.now();
  await prepareCache(`folder:${join(root, 'photos')}`, cache, { imagesPerShard: 128 });
  emit({ bench: 'prepare', images: IMAGES, img_per_s: Math.round(IMAGES / ((performance.now() - started) / 1000)), load: loadavg()[0] });

  const data = await openDataset(`cache:${cache}`);
  const batch = 128;
  for (const output of ['float32', 'uint8'] as const) {
    for (const workers of values.workers!.split(',').map(Number)) {
      const loader = new Loader(data.train, data.stats, { batch, seed: 1, mode: 'train', crop: 227, workers, output });
      let epoch = 0;
      const r = await rate(loader.batchesPerEpoch * batch, async () => {
        for await (const b of loader.epoch(epoch++)) void b;
      });
      await loader.close();
      emit({ bench: 'augmented_crops', crop: 227, batch, output, workers, ...r });
    }
  }

  const gpu = await createWebGpuBackend();
  if (gpu) {
    const out = gpu.allocate('crops', batch * 3 * 227 * 227);
    const mean = gpu.allocate('mean image', 3 * 256 * 256);
    const loader = new Loader(data.train, data.stats, { batch, seed: 1, mode: 'train', crop: 227, workers: 1, output: 'uint8', startThread: nodeLoaderThread });
    gpu.write(mean, loader.plan.mean);
    let epoch = 0;
    const device = { device: gpu.device, fallback: gpu.adapter.fallback };
    const endToEnd = await rate(loader.batchesPerEpoch * batch, async () => {
      for await (const b of loader.epoch(epoch++)) gpu.writeCrops(cropGeometry(loader.plan, b.count), b.pixels, b.params, mean, out);
      await gpu.synchronize();
    });
    emit({ bench: 'device_crops', crop: 227, batch, from: 'loader, 1 worker', ...device, ...endToEnd });
    const first = (await loader.epoch(0).next()).value!;
    const pixels = first.pixels.slice();
    const params = first.params.slice();
    await loader.close();
    // The first batch may be short: with few --images the training set (after the hold-out) is
    // smaller than a batch.
    const kernel = await rate(first.count, async () => {
      gpu.writeCrops(cropGeometry(loader.plan, first.count), pixels, params, mean, out);
      await gpu.synchronize();
    });
    emit({ bench: 'device_crops', crop: 227, batch, from: 'one batch, upload + kernel', ...device, ...kernel });
    gpu.dispose();
  }

  // Single-thread cost per image of each step.
  const plan = makePlan(data.train.shape, data.stats, { mode: 'train', seed: 1 });
  const image = new Uint8Array(3 * 256 * 256);
  const out = new Float32Array(3 * 227 * 227);
  const n = data.train.count;
  const steps = {
    read_record: () => {
      for (let i = 0; i < n; i++) data.train.readImage(i, image);
    },
    crop_mirror_normalize: () => {
      for (let i = 0; i < n; i++) {
        const d = trainDraw(plan, 0, i);
        augmentInto(image, 0, plan, d.view, lightingColour(plan, d.alpha), out, 0);
      }
    },
  };
  for (const [step, f] of Object.entries(steps)) emit({ bench: 'step_one_thread', step, ...(await rate(n, f)) });
  data.train.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
