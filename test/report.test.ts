// The run report: curves with a point per epoch, the conv1 kernel grid (96 tiles of 11x11 for
// the paper net, in two towers), a confusion matrix whose rows are the true classes, the test
// top-1 that eval gives, a retrieval grid, and "What the net sees" (two right and two wrong test
// images, each picture of its size and not uniform, heat maps over the image, the top-images
// grid); PNGs that a real decoder (sharp) reads back. The page, rendered by Chromium, shows each
// curve as a line and each conv1 kernel as its weights.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { evaluateModels, loadTrainedModel } from '../src/eval/models.js';
import { confusionMatrixSvg } from '../src/report/charts.js';
import { filterMosaic } from '../src/report/mosaic.js';
import { encodePng } from '../src/report/png.js';
import { buildReport, confusionMatrix } from '../src/report/report.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { train } from '../src/train/trainer.js';
import { randomArray, skipUnless } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;

test("paper's conv1 as Figure 3: 96 tiles of 11x11, 48 per tower", async () => {
  const weights = Float32Array.from(randomArray(96 * 3 * 11 * 11, 1));
  const m = filterMosaic(weights, [96, 3, 11, 11], 2, 16, 4);
  assert.equal(m.tiles, 96);
  assert.equal(m.tileSize, 11);
  // 16 per row: 3 rows per tower; each tile 44 px with 4 px gaps; 16 px between towers.
  assert.equal(m.width, 16 * (44 + 4) + 4);
  assert.equal(m.height, 2 * (3 * (44 + 4) + 4) + 16);
  // Tile 0 is kernel 0 stretched to 0..255: its darkest and brightest pixels hit both ends.
  const tile0: number[] = [];
  for (let y = 4; y < 48; y++) for (let x = 4; x < 48; x++) tile0.push(m.rgb[(y * m.width + x) * 3]);
  assert.ok(tile0.includes(0) || tile0.includes(255));
  const png = encodePng(m.width, m.height, m.rgb);
  const meta = await sharp(png).metadata();
  assert.equal(meta.width, m.width);
  assert.equal(meta.height, m.height);
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual(new Uint8Array(data), m.rgb);
});

test('the confusion matrix counts [true class][predicted class], and its picture has true classes as rows', () => {
  // 6 images of 3 classes: two 0s taken for 1, a 1 right, a 2 taken for 0 and two 2s right.
  const predicted = [1, 1, 1, 0, 2, 2];
  const labels = [0, 0, 1, 2, 2, 2];
  const probs = new Float32Array(6 * 3).fill(0.1);
  predicted.forEach((c, n) => (probs[n * 3 + c] = 0.8));
  const counts = confusionMatrix(probs, labels, 3);
  assert.deepEqual(counts, [[0, 2, 0], [0, 1, 0], [1, 0, 2]]);
  // In the SVG, row t (y) is true class t, column p (x) the prediction p; names label the rows.
  const svg = confusionMatrixSvg(counts, ['zero', 'one', 'two']);
  const cells = [...svg.matchAll(/class="cell" data-count="(\d+)" x="([\d.]+)" y="([\d.]+)"/g)].map((m) => m.slice(1).map(Number));
  const xs = [...new Set(cells.map((c) => c[1]))].sort((a, b) => a - b);
  const ys = [...new Set(cells.map((c) => c[2]))].sort((a, b) => a - b);
  const drawn = ys.map((y) => xs.map((x) => cells.find((c) => c[1] === x && c[2] === y)![0]));
  assert.deepEqual(drawn, counts, 'cells by row (y) and column (x)');
  const rowNames = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" text-anchor="end">(\w+)<\/text>/g)].map((m) => [Number(m[1]), m[2]] as const);
  assert.deepEqual(rowNames.sort((a, b) => a[0] - b[0]).map((r) => r[1]), ['zero', 'one', 'two']);
});

let run = '';

