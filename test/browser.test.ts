// The page in a real browser: Debian's Chromium, headless, driven by playwright-core (which uses
// the system browser and downloads nothing), against `alexnet serve`. WebGPU there runs on
// SwiftShader (--enable-unsafe-webgpu), so the WebGPU tests keep to a few small steps; without
// the flag the page has no adapter and trains on the CPU (WebAssembly) in its worker.
// Screenshots of each view are written to test-artifacts/browser/.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodePng } from '../src/report/png.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { newRunState, trainEpochs } from '../src/train/loop.js';
import { openTrainingData } from '../src/train/open_data.js';
import { skipUnless } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const ARTIFACTS = join(ROOT, 'test-artifacts/browser');
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-browser-'));
const skip = skipUnless(existsSync(CHROMIUM), 'Chromium', "Chromium is not installed (apt-get install chromium); the browser tests drive Debian's");

const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: ChildProcess;
let url = '';
const browsers: Browser[] = [];

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  server = spawn(process.execPath, [MAIN, 'serve', '--port', '0']);
  url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d) => {
      const m = /http:\/\/\S+/.exec(String(d));
      if (m) resolve(m[0]);
    });
    server.once('exit', (code) => reject(new Error(`alexnet serve exited (${code})`)));
  });
});

after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  server?.kill();
});

/** A fresh page (its own profile: empty IndexedDB), with WebGPU on SwiftShader or without WebGPU. */
async function openPage(webgpu: boolean): Promise<Page> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])] });
  browsers.push(browser);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1500 }, acceptDownloads: true })).newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('backend')!.textContent !== 'starting…', null, { timeout: 120_000 });
  return page;
}

type Message = { type: string; [key: string]: unknown };
const messages = (page: Page, type: string) => page.evaluate((t) => (window as unknown as { alexnetLog: { message: Message }[] }).alexnetLog.map((e) => e.message).filter((m) => m.type === t), type) as Promise<Message[]>;

/** Waits for the `count`th message of `type`; an error message arriving meanwhile fails the test. */
async function waitFor(page: Page, type: string, count = 1, timeout = 600_000): Promise<Message[]> {
  const errorsBefore = (await messages(page, 'error')).length;
  await page.waitForFunction(
    ([t, n, e]) => {
      const log = (window as unknown as { alexnetLog: { message: Message }[] }).alexnetLog;
      return log.filter((m) => m.message.type === t).length >= n || log.filter((m) => m.message.type === 'error').length > e;
    },
    [type, count, errorsBefore] as const,
    { timeout },
  );
  const errors = (await messages(page, 'error')).slice(errorsBefore);
  if (errors.length > 0) assert.fail(`the page said: ${errors.map((e) => e.message).join('; ')}`);
  return messages(page, type);
}

async function pause(page: Page): Promise<void> {
  await page.click('#pause');
  await page.waitForFunction(() => !(document.getElementById('resume') as HTMLButtonElement).disabled, null, { timeout: 300_000 });
}

async function startTraining(page: Page, o: { batch: number; epochs: number; seed: number; backend?: 'auto' | 'webgpu' | 'cpu' }): Promise<void> {
  await page.selectOption('select[name=backend]', o.backend ?? 'auto');
  await page.fill('input[name=batch]', String(o.batch));
  await page.fill('input[name=epochs]', String(o.epochs));
  await page.fill('input[name=seed]', String(o.seed));
  await page.click('#start');
}

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
  await shoot(page, 'live', 'live-webgpu');
  webgpuPage = page;
});

test('2. without WebGPU (the CPU in the worker, its threads in Web Workers): the same losses', { skip }, async () => {
  const page = await openPage(false);
  const threads = availableParallelism();
  await assertLossesMatchNode(page, 'auto', new RegExp(`^CPU \\(WebAssembly SIMD[^,]*, ${threads} threads?\\)$`));
});

/** An element's screenshot, written as an artifact and checked to be no blank: its pixels vary. */
async function shoot(page: Page, id: string, name: string): Promise<void> {
  const png = await page.locator(`#${id}`).screenshot();
  const path = join(ARTIFACTS, `${name}.png`);
  writeFileSync(path, png);
  const stats = await sharp(png).stats();
  const spread = Math.max(...stats.channels.map((c) => c.stdev));
  assert.ok(spread > 10, `${path} looks blank (pixel standard deviation ${spread.toFixed(1)})`);
}

