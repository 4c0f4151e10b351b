// "Teach it your classes" (issue 22) in Chromium, on the CPU, with Chromium's made-up camera: a
// class from camera frames (held with the mouse and with the keyboard), a class from dropped
// PNGs, a third class removed after a question; a fine-tune from a weights file (the classifier
// only), live bars of the camera's image (one per class, summing to 1) and of a dropped photo;
// after a reload the classes and their images are there, a second fine-tune starts from the
// kept run, and its download (with its class names) scores the same images under `alexnet eval`
// and `alexnet predict` as the page did. The tests share one page, in order.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeIdx } from '../src/data/idx.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { encodePng } from '../src/report/png.js';
import { ARTIFACTS, dir, FAKE_CAMERA, MAIN, messages, openPage, ready, seriousFaults, servePage, skip, trainedWeights, waitFor, type Message } from './browser_harness.js';

servePage();

let page: Page;

/** The class cards as shown: each name and its count line. */
const shownClasses = (p: Page) =>
  p.locator('#class-list li').evaluateAll((cards) => cards.map((c) => ({ name: (c.querySelector('input[type=text]') as HTMLInputElement).value, count: c.querySelector('.count')!.textContent })));

/** The card of the class now named `name`. */
async function classCard(p: Page, name: string) {
  const at = (await shownClasses(p)).findIndex((c) => c.name === name);
  assert.ok(at >= 0, `no class named ${name}`);
  return p.locator('#class-list li').nth(at);
}

