// The explain library (src/explain/) on small nets, each method against an independent
// computation: topImages against a brute force that keeps every activation (ties included) and
// within a memory bound over 20,000 images; occlusion against one occluded copy at a time;
// Grad-CAM and saliency against Float64 finite differences; the receptive box against
// perturbations outside it; images as inputs; the pictures' sizes and where their heat is; and
// every method on WebGPU against the CPU. PyTorch on the full-size nets: test/explain_torch.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import sharp from 'sharp';
import { CpuBackend, cpuData } from '../src/backend/cpu/index.js';
import { softmax } from '../src/backend/cpu/loss.js';
import { product } from '../src/core/geometry.js';
import { MemoryDataset, type Dataset } from '../src/data/dataset.js';
import { Loader } from '../src/data/loader.js';
import { computeStats } from '../src/data/stats.js';
import { activations, gradCam, occlusion, saliency, topImages } from '../src/explain/explain.js';
import { streamImages } from '../src/explain/inputs.js';
import { receptiveBox, receptiveField } from '../src/explain/receptive.js';
import { featureMapGrid, heatColour, heatMapOverlay, pictureToPng, sampleMap, topImagesGrid, upsample } from '../src/explain/render.js';
import { architecture, paperFamily } from '../src/nn/architectures.js';
import type { Architecture } from '../src/nn/layers.js';
import { Net } from '../src/nn/net.js';
import { planLayers } from '../src/nn/plan.js';
import { feedBatch } from '../src/train/feed.js';
import { Rng } from '../src/rng/hash.js';
import { assertClose, micro, numericGradient, randomArray } from './helpers.js';
import { assertNear, gpu, skip } from './webgpu_harness.js';

/** A net that holds values only, He-initialised. */
function valuesNet(backend: CpuBackend | NonNullable<typeof gpu>, arch: Architecture, batch: number, seed = 3): Net {
  const net = new Net(backend, arch, batch, { trainableFrom: Infinity });
  net.initialize({ scheme: 'he', seed });
  return net;
}

const image = (arch: Architecture, seed: number) => Float32Array.from(randomArray(product(arch.input), seed));

/** `n` random images of `shape`; image i >= n - copies is a copy of image i - (n - copies) (ties). */
function synthetic(n: number, shape: [number, number, number], copies = 0, seed = 5): MemoryDataset {
  const size = product(shape);
  const images = new Uint8Array(n * size);
  const rng = new Rng(seed);
  for (let i = 0; i < (n - copies) * size; i++) images[i] = Math.floor(rng.uniform() * 256);
  images.copyWithin((n - copies) * size, 0, copies * size);
  return new MemoryDataset('synthetic', 'test', shape, ['a', 'b', 'c'], ['a', 'b', 'c'], images, Int32Array.from({ length: n }, (_, i) => i % 3));
}

const centreStream = (set: Dataset, batch: number, indices?: number[], stats = computeStats(set)) =>
  new Loader(set, stats, { mode: 'centre', crop: set.shape[1], batch, seed: 1, scale: 1 / 64, workers: 0, indices });

test('topImages equals a brute force that keeps every activation: strongest first, ties in stream order, boxes', async () => {
  const net = valuesNet(new CpuBackend(), micro, 8);
  const set = synthetic(60, [3, 15, 15], 20);
  const order = Array.from({ length: 60 }, (_, i) => i);
  new Rng(9).shuffle(order); // stream order is not index order
  for (const [layer, units, k] of [['conv5', undefined, 9], ['conv2', [5, 0, 3], 4], ['fc7', [1, 4], 3]] as const) {
    const got = await topImages(net, centreStream(set, 8, order), layer, { units, k });
    // Brute force: every image's activations, the largest per unit (first in scan order), sorted.
    const l = net.layers.find((x) => 'name' in x.spec && x.spec.name === layer)!;
    const [K, h = 1, w = 1] = l.outShape;
    const all: { image: number; stream: number; acts: Float32Array }[] = [];
    const stream = centreStream(set, 8, order);
    for await (const b of stream.epoch(0)) {
      feedBatch(net, stream.plan, b);
      net.forward(b.count, 'eval');
      const out = await net.backend.read(l.output, b.count * K * h * w);
      for (let i = 0; i < b.count; i++) all.push({ image: b.indices[i], stream: all.length, acts: out.slice(i * K * h * w, (i + 1) * K * h * w) });
    }
    const wanted = units ?? Array.from({ length: K }, (_, u) => u);
    assert.deepEqual(got.units, wanted);
    assert.equal(got.images, 60);
    let ties = 0;
    wanted.forEach((u, j) => {
      const scored = all.map((a) => {
        const plane = a.acts.subarray(u * h * w, (u + 1) * h * w);
        const at = plane.indexOf(Math.max(...plane));
        return { image: a.image, stream: a.stream, value: plane[at], y: Math.floor(at / w), x: at % w };
      });
      scored.sort((a, b) => b.value - a.value || a.stream - b.stream);
      const expected = scored.slice(0, k).map(({ image, value, y, x }) => ({ image, value, y, x, box: h > 1 || w > 1 ? receptiveBox(net.layers, l.index, y, x) : null }));
      assert.deepEqual(got.top[j], expected, `${layer} unit ${u}`);
      ties += expected.filter((e, i) => i > 0 && e.value === expected[i - 1].value).length;
    });
    assert.ok(ties > 0, `${layer}: the copies tie, so the order of equal activations is tested`);
  }
});

