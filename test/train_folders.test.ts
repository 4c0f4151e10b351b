// alexnet train end to end on generated image folders, the class-per-folder and the ImageNet
// layouts, with bad files among the good ones: they are skipped and reported, training runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-folders-'));
const CLASSES = ['n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475'];

/** A 40x36 image whose colour and stripes depend on the class, with per-image noise. */
function image(cls: number, i: number): Promise<Buffer> {
  const w = 40;
  const h = 36;
  const pixels = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const stripe = (x + y * cls) % (cls + 2) === 0 ? 80 : 0;
      const at = (y * w + x) * 3;
      pixels[at] = (cls * 50 + stripe + ((x * 7 + i * 13) % 20)) % 256;
      pixels[at + 1] = (255 - cls * 40 + ((y * 5 + i) % 15)) % 256;
      pixels[at + 2] = (stripe * 2 + i * 3) % 256;
    }
  }
  const img = sharp(pixels, { raw: { width: w, height: h, channels: 3 } });
  return (i % 2 ? img.png() : img.jpeg()).toBuffer();
}

async function makeFolder(dir: string, perClass: number, names: string[]): Promise<void> {
  for (let c = 0; c < names.length; c++) {
    mkdirSync(join(dir, names[c]), { recursive: true });
    for (let i = 0; i < perClass; i++) writeFileSync(join(dir, names[c], `img${i}.${i % 2 ? 'png' : 'JPEG'}`), await image(c, i));
  }
  // Bad files: empty, not an image, and a truncated JPEG.
  writeFileSync(join(dir, names[0], 'empty.JPEG'), '');
  writeFileSync(join(dir, names[1], 'text.JPEG'), 'not an image at all');
  writeFileSync(join(dir, names[2], 'cut.JPEG'), (await image(2, 99)).subarray(0, 100));
}

/** `alexnet train` on `spec`; `--val 10` where the data has no validation split of its own (it is refused otherwise). */
function train(spec: string, { ownVal = false } = {}) {
  const r = spawnSync(process.execPath, [
    MAIN, 'train', '--arch', 'mini', '--data', spec, '--epochs', '2', '--batch', '8', ...(ownVal ? [] : ['--val', '10']),
    '--backend', 'cpu', '--json', '--no-report', '--out', join(root, `run-${spec.split(':')[0]}`),
  ], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { events: r.stdout.trim().split('\n').map((l) => JSON.parse(l)), stderr: r.stderr };
}

test('train --data folder:DIR (5 classes x 12 images, 3 bad files) runs end to end, tested on held-out images', async () => {
  const dir = join(root, 'folder');
  await makeFolder(dir, 12, ['cat', 'dog', 'emu', 'fox', 'gnu']);
  const { events, stderr } = train(`folder:${dir}`);
  const start = events[0];
  assert.equal(start.event, 'start');
  // 60 usable images (the 3 bad files skipped): one of each class's 12 held out for the test.
  assert.equal(start.train + start.val, 55);
  assert.equal(start.test, 5);
  assert.match(stderr, /has no test\/ or val\/ split: 5 of its 60 images \(10% of each class, a fixed seed\) are held out as the test set and never trained on/);
  assert.equal(events.filter((e) => e.event === 'epoch').length, 2);
  const done = events.at(-1);
  assert.equal(done.event, 'done');
  assert.equal(done.test_n, 5);
  assert.ok(done.test_top1 >= 0 && done.test_top1 <= 1);
  const inspect = spawnSync(process.execPath, [MAIN, 'data', 'inspect', `folder:${dir}`, '--json'], { encoding: 'utf8' });
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /empty\.JPEG/);
});

test('train --data imagenet:DIR (train/<wnid>/, val/ with ground truth, synset names) runs end to end', async () => {
  const dir = join(root, 'imagenet');
  await makeFolder(join(dir, 'train'), 10, CLASSES);
  mkdirSync(join(dir, 'val'), { recursive: true });
  const lines: string[] = [];
  for (let c = 0; c < CLASSES.length; c++) {
    for (let i = 0; i < 2; i++) {
      const name = `ILSVRC2012_val_${String(c * 2 + i + 1).padStart(8, '0')}.JPEG`;
      writeFileSync(join(dir, 'val', name), await image(c, 50 + i));
      lines.push(`${name} ${CLASSES[c]}`);
    }
  }
  writeFileSync(join(dir, 'val_labels.txt'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'LOC_synset_mapping.txt'), CLASSES.map((w, i) => `${w} class number ${i}`).join('\n') + '\n');
  const { events, stderr } = train(`imagenet:${dir}`, { ownVal: true });
  assert.match(stderr, /has no test split: its validation images are the test set/);
  const start = events[0];
  assert.equal(start.train, 50);
  assert.equal(start.val, 10, 'the ten val/ images are the validation set');
  assert.equal(events.at(-1).event, 'done');
  assert.equal(events.at(-1).test_n, 10);
});
