// Seeing inside the net in the page (issue 23), on the CPU in Chromium, after a short run of the
// mini net: the test images marked right or wrong with the class the model gives them, a bar
// per class under the confusion matrix, and for a clicked test image (and a dropped photo) every
// layer's output and Grad-CAM and saliency over the image, for a class the person chooses. The
// views are checked for what they must show: a tile per channel, the Grad-CAM drawn being the
// worker's map over the image as the net sees it, the chooser's class being the one explained
// (by mouse and keyboard); the marks and a map against the command line on the downloaded model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeIdx } from '../src/data/idx.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import type { HeatMap } from '../src/explain/explain.js';
import { heatMapOverlay } from '../src/explain/render.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { planLayers } from '../src/nn/plan.js';
import { describeLayer } from '../src/nn/stack.js';
import { encodePng } from '../src/report/png.js';
import {
  ARTIFACTS, canvasRgb, DATA, dir, MAIN, messages, openPage, pngs, runButton, seriousFaults, servePage, shoot, skip, startTraining, waitFor, type Message,
} from './browser_harness.js';

servePage();

let page: Page;
let done: Message;

/** The bundled test set's true labels, read here from its IDX file. */
const trueLabels = async () => (await decodeIdx(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-labels-idx1-ubyte.gz')), 't10k labels')).data;

/** Test image `i` of the bundled set as a 28 x 28 RGB PNG file, for the command line. */
async function testPng(i: number): Promise<string> {
  const images = await decodeIdx(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-images-idx3-ubyte.gz')), 't10k');
  const file = join(dir, `test-${i}.png`);
  writeFileSync(file, encodePng(28, 28, Uint8Array.from({ length: 784 * 3 }, (_, k) => images.data[i * 784 + Math.floor(k / 3)])));
  return file;
}

/** `alexnet` on the command line; its JSON lines. */
function cli(args: string[]): Message[] {
  const r = spawnSync(process.execPath, [MAIN, ...args, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

/** The page's model, downloaded from the Runs list. */
let weights = '';

test('after a short run the test images are marked right or wrong with the class the model gives; a bar per class sits under the confusion matrix', { skip }, async () => {
  page = await openPage(false, { width: 1280, height: 1500 });
  await startTraining(page, { batch: 64, epochs: 1, seed: 4, backend: 'cpu', name: 'explain' });
  [done] = await waitFor(page, 'done');
  const classes = done.classes as string[];
  const labels = await trueLabels();
  const thumbs = await page.locator('#tests button.thumb').evaluateAll((buttons) => buttons.map((b) => ({ name: b.getAttribute('aria-label')!, mark: b.querySelector('.mark')!.textContent! })));
  assert.equal(thumbs.length, 48);
  let wrong = 0;
  thumbs.forEach((t, i) => {
    const truth = classes[labels[i]];
    const [, mark, predicted] = /^([✓✗]) (.+)$/.exec(t.mark) ?? assert.fail(`test image ${i}'s mark: ${JSON.stringify(t.mark)}`);
    assert.ok(classes.includes(predicted), `test image ${i}: "${predicted}" is not a class`);
    assert.equal(mark, predicted === truth ? '✓' : '✗', `test image ${i}, labelled ${truth}, taken for ${predicted}`);
    assert.ok(t.name.startsWith(`Test image ${i}, labelled ${truth}, taken for ${predicted} (${predicted === truth ? 'right' : 'wrong'})`), t.name);
    if (predicted !== truth) wrong++;
  });
  assert.ok(wrong > 0 && wrong < thumbs.length, `after one epoch some images are right and some wrong: ${wrong} of ${thumbs.length} wrong`);
  // The class each mark names is the downloaded model's top class under alexnet predict.
  const [download] = await Promise.all([page.waitForEvent('download'), runButton(page, 'Download', 'explain').click()]);
  weights = join(dir, download.suggestedFilename());
  await download.saveAs(weights);
  const files = await Promise.all(thumbs.map((_, i) => testPng(i)));
  const predicted = cli(['predict', '--weights', weights, '--arch', 'mini', '--data', DATA, ...files]);
  assert.deepEqual(thumbs.map((t) => t.mark.slice(2)), predicted.map((p) => (p.top as { name: string }[])[0].name), 'the marks name alexnet predict’s top classes');

  // The bars against the confusion matrix as drawn (its cells' counts, rows: true classes).
  const cells = await page.locator('#confusion rect.cell').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
  const k = classes.length;
  assert.equal(cells.length, k * k);
  const bars = await page.locator('#class-accuracy li').evaluateAll((items) =>
    items.map((li) => ({ name: li.querySelector('.bar-name')!.textContent!, value: (li.querySelector('meter') as HTMLMeterElement).value, text: li.querySelector('.bar-value')!.textContent! })),
  );
  assert.deepEqual(bars.map((b) => b.name), classes);
  let counted = 0;
  bars.forEach((b, c) => {
    const row = cells.slice(c * k, (c + 1) * k);
    const count = row.reduce((a, x) => a + x, 0);
    const accuracy = row[c] / count;
    assert.ok(Math.abs(b.value - accuracy) < 1e-9, `${b.name}: the bar is at ${b.value}, its row says ${row[c]} of ${count}`);
    assert.equal(b.text, `${(100 * accuracy).toFixed(1)}% (${row[c]} of ${count})`);
    counted += Number(/of (\d+)\)$/.exec(b.text)![1]);
  });
  const [run] = await messages(page, 'run');
  assert.equal(counted, run.test, 'the counts per class sum to the test images');
  assert.equal(counted, done.n);
});

/** The layers whose outputs the page must show, with their shapes: the mini net's, from its plan. */
const expectedLayers = () =>
  planLayers(architecture('mini', [1, 28, 28], 10))
    .filter((l) => !l.inPlace)
    .map((l) => ({ name: describeLayer(l.spec, l.index), shape: l.outShape }));

/**
 * The tiles of a feature-map grid in its pixels: white rows and columns that cross the whole
 * picture are the gaps; a cell between them holding any pixel that is not white is a tile.
 */
function tiles(p: { width: number; height: number; rgb: number[] }): number {
  const white = (x: number, y: number) => p.rgb.slice(3 * (y * p.width + x), 3 * (y * p.width + x) + 3).every((v) => v === 255);
  const bands = (length: number, gap: (i: number) => boolean) => {
    const out: [number, number][] = [];
    for (let i = 0; i < length; i++) {
      if (gap(i)) continue;
      if (out.length > 0 && out.at(-1)![1] === i - 1) out.at(-1)![1] = i;
      else out.push([i, i]);
    }
    return out;
  };
  const rows = bands(p.height, (y) => Array.from({ length: p.width }, (_, x) => x).every((x) => white(x, y)));
  const cols = bands(p.width, (x) => Array.from({ length: p.height }, (_, y) => y).every((y) => white(x, y)));
  let count = 0;
  for (const [y0, y1] of rows) {
    for (const [x0, x1] of cols) {
      let any = false;
      for (let y = y0; y <= y1 && !any; y++) for (let x = x0; x <= x1 && !any; x++) any = !white(x, y);
      if (any) count++;
    }
  }
  return count;
}

/** A canvas's RGB bytes as the Grad-CAM overlay of `map` over a 28 x 28 grey image would be, drawn 4 times larger. */
const overlay = (grey: number[], map: HeatMap) => {
  const picture = heatMapOverlay(Uint8Array.from(grey), [1, 28, 28], { ...map, data: Float32Array.from(Object.values(map.data)) }, { scale: 4 });
  return Array.from(picture.rgba.filter((_, i) => i % 4 !== 3));
};

/** The share of pixels that are warm (red over blue) in RGB bytes. */
const warm = (rgb: ArrayLike<number>, channels = 3) => {
  let n = 0;
  for (let i = 0; i < rgb.length; i += channels) if (rgb[i] > rgb[i + 2] + 40) n++;
  return n / (rgb.length / channels);
};

test('a clicked test image shows every layer’s output and Grad-CAM and saliency over it; the class chooser recomputes them for its class', { skip }, async () => {
  const classes = done.classes as string[];
  const labels = await trueLabels();
  const marks = await page.locator('#tests button.thumb .mark').allTextContents();
  const wrongOne = marks.findIndex((m) => m.startsWith('✗'));
  const index = Math.max(0, wrongOne); // a wrong one, so that its true class is another class to choose
  await page.locator('#tests button').nth(index).click();
  const [prediction] = (await waitFor(page, 'prediction')).slice(-1);
  const [activations] = (await waitFor(page, 'activations')).slice(-1);
  const [first] = (await waitFor(page, 'maps')).slice(-1);
  const top = (prediction.top as { name: string }[])[0].name;
  assert.equal(marks[index].slice(2), top, 'the mark names the top class of the image’s answer');
  assert.equal(activations.source, `test image ${index} (labelled ${classes[labels[index]]})`);
  assert.equal(classes[first.class as number], top, 'Grad-CAM first explains the top class');
  assert.equal(await page.inputValue('#test-prediction .explain select'), String(first.class));

  // A figure per layer, in order, each as its layer's shape says: a tile per channel, or a strip.
  const expected = expectedLayers();
  const captions = await page.locator('#test-prediction .layers figcaption').allTextContents();
  assert.deepEqual(captions.map((c) => c.split(':')[0]), expected.map((l) => l.name));
  for (const [i, l] of expected.entries()) {
    const pixels = await canvasRgb(page, `#test-prediction .layers figure:nth-child(${i + 1}) canvas`);
    const greys = new Set(pixels.rgb.filter((_, j) => j % 3 === 0)).size;
    if (l.shape.length === 3) {
      assert.equal(tiles(pixels), l.shape[0], `${l.name}: ${l.shape[0]} channels`);
      assert.ok(greys >= 32, `${l.name}: ${greys} grey levels`);
    } else {
      assert.deepEqual([pixels.width, pixels.height], [l.shape[0] + 2, 3], `${l.name}: a strip of ${l.shape[0]} features`);
      assert.ok(greys >= (l.shape[0] > 10 ? 32 : 3), `${l.name}: ${greys} grey levels`);
    }
  }
  await shoot(page, '#live', 'page-explain'); // docs/page-explain.png

  // Grad-CAM: the worker's map over the image as the net sees it, changing it over most of it, warm where the map is high.
  const netView = (await canvasRgb(page, '#test-prediction .net-view canvas')).rgb.filter((_, i) => i % 3 === 0);
  const camBefore = await canvasRgb(page, '#test-prediction .gradcam canvas');
  assert.deepEqual(camBefore.rgb, overlay(netView, first.gradCamMap as HeatMap));
  const map = Object.values((first.gradCamMap as HeatMap).data);
  assert.ok(Math.max(...map) > Math.min(...map), 'the map is not flat');
  const plain = (p: number) => netView[Math.floor(p / 112 / 4) * 28 + Math.floor((p % 112) / 4)]; // pixel p of the image drawn 4 times larger
  const differs = (p: number) => [0, 1, 2].some((ch) => Math.abs(camBefore.rgb[3 * p + ch] - plain(p)) > 30);
  const covered = Array.from({ length: 112 * 112 }, (_, p) => p).filter(differs).length / (112 * 112);
  assert.ok(covered > 0.5, `the Grad-CAM canvas differs from the plain image in ${(100 * covered).toFixed(1)}% of its pixels`);
  const hot = warm(await sharp(await shoot(page, '#test-prediction .gradcam canvas', 'explain-gradcam')).removeAlpha().raw().toBuffer());
  assert.ok(hot > 0.03, `the Grad-CAM on screen is warm over ${(100 * hot).toFixed(1)}% of it`);
  const saliency = await canvasRgb(page, '#test-prediction .saliency canvas');
  assert.deepEqual([saliency.width, saliency.height], [112, 112]);
  assert.ok(warm(saliency.rgb) > 0 && warm(saliency.rgb) < 0.6, `saliency warm over ${(100 * warm(saliency.rgb)).toFixed(1)}%`);

  // Another class: its true class (or the second of the top 5), computed anew.
  const other = wrongOne >= 0 ? labels[index] : classes.indexOf((prediction.top as { name: string }[])[1].name);
  await page.selectOption('#test-prediction .explain select', String(other));
  const [second] = (await waitFor(page, 'maps', (await messages(page, 'maps')).length + 1)).slice(-1);
  assert.equal(second.class, other, 'the maps are for the class chosen');
  assert.equal(await page.inputValue('#test-prediction .explain select'), String(other));
  const camAfter = await canvasRgb(page, '#test-prediction .gradcam canvas');
  assert.deepEqual(camAfter.rgb, overlay(netView, second.gradCamMap as HeatMap));
  // The map is the one alexnet explain computes for that image and class with the downloaded model.
  const out = join(dir, 'explain-cli');
  cli(['explain', '--weights', weights, '--arch', 'mini', '--data', DATA, await testPng(index), '--method', 'gradcam', '--class', String(other), '--out', out, '--save', join(dir, 'maps.safetensors')]);
  const cliMap = parseSafetensors(readFileSync(join(dir, 'maps.safetensors')), 'maps').tensors.get('gradcam')!;
  const pageMap = Object.values((second.gradCamMap as HeatMap).data);
  const largest = Math.max(...pageMap.map(Math.abs), 1e-12);
  assert.deepEqual(cliMap.shape, [6, 6]);
  Array.from(cliMap.data).forEach((v, i) => assert.ok(Math.abs(v - pageMap[i]) <= 1e-4 * largest, `Grad-CAM cell ${i}: the page ${pageMap[i]}, alexnet explain ${v}`));
  const changed = camAfter.rgb.filter((v, i) => Math.abs(v - camBefore.rgb[i]) > 24).length / camAfter.rgb.length;
  assert.ok(changed > 0.05, `the Grad-CAM for ${classes[other]} differs from the one for ${top} over ${(100 * changed).toFixed(1)}% of its bytes`);
  assert.match((await page.textContent('#test-prediction .gradcam figcaption'))!, new RegExp(`^Grad-CAM \\(conv5\\): ${classes[other].replace(/[/()]/g, '\\$&')}`));

  // From the keyboard: Tab goes from the last test image to the chooser, and an arrow key chooses the next class.
  await page.locator('#tests button').last().focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.closest('.explain')?.querySelector('select') === document.activeElement), true, 'Tab reaches the class chooser');
  const next = (other + 1) % classes.length;
  const count = (await messages(page, 'maps')).length;
  await page.keyboard.press(next === 0 ? 'Home' : 'ArrowDown');
  const [third] = (await waitFor(page, 'maps', count + 1)).slice(-1);
  assert.equal(third.class, next);
});

test('a dropped photo shows what the net sees in it in Classify, and the panel fits a 390 px phone with no serious accessibility fault', { skip }, async () => {
  const [greyPng] = await pngs();
  const before = { activations: (await messages(page, 'activations')).length, maps: (await messages(page, 'maps')).length };
  await page.setInputFiles('#image', greyPng);
  const [photo] = (await waitFor(page, 'activations', before.activations + 1)).slice(-1);
  assert.equal(photo.forTest, false);
  await waitFor(page, 'maps', before.maps + 1);
  assert.equal(await page.locator('#prediction .layers figure').count(), expectedLayers().length);
  assert.equal((await canvasRgb(page, '#prediction .gradcam canvas')).width, 112);

  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll('.explain, .explain *, #class-accuracy *, #tests *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map((e) => `${e.tagName}.${e.className}`),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'explain-390.png'), fullPage: true });
  assert.deepEqual(wide, [], 'nothing of the panel, the bars or the marks past the right edge at 390 px');
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390);
  await page.setViewportSize({ width: 1280, height: 1500 });
  assert.deepEqual(await seriousFaults(page), []);
});