test('a run report: a point per epoch, the confusion matrix by true class, the test top-1 that eval gives, figures written', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-report-'));
  await train(
    {
      arch: 'mini', data: DATA, epochs: 2, batch: 50, lr: 0.01, schedule: 'plateau',
      momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: 3, validation: 100, limit: 600, checkpointEvery: 0, out,
    },
    new CpuBackend(),
    () => {},
  );
  const r = await buildReport(out, new CpuBackend(), 4, 5, 300);
  assert.equal(r.epochs, 2);
  assert.equal(r.filterTiles, 48);
  assert.equal(r.filterSize, 5);
  assert.equal(r.confusion.flat().reduce((a, b) => a + b, 0), 1000);
  // Row t holds the test images of class t: its sum is their count, read from the label file.
  const labels = gunzipSync(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-labels-idx1-ubyte.gz'))).subarray(8);
  const perClass = Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);
  assert.deepEqual(r.confusion.map((row) => row.reduce((a, b) => a + b, 0)), perClass, 'row sums: the true classes\' counts');
  const loss = await readFile(join(out, 'report', 'loss.svg'), 'utf8');
  assert.equal((loss.match(/class="point" data-series="train"/g) ?? []).length, 2);
  assert.equal((loss.match(/class="point" data-series="validation"/g) ?? []).length, 2);
  const confusion = await readFile(join(out, 'report', 'confusion.svg'), 'utf8');
  const cells = [...confusion.matchAll(/class="cell" data-count="(\d+)"/g)].map((m) => Number(m[1]));
  assert.equal(cells.length, 100);
  assert.equal(cells.reduce((a, b) => a + b, 0), 1000);
  const retrieval = await sharp(join(out, 'report', 'retrieval.png')).metadata();
  assert.ok(retrieval.width! > 5 * 28 && retrieval.height! > 4 * 28);
  const html = await readFile(r.path, 'utf8');
  for (const f of ['loss.svg', 'accuracy.svg', 'conv1.png', 'confusion.svg', 'retrieval.png']) assert.ok(html.includes(f), f);

  // What the net sees: two test images right, two wrong, each with its pictures; the units grid.
  const pixels = async (file: string) => {
    const { data, info } = await sharp(join(out, 'report', file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const mean = data.reduce((a, b) => a + b, 0) / data.length;
    const std = Math.sqrt(data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length);
    return { data, size: [info.width, info.height], std };
  };
  assert.deepEqual(r.sees.images.map((im) => im.label === im.predicted), [true, true, false, false]);
  assert.ok(html.includes('<section id="sees"><h2>What the net sees</h2>'));
  for (const im of r.sees.images) {
    assert.deepEqual(Object.keys(im.files), ['image', 'gradcam', 'occlusion', 'conv1', 'conv2', 'conv3', 'conv4', 'conv5']);
    const picture = await pixels(im.files.image);
    for (const [what, file] of Object.entries(im.files)) {
      assert.ok(html.includes(`src="${file}"`), file);
      const p = await pixels(file);
      assert.ok(p.std > 10, `${file} is not uniform (std ${p.std.toFixed(1)})`);
      const expected = { image: [112, 112], gradcam: [112, 112], occlusion: [112, 112], conv1: [204, 204], conv2: [141, 141], conv5: [142, 142] }[what];
      if (expected) assert.deepEqual(p.size, expected, file);
      if (what === 'gradcam' || what === 'occlusion') {
        const coloured = p.data.filter((v, i) => v !== picture.data[i]).length;
        assert.ok(coloured > p.data.length / 2, `${file}: the heat map covers the image (${coloured} of ${p.data.length} values differ)`);
      }
    }
  }
  assert.deepEqual([r.sees.units.layer, r.sees.units.count, r.sees.units.k], ['conv5', 16, 9]);
  const units = await pixels(r.sees.units.file);
  const tile = (units.size[0]! - 2) / 9 - 2;
  assert.ok(Number.isInteger(tile) && tile > 28 && tile <= 56, `tile ${tile}`);
  assert.equal(units.size[1], 16 * (tile + 2) + 2, 'a row per unit');
  assert.ok(units.std > 10);
  assert.ok(html.includes(`src="${r.sees.units.file}"`));
  // The page's test top-1 is eval's, not the last validation figure (which differs here).
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const evaluated = await evaluateModels([await loadTrainedModel(out)], DATA, new CpuBackend());
  const { state } = await loadCheckpoint<unknown, { epochs: { val_top1: number }[] }>(await latestCheckpoint(checkpointDir(out)));
  const validation = state.history.epochs.at(-1)!.val_top1;
  assert.notEqual(pct(evaluated.top1), pct(validation), 'test and validation top-1 coincide: this run cannot tell them apart');
  assert.match(html, new RegExp(`Test top-1 <b>${pct(evaluated.top1)}</b> on 1000 images; last validation top-1 ${pct(validation)}`));
  assert.equal(r.testTop1, evaluated.top1);
  run = out;
});

const skip = skipUnless(existsSync(CHROMIUM), 'Chromium', "Chromium is not installed (apt-get install chromium); the report's rendering is checked in Debian's");

/** Columns of `png` (RGB) holding a pixel within 60 of `colour` in each channel. */
async function columnsWith(png: Buffer, colour: [number, number, number]): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const columns = new Set<number>();
  for (let i = 0; i < info.width * info.height; i++) {
    if (colour.every((v, ch) => Math.abs(data[i * 3 + ch] - v) <= 60)) columns.add(i % info.width);
  }
  return columns.size;
}