test('topImages streams 20,000 images in bounded memory: k per unit, never the split\'s activations', async () => {
  // conv5 gives 128 x 3 x 3 floats per image: 92 MB for the split, were they kept.
  const arch = paperFamily({
    name: 'probe', input: [1, 16, 16], classes: 4, conv: [8, 16, 16, 16, 128], conv1Kernel: 3, conv1Stride: 1, conv1Pad: 1, conv2Kernel: 3,
    hidden: 8, lrn: null, groups: 1, rounding: 'floor', dropout: 0.5, convBiasInit: 0.1, fcBiasInit: 0.1,
  });
  const net = valuesNet(new CpuBackend(), arch, 100);
  const set = synthetic(20_000, [1, 16, 16]);
  const split = 20_000 * 128 * 9 * 4;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const samples: number[] = [];
  // Memory is sampled as the loader reads every 1,000th image.
  const watched: Dataset = Object.assign(Object.create(set), {
    readImage: (i: number, out: Uint8Array) => {
      if (i % 1000 === 0) samples.push(used());
      set.readImage(i, out);
    },
  });
  const stream = centreStream(watched, 100, undefined, computeStats(set));
  const before = used();
  const t = await topImages(net, stream, 'conv5', { k: 9 });
  assert.equal(t.images, 20_000);
  assert.equal(t.top.length, 128);
  const peak = Math.max(...samples) - before;
  const growth = samples.at(-1)! - samples[2];
  console.log(JSON.stringify({ samples: samples.length, peak_mb: peak / 2 ** 20, growth_after_2000_mb: growth / 2 ** 20, split_activations_mb: split / 2 ** 20 }));
  assert.equal(samples.length, 20);
  assert.ok(peak < split / 20, `peak ${peak} bytes over the start: more than a twentieth of the split's activations (${split})`);
  // Keeping the activations (or every image's score per unit) would grow by ~78 MB over these
  // 17,000 images; the collector's own noise is about 1 MB.
  assert.ok(growth < split / 20, `memory grew ${growth} bytes from image 2,000 to image 19,000: more than a twentieth of the split's activations`);
});

test('occlusion: batched copies equal one occluded copy at a time, at stride steps from the corner, with the fill asked for', async () => {
  const batched = valuesNet(new CpuBackend(), micro, 4);
  const single = valuesNet(new CpuBackend(), micro, 1);
  const x = image(micro, 6);
  const [C, H, W] = micro.input;
  for (const [patch, stride, fill] of [[4, 3, 0.5], [5, 3, 0], [15, 1, -1]] as const) {
    const r = await occlusion(batched, x, { patch, stride, fill });
    const rows = Math.floor((H - patch) / stride) + 1;
    assert.deepEqual([r.map.rows, r.map.cols, r.patch, r.stride, r.fill], [rows, rows, patch, stride, fill]);
    const probability = async (input: Float32Array) => {
      single.backend.write(single.input, input);
      single.forward(1, 'eval');
      const p = Float64Array.from(await single.readLogits(1));
      softmax(1, 3, p, p);
      return p[r.class];
    };
    const base = await probability(x);
    assert.ok(Math.abs(base - r.probability) < 1e-7);
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < rows; col++) {
        const copy = x.slice();
        for (let c = 0; c < C; c++) for (let y = row * stride; y < row * stride + patch; y++) for (let z = col * stride; z < col * stride + patch; z++) copy[(c * H + y) * W + z] = fill;
        const want = base - (await probability(copy));
        assert.ok(Math.abs(r.map.data[row * rows + col] - want) < 1e-6, `patch ${patch} stride ${stride}: position (${row}, ${col}): ${r.map.data[row * rows + col]} vs ${want}`);
      }
    }
    assert.ok(r.map.data.some((v) => Math.abs(v) > 1e-3), 'the square moves the probability');
  }
});

