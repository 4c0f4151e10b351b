// The run report: curves with a point per epoch, the conv1 kernel grid (96 tiles of 11x11 for
// the paper net, in two towers), a confusion matrix that sums to the test count, a retrieval
// grid, and "What the net sees" (two right and two wrong test images, each picture of its size
// and not uniform, heat maps over the image, the top-images grid); PNGs that a real decoder
// (sharp) reads back.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { filterMosaic } from '../src/report/mosaic.js';
import { encodePng } from '../src/report/png.js';
import { buildReport } from '../src/report/report.js';
import { train } from '../src/train/trainer.js';
import { randomArray } from './helpers.js';

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

test('a run report: a point per epoch, confusion matrix summing to the test count, figures written', async () => {
  const out = mkdtempSync(join(tmpdir(), 'alexnet-report-'));
  await train(
    {
      arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 2, batch: 50, lr: 0.01, schedule: 'plateau',
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
});