let trained = '';
/** Weights of a mini net trained briefly in Node, so that classification has something to say. */
function trainedWeights(): string {
  if (trained) return trained;
  const run = join(dir, 'trained');
  const r = spawnSync(process.execPath, [MAIN, 'train', '--arch', 'mini', '--data', DATA, '--limit', '800', '--epochs', '1', '--backend', 'cpu', '--no-report', '--json', '--out', run], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const checkpoint = JSON.parse(readFileSync(join(run, 'checkpoints/latest.json'), 'utf8')).checkpoint;
  trained = join(run, 'checkpoints', checkpoint, 'weights.safetensors');
  return trained;
}

/** Two PNGs: a Fashion-MNIST test image as 28 x 28 RGB, and a larger colour one that must be resized. */
async function pngs(): Promise<string[]> {
  const { decodeIdx } = await import('../src/data/idx.js');
  const images = await decodeIdx(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-images-idx3-ubyte.gz')), 't10k');
  const grey = images.data.subarray(7 * 784, 8 * 784);
  const first = join(dir, 'test-image.png');
  writeFileSync(first, encodePng(28, 28, Uint8Array.from({ length: 784 * 3 }, (_, i) => grey[Math.floor(i / 3)])));
  const second = join(dir, 'colour.png');
  writeFileSync(second, encodePng(45, 37, Uint8Array.from({ length: 45 * 37 * 3 }, (_, i) => (i * 37 + (i % 3) * 90) % 256)));
  return [first, second];
}

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
  await shoot(page, 'classify', 'classify');
});

test('4. a model trained and downloaded in the page scores the same test accuracy under alexnet eval --weights', { skip }, async () => {
  const page = await openPage(false);
  await startTraining(page, { batch: 32, epochs: 1, seed: 3 });
  const [done] = await waitFor(page, 'done');
  await shoot(page, 'live', 'live-done');
  await page.locator('#tests canvas').nth(3).click();
  await waitFor(page, 'similar');
  await shoot(page, 'live', 'live-retrieval');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const r = spawnSync(process.execPath, [MAIN, 'eval', '--weights', file, '--arch', 'mini', '--data', DATA, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const node = JSON.parse(r.stdout);
  assert.equal(node.n, done.n);
  assert.equal(node.top1, done.top1, `page ${done.top1}, alexnet eval ${node.top1}`);
  await shoot(page, 'train', 'train');
  await shoot(page, 'keep', 'keep');
});

/** The page's one message: shown, and matching `pattern` (the last one said, after a wait). */
async function assertMessage(page: Page, pattern: RegExp): Promise<void> {
  const shown = () => page.evaluate(() => (document.getElementById('message')!.hidden ? '' : document.getElementById('message')!.textContent));
  await page.waitForFunction(([source, flags]) => {
    const m = document.getElementById('message')!;
    return !m.hidden && new RegExp(source, flags).test(m.textContent ?? '');
  }, [pattern.source, pattern.flags] as const, { timeout: 300_000 }).catch(() => undefined);
  assert.match((await shown()) ?? '', pattern);
}

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

test('6. a lost GPU device: one message, the run kept, and resumed from where it was saved', { skip }, async () => {
  const page = webgpuPage ?? (await openPage(true));
  const saves = (await messages(page, 'saved')).length;
  if (webgpuPage) await page.click('#resume');
  else await startTraining(page, { batch: 8, epochs: 1, seed: 1, backend: 'webgpu' });
  await waitFor(page, 'saved', saves + 2); // checkpoints as it trains (every step or 15 s)
  await page.evaluate(() => (window as unknown as { alexnetTest: { loseDevice(): void } }).alexnetTest.loseDevice());
  await assertMessage(page, /^The GPU device was lost .*Your run is saved up to its last checkpoint: press "Resume saved run"/);
  const saved = (await messages(page, 'saved')).at(-1)!.run as { step: number };
  const before = (await messages(page, 'step')).length;
  await page.click('#restore');
  const steps = await waitFor(page, 'step', before + 1);
  assert.equal(steps[before].done, saved.step + 1, 'the resumed run continues after the saved step');
  await pause(page);
});

test('7. "WebGPU on a GPU, else CPU" passes over a software adapter (SwiftShader here), as the command line\'s auto does, and says so', { skip }, async () => {
  const page = await openPage(true);
  assert.match((await page.textContent('#backend'))!, /^CPU \(WebAssembly SIMD[^)]*\): passed over WebGPU: the only adapter, .*swiftshader.*, is a software one$/i);
  await startTraining(page, { batch: 8, epochs: 1, seed: 1 });
  await waitFor(page, 'step', 1);
  await pause(page);
  assert.equal((await messages(page, 'backend')).length, 1, 'one backend, the CPU, for the page and its run');
});