/** Fashion-MNIST test images `from` .. `from + n - 1` as 28 x 28 RGB PNGs. */
async function fashionPngs(from: number, n: number): Promise<{ name: string; bytes: Buffer }[]> {
  const images = await decodeIdx(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-images-idx3-ubyte.gz')), 't10k');
  return Array.from({ length: n }, (_, k) => {
    const grey = images.data.subarray((from + k) * 784, (from + k + 1) * 784);
    return { name: `fashion-${from + k}.png`, bytes: Buffer.from(encodePng(28, 28, Uint8Array.from({ length: 784 * 3 }, (_, i) => grey[Math.floor(i / 3)]))) };
  });
}

/** Drops `files` on the element `selector` names, as a drag from the desktop does. */
async function drop(p: Page, selector: string, files: { name: string; bytes: Buffer }[]): Promise<void> {
  await p.locator(selector).evaluate(
    (element, list) => {
      const transfer = new DataTransfer();
      for (const f of list) transfer.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
      element.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    },
    files.map((f) => ({ name: f.name, b64: f.bytes.toString('base64') })),
  );
}

async function rename(p: Page, from: string, to: string): Promise<void> {
  const input = (await classCard(p, from)).locator('input[type=text]');
  await input.fill(to);
  await input.press('Tab');
}

const count = async (p: Page, name: string) => Number((await (await classCard(p, name)).locator('.count').textContent())!.split(' ')[0]);
const lastOf = async (p: Page, type: string) => (await messages(p, type)).at(-1)!;
const probabilities = (m: Message) => Object.values(m.probabilities as Record<string, number>);

/** Teach with the form as it is; the run's 'done' message (a message the page shows instead fails the test). */
async function teachAndWait(p: Page): Promise<Message> {
  const done = (await messages(p, 'done')).length;
  await p.click('#teach-start');
  await p.waitForFunction(
    (n) => (window as unknown as { alexnetLog: { message: Message }[] }).alexnetLog.filter((e) => e.message.type === 'done').length > n || !document.getElementById('message')!.hidden,
    done,
    { timeout: 300_000 },
  );
  assert.equal(await p.evaluate(() => (document.getElementById('message')!.hidden ? null : document.getElementById('message')!.textContent)), null, 'the page said');
  return lastOf(p, 'done');
}

let photo: { name: string; bytes: Buffer };

test('two classes, from camera frames and from dropped PNGs, a third removed after a question; fine-tuned from a weights file; live bars, one per class, summing to 1', { skip }, async () => {
  page = await openPage(false, { width: 1280, height: 800 }, FAKE_CAMERA);
  await page.waitForFunction(() => document.querySelectorAll('#class-list li').length === 2);
  await rename(page, 'Class 1', 'camera');
  await rename(page, 'Class 2', 'clothes');

  await page.click('#camera-toggle');
  const hold = (await classCard(page, 'camera')).getByRole('button', { name: 'Hold to record camera frames into camera' });
  await page.waitForFunction(() => !(document.querySelector('#class-list .hold') as HTMLButtonElement).disabled);
  await hold.hover();
  await page.mouse.down();
  await page.waitForTimeout(2000);
  assert.equal(await hold.getAttribute('aria-pressed'), 'true', 'held: pressed');
  await page.mouse.up();
  await page.waitForTimeout(300);
  const byMouse = await count(page, 'camera');
  assert.ok(byMouse >= 5 && byMouse <= 11, `about 4 frames a second for 2 s: ${byMouse}`);
  // The keyboard holds it too: Space down, then up.
  await hold.focus();
  await page.keyboard.down(' ');
  await page.waitForTimeout(1000);
  await page.keyboard.up(' ');
  await page.waitForTimeout(300);
  const camera = await count(page, 'camera');
  assert.ok(camera >= byMouse + 3, `Space held for 1 s: ${camera - byMouse} more frames`);
  assert.equal(await hold.getAttribute('aria-pressed'), 'false', 'let go: not pressed');
  assert.equal(await (await classCard(page, 'camera')).locator('.class-thumbs img').count(), Math.min(camera, 24));

  const clothes = await fashionPngs(0, 10);
  photo = clothes.pop()!;
  await drop(page, '#class-list li:nth-child(2)', [...clothes, { name: 'notes.png', bytes: Buffer.from('not an image') }]);
  await page.waitForFunction(() => document.querySelector('#class-list li:nth-child(2) .count')!.textContent === '9 images');
  assert.match((await page.textContent('#message'))!, /^notes\.png: not a JPEG, PNG or WebP image \(starts with bytes 6e 6f 74 20 61 6e 20 69\); the other files were added$/);

  await page.click('#add-class');
  const focused = () => page.evaluate(() => (document.activeElement as HTMLInputElement).value);
  await page.waitForFunction(() => (document.activeElement as HTMLInputElement).value === 'Class 3', null, { timeout: 2000 }).catch(() => undefined);
  assert.equal(await focused(), 'Class 3', 'a new class takes the focus');
  await drop(page, '#class-list li:nth-child(3)', await fashionPngs(20, 4));
  await page.waitForFunction(() => document.querySelector('#class-list li:nth-child(3) .count')!.textContent === '4 images');
  const remove = page.getByRole('button', { name: 'Remove the class Class 3' });
  await remove.click();
  assert.equal(await page.textContent('#confirm-text'), 'Remove the class "Class 3" and its 4 images? This cannot be undone.');
  await page.getByRole('button', { name: 'Keep it' }).click();
  assert.equal(await page.locator('#class-list li').count(), 3, 'kept when the answer is Keep it');
  await remove.click();
  await page.locator('#confirm').getByRole('button', { name: 'Remove' }).click();
  assert.deepEqual(await shownClasses(page), [{ name: 'camera', count: `${camera} images` }, { name: 'clothes', count: '9 images' }]);

  await page.selectOption('#teach-form select[name=from]', 'file');
  await page.setInputFiles('#teach-form input[name=from-file]', trainedWeights());
  assert.equal(await page.inputValue('#teach-form select[name=freeze]'), 'conv5', 'the classifier only, by default');
  const done = await teachAndWait(page);
  assert.deepEqual(done.classes, ['camera', 'clothes'], 'the removed class is not trained');
  const notes = (await messages(page, 'notice')).map((m) => m.message as string);
  assert.ok(notes.some((n) => /^This run is fine-tuned from weights\.safetensors \(safetensors, SHA-256 [0-9a-f]{16}\.\.\.\): layers up to conv5 frozen, a new fc8/.test(n)), notes.join('\n'));
  const run = await lastOf(page, 'run');
  assert.equal((run.test as number) + (run.val as number) + (run.train as number), camera + 9, 'every image: trained on, validated or tested');
  assert.equal(done.n, run.test);
  assert.ok(notes.some((n) => n.includes(`${run.test} are held out as the test set`)), notes.join('\n'));
  assert.match((await page.textContent('#teach-status'))!, /^Done: test top-1 [\d.]+% on \d+ held-out images\./);

  // The camera's image, classified live: a bar per class, summing to 1, as the worker sent them.
  const asked = (await messages(page, 'bars')).length;
  await waitFor(page, 'bars', asked + 2, 60_000);
  const bars = await page.locator('#live-bars meter').evaluateAll((ms) => ms.map((m) => (m as HTMLMeterElement).value));
  const names = await page.locator('#live-bars .bar-name').allTextContents();
  assert.deepEqual(names, ['camera', 'clothes'], 'one bar per class');
  assert.ok(Math.abs(bars.reduce((a, b) => a + b, 0) - 1) < 1e-5, `the bars sum to ${bars.reduce((a, b) => a + b, 0)}`);
  const live = (await messages(page, 'bars')).filter((m) => m.source === 'camera');
  for (const m of live) assert.ok(Math.abs(probabilities(m).reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.ok(bars[0] > 0.5, `the camera's image is most likely "camera": ${bars.join(', ')}`);

  await drop(page, '#try-drop', [photo]);
  const answer = (await waitFor(page, 'bars', (await messages(page, 'bars')).length + 1)).filter((m) => m.source === photo.name);
  assert.equal(answer.length, 1);
  assert.equal(await page.locator('#photo-bars meter').count(), 2);
  assert.equal(await page.textContent('#photo-answer'), `${photo.name}: most likely clothes.`, 'a Fashion-MNIST image it never trained on');
  writeFileSync(join(ARTIFACTS, 'teach-1280.png'), await page.locator('#teach').screenshot());

  assert.deepEqual(await seriousFaults(page, '#teach'), []);
  for (const [width, height] of [[390, 844], [360, 740]]) {
    await page.setViewportSize({ width, height });
    const wide = await page.evaluate(() => [...document.querySelectorAll('#teach *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map((e) => e.tagName));
    assert.deepEqual(wide, [], `${width} px: past the right edge`);
    if (width === 390) writeFileSync(join(ARTIFACTS, 'teach-390.png'), await page.locator('#teach').screenshot());
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('after a reload the classes and their images are there; a fine-tune from the kept run; its download, with its class names, scores those images under alexnet eval and predict as the page did', { skip }, async () => {
  const before = await shownClasses(page);
  const first = ((await lastOf(page, 'runs')).runs as { id: string; name: string }[])[0];
  await page.reload();
  await ready(page);
  await page.waitForFunction((n) => document.querySelectorAll('#class-list li .count:not(:empty)').length === n, before.length);
  assert.deepEqual(await shownClasses(page), before, 'the same classes, names and image counts');
  assert.equal(await page.locator('#class-list li').first().locator('.class-thumbs img').count(), Math.min(Number(before[0].count!.split(' ')[0]), 24));

  await page.selectOption('#teach-form select[name=from]', `run:${first.id}`);
  const done = await teachAndWait(page);
  const notes = (await messages(page, 'notice')).map((m) => m.message as string);
  assert.ok(notes.some((n) => n.startsWith(`This run is fine-tuned from ${first.name} (run, SHA-256`) && n.endsWith("the source's fc8 kept (the same classes).")), notes.join('\n'));

  // The images the run trained on, as kept with it, written as class folders.
  const open = (await lastOf(page, 'runs')).open as string;
  const kept = await page.evaluate(async (id) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('alexnet-ts');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const get = db.transaction('runData').objectStore('runData').get(id);
    const classes = await new Promise<{ name: string; images: { name: string; bytes: Uint8Array }[] }[]>((resolve) => (get.onsuccess = () => resolve(get.result)));
    db.close();
    const base64 = (b: Uint8Array) => btoa(Array.from(b, (x) => String.fromCharCode(x)).join(''));
    return classes.map((c) => ({ name: c.name, images: c.images.map((i) => ({ name: i.name, b64: base64(i.bytes) })) }));
  }, open);
  assert.deepEqual(kept.map((c) => `${c.name}: ${c.images.length} images`), before.map((c) => `${c.name}: ${c.count}`));
  const folder = join(dir, 'teach-data');
  for (const c of kept) {
    mkdirSync(join(folder, c.name), { recursive: true });
    for (const i of c.images) writeFileSync(join(folder, c.name, i.name), Buffer.from(i.b64, 'base64'));
  }

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#teach-download')]);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const { metadata } = parseSafetensors(readFileSync(file), file);
  assert.equal(metadata.arch, 'mini');
  assert.deepEqual(JSON.parse(metadata.classes), ['camera', 'clothes'], 'the download names its classes');
  assert.ok(metadata.preprocessing, 'and says how its model takes its pixels');

  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [MAIN, ...args, '--weights', file, '--arch', 'mini', '--data', `folder:${folder}`, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').map((line) => JSON.parse(line));
  };
  const [scores] = cli(['eval']);
  assert.deepEqual({ top1: scores.top1, n: scores.n }, { top1: done.top1, n: done.n }, 'the same test images, scored the same');

  const photoFile = join(dir, photo.name);
  writeFileSync(photoFile, photo.bytes);
  const asked = (await messages(page, 'bars')).length;
  await drop(page, '#try-drop', [photo]);
  const bars = (await waitFor(page, 'bars', asked + 1)).at(-1)!;
  const [predicted] = cli(['predict', photoFile]);
  for (const t of predicted.top as { name: string; probability: number }[]) {
    const shown = probabilities(bars)[(bars.classes as string[]).indexOf(t.name)];
    assert.ok(Math.abs(shown - t.probability) < 1e-5, `${t.name}: the page ${shown}, alexnet predict ${t.probability}`);
  }
});