test('Grad-CAM and saliency equal their definitions over Float64 finite differences; the ReLU zeroes cells', async () => {
  const net = valuesNet(new CpuBackend({ float64: true }), micro, 1, 8);
  const x = image(micro, 2);
  const conv5 = net.layers.find((l) => 'name' in l.spec && l.spec.name === 'conv5')!;
  const after = conv5.index + 2; // the pool after conv5's ReLU reads A
  const [K, h, w] = conv5.outShape;
  let zeroed = 0;
  for (let c = 0; c < micro.classes; c++) {
    const cam = await gradCam(net, x, { class: c });
    const [a] = await activations(net, x, ['conv5']);
    const A = cpuData(net.inputOf(after)) as Float64Array;
    const logit = () => {
      net.forward(1, 'eval', 0, 0, 0, after);
      return cpuData(net.logits)[c];
    };
    const dA = numericGradient(logit, A.subarray(0, K * h * w));
    const pre = Array.from({ length: h * w }, (_, i) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += (dA.subarray(k * h * w, (k + 1) * h * w).reduce((t, g) => t + g, 0) / (h * w)) * a.data[k * h * w + i];
      return s;
    });
    assertClose(`Grad-CAM class ${c}`, cam.map.data, pre.map((v) => Math.max(0, v)), 1e-5, 1e-3);
    zeroed += pre.filter((v) => v < -1e-3).length;
    assert.deepEqual([cam.map.rows, cam.map.cols, cam.layer, cam.class], [h, w, 'conv5', c]);

    const s = await saliency(net, x, { class: c });
    const input = cpuData(net.input) as Float64Array;
    const score = () => {
      net.forward(1, 'eval');
      return cpuData(net.logits)[c];
    };
    const [C, H, W] = micro.input;
    const dx = numericGradient(score, input.subarray(0, C * H * W));
    const want = Array.from({ length: H * W }, (_, i) => Math.max(...Array.from({ length: C }, (_, ch) => Math.abs(dx[ch * H * W + i]))));
    assertClose(`saliency class ${c}`, s.map.data, want, 1e-5, 1e-3);
  }
  assert.ok(zeroed > 0, 'some class has cells below zero before the ReLU');
});

test('activations: every layer with its own output, in order, after its ReLU; a chosen few; an unknown name refused', async () => {
  const net = valuesNet(new CpuBackend(), architecture('mini'), 1);
  const x = image(net.arch, 4);
  const all = await activations(net, x);
  assert.deepEqual(all.map((a) => a.name), ['conv1', 'lrn2', 'maxpool3', 'conv2', 'lrn6', 'maxpool7', 'conv3', 'conv4', 'conv5', 'maxpool14', 'fc6', 'fc7', 'fc8']);
  assert.deepEqual(all[0].shape, [48, 28, 28]);
  assert.ok(all[0].data.every((v) => v >= 0) && all[0].data.some((v) => v > 0), 'conv1 after its ReLU');
  assert.deepEqual(all.at(-1)!.data, await net.readLogits(1), 'fc8 is the logits');
  const two = await activations(net, x, ['fc7', 'conv2']);
  assert.deepEqual(two.map((a) => [a.name, a.data]), [['conv2', all[3].data], ['fc7', all[11].data]]);
  await assert.rejects(activations(net, x, ['conv9']), /layer "conv9": the mini net has no such layer; expected one of conv1, lrn2, maxpool3, conv2/);
  await assert.rejects(gradCam(net, x, { layer: 'fc6' }), /layer "fc6": the mini net has no such conv layer; expected one of conv1, conv2, conv3, conv4, conv5/);
  await assert.rejects(occlusion(net, x, { patch: 29 }), /patch 29: expected an integer in 1\.\.28/);
  await assert.rejects(saliency(net, x, { class: 10 }), /class 10: expected an integer in 0\.\.9/);
  await assert.rejects(saliency(net, x.subarray(1)), /an image for the mini net holds 784 floats \[1, 28, 28\], found 783/);
});

