// Links in folder: data: a loop (`l -> .`) or a link up (`-> ..`) is not followed (before, the
// first hung and the second labelled another class's images as this class), a link to
// /dev/zero is never read (before, memory grew without bound), a cycle of links outside the
// data set ends, and a link to an outside folder of images is followed, also one whose path
// begins with the data set's (`data-more` beside `data`: outside, though its name starts alike).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { scanFolder } from '../src/data/scan.js';

const png = (path: string, r: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g: 0, b: 0 } } }).png().toFile(path);

test('folder: links: loops, links up and into other classes, devices and outside cycles are skipped with reasons', async () => {
  const top = mkdtempSync(join(tmpdir(), 'alexnet-links-'));
  const data = join(top, 'data');
  const outside = join(top, 'outside');
  const beside = join(top, 'data-more');
  for (const d of ['cats', 'dogs']) mkdirSync(join(data, d), { recursive: true });
  mkdirSync(outside);
  mkdirSync(beside);
  await Promise.all([png(join(data, 'cats/c1.png'), 10), png(join(data, 'dogs/d1.png'), 20), png(join(data, 'dogs/d2.png'), 30), png(join(outside, 'o1.png'), 40), png(join(beside, 'm1.png'), 50)]);
  symlinkSync('.', join(data, 'cats/loop'));
  symlinkSync('..', join(data, 'cats/up'));
  symlinkSync('../dogs', join(data, 'cats/dogs-too'));
  symlinkSync('/dev/zero', join(data, 'cats/zero.png'));
  symlinkSync(join(data, 'dogs/d1.png'), join(data, 'cats/file-link.png'));
  symlinkSync(outside, join(data, 'cats/extra'));
  symlinkSync(beside, join(data, 'dogs/more'));
  symlinkSync(outside, join(outside, 'again')); // a cycle outside the data set

  const listing = await scanFolder(data);
  const train = listing.splits.train!;
  const files = train.files.map((f) => f.slice(data.length + 1));
  assert.deepEqual(files, ['cats/c1.png', 'cats/file-link.png', 'cats/extra/o1.png', 'dogs/d1.png', 'dogs/d2.png', 'dogs/more/m1.png']);
  assert.deepEqual(train.labels, [0, 0, 0, 1, 1, 1]);
  const reasons = Object.fromEntries(train.skipped.map((s) => [s.file, s.reason]));
  assert.deepEqual(reasons, {
    'cats/dogs-too': 'symbolic link to dogs, a folder of this data set: not followed',
    'cats/loop': 'symbolic link to cats, a folder of this data set: not followed',
    'cats/up': 'symbolic link to ., a folder of this data set: not followed',
    'cats/zero.png': 'symbolic link to something that is not a regular file (a device, FIFO or socket): not read',
    'cats/extra/again': 'folder already listed through another link (a cycle): not followed',
  });
});
