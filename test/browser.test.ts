// The page in a real browser: Debian's Chromium, headless, driven by playwright-core (which uses
// the system browser and downloads nothing), against `alexnet serve`. WebGPU there runs on
// SwiftShader (--enable-unsafe-webgpu), so the WebGPU tests keep to a few small steps; without
// the flag the page has no adapter and trains on the CPU (WebAssembly) in its worker.
// Screenshots of each view are written to test-artifacts/browser/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { newRunState, trainEpochs } from '../src/train/loop.js';
import { openTrainingData } from '../src/train/open_data.js';
import {
  assertMessage, curvePixels, DATA, dir, MAIN, messages, openPage, pause, pngs, runButton, servePage, shoot, skip, startTraining, trainedWeights, waitFor, waitForState,
} from './browser_harness.js';

servePage();

/** The first `steps` losses of the same run in Node, on the CPU backend. */
async function nodeLosses(o: { batch: number; epochs: number; seed: number }, steps: number): Promise<number[]> {
  const arch = architecture('mini');
  const data = await openTrainingData({ spec: DATA, crop: 28, batch: o.batch, seed: o.seed, scale: arch.inputScale, workers: 0, channels: 1 });
  const net = new Net(new CpuBackend(), architecture('mini', data.input, data.classes.length), o.batch);
  net.initialize({ scheme: arch.defaultInit, seed: o.seed });
  const state = newRunState({
    arch: 'mini', data: DATA, epochs: o.epochs, batch: o.batch, lr: arch.defaults.lr, schedule: arch.defaults.schedule,
    momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: o.seed, checkpointEvery: 0, out: '',
  });
  const losses: number[] = [];
  await trainEpochs(net, data, state, {
    report: (e) => e.event === 'step' && losses.push(e.loss), save: async () => {}, savedIn: '', shouldStop: () => losses.length >= steps,
  });
  await data.close();
  return losses;
}

async function assertLossesMatchNode(page: Page, choice: 'auto' | 'webgpu', backend: RegExp): Promise<void> {
  const run = { batch: 8, epochs: 1, seed: 1 };
  await startTraining(page, { ...run, backend: choice });
  const steps = await waitFor(page, 'step', 10);
  await pause(page);
  assert.match((await page.textContent('#backend'))!, backend);
  const want = await nodeLosses(run, 5);
  steps.slice(0, 5).forEach((s, i) => {
    const got = s.loss as number;
    assert.ok(Math.abs(got - want[i]) <= 1e-4 * Math.abs(want[i]), `step ${i + 1}: page ${got}, Node ${want[i]}`);
  });
}

/** The WebGPU page of test 1, paused after its steps: the lost-device test goes on with it (SwiftShader compiles the pipelines once). */
let webgpuPage: Page | null = null;

test('1. WebGPU in the page: 10 steps with seed 1, the first 5 losses equal the Node CPU backend\'s within 1e-4', { skip }, async () => {
  const page = await openPage(true);
  await assertLossesMatchNode(page, 'webgpu', /^WebGPU: /);
  await shoot(page, '#live', 'live-webgpu');
  webgpuPage = page;
});

test('2. without WebGPU (the CPU in the worker, its threads in Web Workers): the same losses', { skip }, async () => {
  const page = await openPage(false);
  const threads = availableParallelism();
  await assertLossesMatchNode(page, 'auto', new RegExp(`^CPU \\(WebAssembly SIMD[^,]*, ${threads} threads?\\)$`));
  // Paused at step 10: the loss chart shows those steps' curve (the first and the last point, and the line between).
  const curve = await curvePixels(await shoot(page, '#loss-chart', 'loss-paused'));
  assert.ok(curve.pixels >= 60, `no training curve in the loss chart after 10 steps: ${JSON.stringify(curve)}`);
});