test('receptive fields: the paper\'s conv5 sees 163 pixels 16 apart; nothing outside a unit\'s box moves it, each edge of the box does', async () => {
  const paper = planLayers(architecture('paper'));
  assert.deepEqual(receptiveField(paper, 12), { size: 163, step: 16 }); // conv5
  assert.deepEqual(receptiveField(paper, 14), { size: 195, step: 32 }); // pool5
  assert.deepEqual(receptiveField(planLayers(architecture('torchvision')), 10), { size: 163, step: 16 });
  assert.deepEqual(receptiveBox(paper, 12, 0, 12), { top: 0, left: 128, height: 99, width: 99 }, 'clipped at the top and right edges');
  const net = valuesNet(new CpuBackend({ float64: true }), micro, 1);
  const [C, H, W] = micro.input;
  const x = Float64Array.from(randomArray(C * H * W, 3));
  const unitAt = (layer: number, y: number, x0: number, input: Float64Array) => {
    (cpuData(net.input) as Float64Array).set(input);
    net.forward(1, 'eval');
    const [K, h, w] = net.layers[layer].outShape;
    const out = cpuData(net.layers[layer].output);
    return Array.from({ length: K }, (_, k) => out[(k * h + y) * w + x0]);
  };
  for (const [layer, y, x0] of [[3, 2, 5], [4, 0, 3], [7, 1, 1]] as const) { // pool1, conv2, pool2
    const box = receptiveBox(net.layers, layer, y, x0);
    const base = unitAt(layer, y, x0, x);
    const inside = (r: number, c: number) => r >= box.top && r < box.top + box.height && c >= box.left && c < box.left + box.width;
    const changed = (keep: (r: number, c: number) => boolean) => {
      const moved = x.map((v, i) => (keep(Math.floor(i / W) % H, i % W) ? v : v + 10));
      return unitAt(layer, y, x0, moved).some((v, k) => v !== base[k]);
    };
    assert.equal(changed(inside), false, `layer ${layer} (${y}, ${x0}): pixels outside ${JSON.stringify(box)} moved it`);
    const edges: [string, (r: number, c: number) => boolean][] = [
      ['top', (r) => r !== box.top], ['bottom', (r) => r !== box.top + box.height - 1], ['left', (_, c) => c !== box.left], ['right', (_, c) => c !== box.left + box.width - 1],
    ];
    for (const [edge, keep] of edges) assert.equal(changed(keep), true, `layer ${layer} (${y}, ${x0}): its box's ${edge} edge does not reach it`);
  }
});

test('pictures: the heat lies where the map is high, at the map\'s own geometry; sizes; PNGs that sharp reads back', async () => {
  // A 4 x 4 map over a 16 x 16 image, cells 4 pixels apart (Grad-CAM's geometry): cell (1, 2) hot.
  const data = new Float32Array(16);
  data[1 * 4 + 2] = 2;
  const map = { data, rows: 4, cols: 4, origin: [1.5, 1.5] as [number, number], step: [4, 4] as [number, number] };
  assert.equal(sampleMap(map, 5.5, 9.5), 2, 'the cell centre takes its value');
  assert.equal(sampleMap(map, 7.5, 9.5), 1, 'halfway to the next cell, half of it');
  const up = upsample(map, 16, 16);
  assert.equal(up.indexOf(Math.max(...up)), 5 * 16 + 9);
  const pixels = new Uint8Array(16 * 16).fill(100);
  const p = heatMapOverlay(pixels, [1, 16, 16], map, { scale: 3 });
  assert.deepEqual([p.width, p.height, p.rgba.length], [48, 48, 48 * 48 * 4]);
  const at = (y: number, x: number) => Array.from(p.rgba.subarray((y * 48 + x) * 4, (y * 48 + x) * 4 + 4));
  // Image pixel (5, 9) is drawn at (15..17, 27..29); the map there is 2 * (7/8)^2 of 2: jet's orange.
  const warm = heatColour((2 * (7 / 8) ** 2) / 2);
  assert.deepEqual(at(16, 28), [...warm.map((v) => Math.round(50 + v / 2)), 255], 'warm next to the hot cell');
  assert.ok(warm[0] === 255 && warm[2] === 0, `orange: ${warm}`);
  assert.deepEqual(at(45, 2), [50, 50, 50 + 64, 255], 'cold (dark blue) far from it');
  const png = pictureToPng(p);
  const decoded = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([decoded.info.width, decoded.info.height, decoded.info.channels], [48, 48, 4]);
  assert.deepEqual(new Uint8Array(decoded.data), p.rgba);

  const grid = featureMapGrid({ name: 'conv', layer: 0, shape: [5, 2, 3], data: Float32Array.from({ length: 30 }, (_, i) => i) }, { scale: 2 });
  assert.deepEqual([grid.width, grid.height], [3 * (6 + 2) + 2, 2 * (4 + 2) + 2], 'three tiles a row, two rows');
  assert.deepEqual(Array.from(grid.rgba.subarray(((2 + 4 + 2 + 3) * grid.width + 2 + 8 + 5) * 4, ((2 + 4 + 2 + 3) * grid.width + 2 + 8 + 5) * 4 + 4)), [255, 255, 255, 255], 'the largest value is white');
  const top = { layer: 'conv', units: [0, 1], images: 3, top: [[{ image: 0, value: 1, y: 0, x: 0, box: { top: 2, left: 3, height: 4, width: 6 } }], [{ image: 1, value: 1, y: 0, x: 0, box: { top: 0, left: 0, height: 2, width: 2 } }]] };
  const tiles = topImagesGrid(top, (i) => new Uint8Array(3 * 10 * 10).fill(i === 0 ? 200 : 30), [3, 10, 10]);
  assert.deepEqual([tiles.width, tiles.height], [6 + 4, 2 * (6 + 2) + 2], 'one column of 6-pixel tiles (the largest box)');
  assert.deepEqual(Array.from(tiles.rgba.subarray(((2 + 1) * tiles.width + 2) * 4, ((2 + 1) * tiles.width + 2) * 4 + 3)), [200, 200, 200], 'image 0 in row 0');
  assert.deepEqual(Array.from(tiles.rgba.subarray((2 * tiles.width + 2) * 4, (2 * tiles.width + 2) * 4 + 3)), [128, 128, 128], 'grey around a smaller box');
});