test('the report in Chromium: each curve drawn as a line across its chart, each conv1 kernel as its weights', { skip }, async () => {
  assert.ok(run, 'needs the run report of the test above');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1500 }, deviceScaleFactor: 1 });
    await page.goto(`file://${join(run, 'report', 'index.html')}`);
    await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    // Two epochs: each series is a line from the first to the second, across most of the
    // chart's 440 px of plot (a marker or a legend swatch alone covers 12 px or fewer).
    for (const [chart, names] of [['loss.svg', ['train', 'validation']], ['accuracy.svg', ['top-1', 'top-5']]] as const) {
      const png = await page.locator(`img[src="${chart}"]`).screenshot();
      const colours: [number, number, number][] = [[0x1f, 0x77, 0xb4], [0xd6, 0x27, 0x28]];
      for (let s = 0; s < 2; s++) {
        const columns = await columnsWith(png, colours[s]);
        console.log(`${chart}: the ${names[s]} curve's colour in ${columns} columns`);
        assert.ok(columns >= 300, `${chart}: the ${names[s]} curve's colour is in ${columns} columns of pixels, expected a line across the chart`);
      }
    }
    // conv1 (48 kernels of 5x5, one channel, two towers of 24): each weight a block of 8x8 px
    // grey, stretched by its kernel's own min and max; 16 kernels a row, 8 px gaps, 32 px
    // between the towers. The centre of each block shows the weight's grey.
    const png = await page.locator('img[src="conv1.png"]').screenshot();
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { weights } = await loadCheckpoint(await latestCheckpoint(checkpointDir(run)));
    const w = weights.get('conv1.weight')!;
    assert.deepEqual(w.shape, [48, 1, 5, 5]);
    let worst = 0;
    for (let o = 0; o < 48; o++) {
      const kernel = w.data.subarray(o * 25, (o + 1) * 25);
      const [min, max] = [Math.min(...kernel), Math.max(...kernel)];
      const [tower, index] = [Math.floor(o / 24), o % 24];
      const x0 = 8 + (index % 16) * 48;
      const y0 = tower * (2 * 48 + 8 + 32) + 8 + Math.floor(index / 16) * 48;
      for (let p = 0; p < 25; p++) {
        const [x, y] = [x0 + (p % 5) * 8 + 4, y0 + Math.floor(p / 5) * 8 + 4];
        const want = Math.round(((kernel[p] - min) / (max - min)) * 255);
        for (let ch = 0; ch < 3; ch++) {
          const got = data[(y * info.width + x) * 3 + ch];
          worst = Math.max(worst, Math.abs(got - want));
          assert.ok(Math.abs(got - want) <= 3, `kernel ${o}, weight ${p}: the page shows ${got} at (${x}, ${y}), the weight's grey is ${want}`);
        }
      }
    }
    console.log(`conv1 as rendered: 48 kernels, worst difference from the weights' greys ${worst}`);
  } finally {
    await browser.close();
  }
});
