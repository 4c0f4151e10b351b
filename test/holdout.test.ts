// A data set with no test/ or val/ split gets a test split held out of its images: stratified,
// seeded (the same for every run), disjoint from what is trained on.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { stratifiedHoldOut } from '../src/data/dataset.js';
import { openDataset } from '../src/data/open.js';
import { computeStats } from '../src/data/stats.js';

test('stratifiedHoldOut: a tenth of each class (one at least, none of a single image), disjoint, the same every time', () => {
  const labels = [...new Array(20).fill(0), ...new Array(10).fill(1), 2, ...new Array(5).fill(3)];
  const set = { count: labels.length, label: (i: number) => labels[i] };
  const { held, rest } = stratifiedHoldOut(set, 0.1);
  const perClass = (ids: number[]) => [0, 1, 2, 3].map((c) => ids.filter((i) => labels[i] === c).length);
  assert.deepEqual(perClass(held), [2, 1, 0, 1]);
  assert.deepEqual([...held, ...rest].sort((a, b) => a - b), labels.map((_, i) => i));
  assert.deepEqual(stratifiedHoldOut(set, 0.1), { held, rest });
  assert.notDeepEqual(stratifiedHoldOut(set, 0.1, 99).held, held, 'another seed holds out other images');
});

test('folder: without splits: the test images are never training images, and the statistics are the training images\'', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-holdout-'));
  for (const [c, name] of ['a', 'b'].entries()) {
    mkdirSync(join(dir, name));
    for (let i = 0; i < 10; i++) {
      await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: 20 * i, g: 100 * c, b: 7 } } }).png().toFile(join(dir, name, `${i}.png`));
    }
  }
  const data = await openDataset(`folder:${dir}`, { side: 12 });
  assert.equal(data.train.count, 18);
  assert.equal(data.test!.count, 2);
  assert.equal(data.train.files!.filter((f) => data.test!.files!.includes(f)).length, 0);
  assert.deepEqual([0, 1].map((c) => Array.from({ length: 2 }, (_, i) => data.test!.label(i)).filter((l) => l === c).length), [1, 1]);
  assert.deepEqual(data.stats, computeStats(data.train));
  assert.match(data.notes!.join('\n'), /2 of its 20 images .* are held out as the test set/);
});