test('streamImages: the input is the evaluation crop of the stored image less the mean, times the scale; the pixels are that crop', async () => {
  const set = synthetic(6, [3, 17, 17]);
  const stats = computeStats(set);
  const stream = (output: 'float32' | 'uint8') => new Loader(set, stats, { mode: 'centre', crop: 15, batch: 2, seed: 1, scale: 1 / 64, workers: 0, indices: [5, 2, 3], output });
  const images = await streamImages(valuesNet(new CpuBackend(), micro, 2), stream('float32'), set);
  assert.deepEqual(images.map((im) => im.index), [5, 2, 3]);
  for (const im of images) {
    const stored = new Uint8Array(3 * 17 * 17);
    set.readImage(im.index, stored);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 15; y++) {
        for (let x = 0; x < 15; x++) {
          const at = (c * 17 + y + 1) * 17 + x + 1; // the centre crop starts at (1, 1)
          assert.equal(im.pixels[(c * 15 + y) * 15 + x], stored[at]);
          assert.ok(Math.abs(im.input[(c * 15 + y) * 15 + x] - (stored[at] - stats.meanImage[at]) / 64) < 1e-6);
        }
      }
    }
  }
  if (gpu) {
    // A GPU crops uint8 batches itself (writeCrops): the same inputs.
    const onGpu = await streamImages(valuesNet(gpu, micro, 2), stream('uint8'), set);
    onGpu.forEach((im, i) => assertNear(`image ${im.index} on WebGPU`, im.input, images[i].input, 1e-6));
  }
});

test('WebGPU: every method equals the CPU\'s on the mini net (the input gradient through conv1 included)', { skip }, async () => {
  const arch = architecture('mini');
  const nets = [valuesNet(new CpuBackend(), arch, 8, 5), valuesNet(gpu!, arch, 8, 5)];
  const x = image(arch, 7);
  const run = async (net: Net) => ({
    acts: await activations(net, x),
    saliency: await saliency(net, x, { class: 3 }),
    gradcam: await gradCam(net, x, { class: 3, layer: 'conv4' }),
    occlusion: await occlusion(net, x, { class: 3, patch: 8, stride: 5 }),
  });
  const cpu = await run(nets[0]);
  const webgpu = await run(nets[1]);
  cpu.acts.forEach((a, i) => assertNear(`activations ${a.name}`, webgpu.acts[i].data, a.data));
  assertNear('saliency', webgpu.saliency.map.data, cpu.saliency.map.data);
  assertNear('Grad-CAM', webgpu.gradcam.map.data, cpu.gradcam.map.data);
  assert.ok(Math.max(...Array.from(webgpu.occlusion.map.data, (v, i) => Math.abs(v - cpu.occlusion.map.data[i]))) < 1e-5, 'occlusion within 1e-5');
  assert.ok(cpu.saliency.map.data.some((v) => v > 0) && cpu.gradcam.map.data.some((v) => v > 0));
});