test('3. a PNG classified in the page and by alexnet predict with the same weights: same top 5, probabilities within 1e-5', { skip }, async () => {
  const weights = trainedWeights();
  const page = await openPage(false);
  await page.setInputFiles('#weights', weights);
  await waitFor(page, 'weights');
  for (const [i, png] of (await pngs()).entries()) {
    await page.setInputFiles('#image', png);
    const [prediction] = (await waitFor(page, 'prediction', i + 1)).slice(i);
    const r = spawnSync(process.execPath, [MAIN, 'predict', '--weights', weights, '--arch', 'mini', '--data', DATA, '--backend', 'cpu', '--json', png], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const node = JSON.parse(r.stdout.trim()).top as { name: string; probability: number }[];
    const inPage = prediction.top as { name: string; probability: number }[];
    assert.deepEqual(inPage.map((t) => t.name), node.map((t) => t.name), png);
    inPage.forEach((t, k) => assert.ok(Math.abs(t.probability - node[k].probability) <= 1e-5, `${png} ${t.name}: ${t.probability} vs ${node[k].probability}`));
  }
  await shoot(page, '#classify', 'classify');
});

test('4. a model trained and downloaded in the page scores the same test accuracy under alexnet eval --weights, and the page shows that figure', { skip }, async () => {
  const page = await openPage(false);
  await startTraining(page, { batch: 32, epochs: 1, seed: 3, name: 'four' });
  const [done] = await waitFor(page, 'done');
  const curve = await curvePixels(await shoot(page, '#loss-chart', 'loss-done'));
  assert.ok(curve.columns >= 0.8 * curve.plotColumns, `the loss chart of a whole epoch covers ${curve.columns} of ${curve.plotColumns} columns`);
  await shoot(page, '#live', 'live-done');
  await page.locator('#tests button').nth(3).click();
  await waitFor(page, 'similar');
  await shoot(page, '#live', 'live-retrieval');
  const [download] = await Promise.all([page.waitForEvent('download'), runButton(page, 'Download', 'four').click()]);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const r = spawnSync(process.execPath, [MAIN, 'eval', '--weights', file, '--arch', 'mini', '--data', DATA, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const node = JSON.parse(r.stdout);
  assert.equal(node.n, done.n);
  assert.equal(node.top1, done.top1, `page ${done.top1}, alexnet eval ${node.top1}`);
  // What the person reads is alexnet eval's figure: top-1 as top-1, top-5 as top-5.
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  assert.equal(await page.textContent('#scores'), `Test top-1 ${pct(node.top1)}, top-5 ${pct(node.top5)} on ${node.n} images.`);
  assert.match((await page.textContent('#run-list'))!, new RegExp(`test top-1 ${pct(node.top1).replace('.', '\\.')}`));
  await shoot(page, '#train', 'train');
  await shoot(page, '#runs', 'runs');
});

test('5. bad input gets one clear message and the page goes on working: a non-image, a truncated IDX file, weights of another net', { skip }, async () => {
  const page = await openPage(false);
  const notImage = join(dir, 'notes.png');
  writeFileSync(notImage, 'these are not pixels');
  await page.setInputFiles('#weights', trainedWeights());
  await waitFor(page, 'weights');
  await page.setInputFiles('#image', notImage);
  await assertMessage(page, /^notes\.png: not a JPEG, PNG or WebP image \(starts with bytes 74 68 65 73/);
  const [png] = await pngs();
  await page.setInputFiles('#image', png);
  await waitFor(page, 'prediction');

  const idx = join(dir, 'idx');
  mkdirSync(idx, { recursive: true });
  const names = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
  for (const name of names) writeFileSync(join(idx, name), readFileSync(join(BUNDLED_FASHION_MNIST, name)));
  const { gunzipSync, gzipSync } = await import('node:zlib');
  const images = gunzipSync(readFileSync(join(idx, names[2])));
  writeFileSync(join(idx, names[2]), gzipSync(images.subarray(0, images.length - 100)));
  await page.selectOption('select[name=data]', 'idx');
  await page.setInputFiles('input[name=idx]', names.map((n) => join(idx, n)));
  await page.click('#start');
  await assertMessage(page, /^t10k-images-idx3-ubyte\.gz: truncated: header promises 784000 bytes of data/);

  const paperish = join(dir, 'mini-as-paper.safetensors');
  writeFileSync(paperish, readFileSync(trainedWeights()));
  await page.selectOption('#weights-arch', 'paper');
  await page.setInputFiles('#weights', paperish);
  await assertMessage(page, /^mini-as-paper\.safetensors: tensor "conv1\.weight": expected shape \[96, 3, 11, 11\], found \[48, 1, 5, 5\]$/);

  // ...and the page still trains: the bundled data, two steps.
  await page.selectOption('select[name=data]', 'bundled');
  await startTraining(page, { batch: 32, epochs: 1, seed: 2 });
  await waitFor(page, 'step', 2);
  await pause(page);
});

test('6. a lost GPU device: one message, the run kept and resumed from where it was saved; scoring after a stop shows progress and can be cancelled', { skip }, async () => {
  const page = webgpuPage ?? (await openPage(true));
  const saves = (await messages(page, 'saved')).length;
  if (webgpuPage) await page.click('#resume');
  else await startTraining(page, { batch: 8, epochs: 1, seed: 1, backend: 'webgpu' });
  await waitFor(page, 'step', (await messages(page, 'step')).length + 1);
  await page.evaluate(() => window.dispatchEvent(new Event('pagehide'))); // the page closing: the next step is saved
  await waitFor(page, 'saved', saves + 1);
  await page.evaluate(() => (window as unknown as { alexnetTest: { loseDevice(): void } }).alexnetTest.loseDevice());
  await assertMessage(page, /^The GPU device was lost .*Your run is kept up to its last save: press Resume beside it under Runs/);
  const saved = (await messages(page, 'saved')).at(-1)!;
  const before = (await messages(page, 'step')).length;
  await runButton(page, 'Resume', 'Run 1').click();
  const steps = await waitFor(page, 'step', before + 1);
  assert.equal(steps[before].done, (saved.step as number) + 1, 'the resumed run continues after the saved step');

  // Stop: the test set is scored (slowly, on SwiftShader), with progress, and Cancel scoring ends it.
  await page.click('#stop');
  const [first] = await waitFor(page, 'scoring', (await messages(page, 'scoring')).length + 2, 120_000).then((m) => m.slice(-1));
  assert.equal(await page.textContent('#stop'), 'Cancel scoring');
  assert.match((await page.textContent('#status'))!, new RegExp(`^Scoring the test set: \\d+ of ${first.total} images`));
  await page.click('#stop');
  const [cancelled] = await waitFor(page, 'cancelled');
  await waitForState(page, 'paused', 60_000);
  const position = cancelled.position as { epoch: number; stepInEpoch: number };
  assert.equal(position.stepInEpoch, (await messages(page, 'step')).at(-1)!.step);
  assert.match((await page.textContent('#status'))!, /^Scoring cancelled\. Stopped after 0 epochs and \d+ steps of 1 /);
  assert.equal(await page.isEnabled('#resume'), true);
  assert.equal((await messages(page, 'done')).length, 0, 'no scores for a cancelled scoring');
});

test('7. "WebGPU on a GPU, else CPU" passes over a software adapter (SwiftShader here), as the command line\'s auto does, and says so', { skip }, async () => {
  const page = await openPage(true);
  assert.match((await page.textContent('#backend'))!, /^CPU \(WebAssembly SIMD[^)]*\): passed over WebGPU: the only adapter, .*swiftshader.*, is a software one$/i);
  await startTraining(page, { batch: 8, epochs: 1, seed: 1 });
  await waitFor(page, 'step', 1);
  await pause(page);
  assert.equal((await messages(page, 'backend')).length, 1, 'one backend, the CPU, for the page and its run');
});
