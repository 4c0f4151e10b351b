// The page as a person uses it (issue 25), on the CPU in Chromium: every run kept and never
// replaced, a run drawn back exactly as it was saved, the status true, the fields checked with
// the command line's messages, answers shown where the person looks and saying what the model
// knows, and the page usable at 360 px, by keyboard and by a screen reader (axe-core finds no
// serious fault). The tests share one page, in order: one run trained to a stop, one paused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { decodeRgb } from '../src/data/decode.js';
import { storedImage, toChannels } from '../src/data/pixels.js';
import {
  ARTIFACTS, assertMessage, canvasRgb, curvePixels, MAIN, messages, openPage, pause, pngs, ready, runButton, seriousFaults, servePage, shoot, skip, startTraining, trainedWeights, waitFor,
} from './browser_harness.js';

servePage();

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
let page: Page;
type Run = { id: string; name: string; step: number; top1: number | null; savedAt: string };
const lastRuns = async (p: Page) => (await messages(p, 'runs')).at(-1)!.runs as Run[];

test('every field is checked as alexnet train checks it, with its message, and nothing starts', { skip }, async () => {
  page = await openPage(false, { width: 1280, height: 800 });
  const cases: [string, string][] = [['batch', '0'], ['lr', '-1'], ['lr', '0'], ['lr', 'NaN'], ['lr', '1e999'], ['epochs', ''], ['seed', '-1'], ['seed', '1.5']];
  for (const [name, value] of cases) {
    const cli = spawnSync(process.execPath, [MAIN, 'train', `--${name}=${value}`], { encoding: 'utf8' });
    assert.equal(cli.status, 2, cli.stderr);
    await page.fill(`input[name=${name}]`, value);
    await page.click('#start');
    assert.equal(await page.textContent(`#${name}-error`), cli.stderr.trim().replace(/^alexnet: /, ''), `${name} ${JSON.stringify(value)}`);
    assert.equal(await page.getAttribute(`input[name=${name}]`, 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).name), name, 'the bad field has the focus');
    await page.fill(`input[name=${name}]`, { batch: '32', lr: '0.01', epochs: '2', seed: '1' }[name]!);
  }
  assert.equal((await messages(page, 'run')).length, 0, 'no run started');
});

let first: { loss: string; accuracy: string; filters: Awaited<ReturnType<typeof canvasRgb>>; status: string; scores: string; savedAt: string };

test('a stopped run says where it stopped, is scored, and its view shows its curve and filters', { skip }, async () => {
  await startTraining(page, { batch: 64, epochs: 2, seed: 4, backend: 'cpu', name: 'first' });
  await waitFor(page, 'epoch');
  const steps = await waitFor(page, 'step', (await messages(page, 'step')).length + 3);
  assert.equal(await page.isDisabled('#start'), true);
  assert.equal(await runButton(page, 'Open', 'first').isDisabled(), true, 'no opening a run over a training one');
  assert.equal(await runButton(page, 'Resume', 'first').isDisabled(), true);
  await page.click('#stop');
  const [done] = await waitFor(page, 'done');
  const last = (await messages(page, 'step')).at(-1)!;
  assert.equal(last.epoch, 2);
  assert.ok((last.step as number) >= 3);
  const perEpoch = steps[0].steps as number;
  assert.equal(await page.textContent('#status'), `Stopped after 1 epoch and ${last.step} steps of 2 (${perEpoch} steps each). Test top-1 ${pct(done.top1 as number)}.`);
  const curve = await curvePixels(await shoot(page, '#loss-chart', 'page-loss-stopped'));
  assert.ok(curve.columns >= 0.8 * curve.plotColumns, `the curve covers ${curve.columns} of ${curve.plotColumns} plot columns`);
  // The filters drawn are the last ones the worker sent, and they are not a flat grey.
  const filters = await canvasRgb(page, '#filters');
  const sent = (await messages(page, 'filters')).at(-1)!.picture as { width: number; height: number; rgb: Record<string, number> };
  assert.deepEqual(filters, { width: sent.width, height: sent.height, rgb: Object.values(sent.rgb) });
  assert.ok(new Set(filters.rgb).size > 30, 'the kernels show many grey levels');
  const [run] = await lastRuns(page);
  assert.equal(run.name, 'first');
  first = {
    loss: await page.innerHTML('#loss-chart'), accuracy: await page.innerHTML('#accuracy-chart'), filters, status: (await page.textContent('#status'))!,
    scores: (await page.textContent('#scores'))!, savedAt: run.savedAt,
  };
  assert.match(first.accuracy, /class="point" data-series="top-1"/, 'the epoch ended: its validation point is drawn');
});

test('an answer about a test image appears below it, in view, with the image as the net sees it and what the model knows', { skip }, async () => {
  await page.locator('#tests button').nth(3).click();
  await waitFor(page, 'prediction');
  const box = (await page.locator('#test-prediction .top5').boundingBox())!;
  const height = page.viewportSize()!.height;
  assert.ok(box.y >= 0 && box.y + box.height <= height, `the top 5 is at y ${box.y.toFixed(0)}..${(box.y + box.height).toFixed(0)}, the view is 0..${height}`);
  assert.match((await page.textContent('#test-prediction .knows'))!, /^Trained on Fashion-MNIST.*It knows only these 10 classes: T-shirt\/top, Trouser, .*28 × 28 grey pixels/);
  const view = await canvasRgb(page, '#test-prediction .net-view canvas');
  assert.deepEqual([view.width, view.height], [28, 28]);
});

test('a second run is kept beside the first; a reload mid-run keeps its last steps', { skip }, async () => {
  await startTraining(page, { batch: 32, epochs: 1, seed: 5, backend: 'cpu', name: 'second' });
  const before = (await messages(page, 'step')).length;
  const steps = await waitFor(page, 'step', before + 12);
  // While it trains, the loss chart is redrawn (once a second): its curve is there, in pixels.
  const epochs = (await messages(page, 'epoch')).length;
  await page.waitForFunction(() => document.querySelectorAll('#loss-chart circle[data-series="train (steps)"]').length >= 2, null, { timeout: 4_000 });
  assert.equal((await messages(page, 'epoch')).length, epochs, 'drawn by a step, before the epoch ended');
  const curve = await curvePixels(await shoot(page, '#loss-chart', 'page-loss-training'));
  assert.ok(curve.pixels >= 60, `no curve in the loss chart while training: ${JSON.stringify(curve)}`);
  // The page is hidden (another tab, a phone's home screen): the run saves at its next step.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const [saved] = (await waitFor(page, 'saved', (await messages(page, 'saved')).length + 1, 10_000)).slice(-1);
  assert.ok((saved.step as number) >= (steps.at(-1)!.done as number), `saved at step ${saved.step}, after step ${steps.at(-1)!.done}`);
  await page.reload();
  await ready(page);
  const runs = await lastRuns(page);
  assert.deepEqual(runs.map((r) => r.name).sort(), ['first', 'second']);
  const one = runs.find((r) => r.name === 'first')!;
  assert.equal(one.savedAt, first.savedAt, 'the first run untouched');
  assert.ok(runs.find((r) => r.name === 'second')!.step >= (saved.step as number));
});

test('a finished run opens exactly as it was saved: curves, filters, status and scores, not scored again, its date kept', { skip }, async () => {
  await runButton(page, 'Open', 'first').click();
  await waitFor(page, 'done');
  assert.equal((await messages(page, 'scoring')).length, 0, 'not scored again');
  assert.equal((await messages(page, 'saved')).length, 0, 'nothing written');
  assert.equal(await page.innerHTML('#loss-chart'), first.loss);
  assert.equal(await page.innerHTML('#accuracy-chart'), first.accuracy);
  assert.deepEqual(await canvasRgb(page, '#filters'), first.filters);
  assert.equal(await page.textContent('#status'), first.status);
  assert.equal(await page.textContent('#scores'), first.scores);
  assert.equal((await lastRuns(page)).find((r) => r.name === 'first')!.savedAt, first.savedAt);
  assert.equal(await page.inputValue('input[name=epochs]'), '2');
});

test('a resumed run goes on with its whole history and its own settings in the form', { skip }, async () => {
  const kept = (await lastRuns(page)).find((r) => r.name === 'second')!;
  await runButton(page, 'Resume', 'second').click();
  const [run] = (await waitFor(page, 'run', 2)).slice(-1);
  assert.equal(Object.keys(run.losses as object).length, kept.step, 'one loss for each step taken before the reload');
  assert.equal(await page.inputValue('input[name=epochs]'), '1');
  assert.equal(await page.inputValue('input[name=name]'), 'second');
  const steps = await waitFor(page, 'step', 5);
  assert.equal(steps[0].done, kept.step + 1);
  await pause(page);
  const n = (await messages(page, 'saved')).at(-1)!.step as number;
  const drawn = await page.locator('#loss-chart circle[data-series="train (steps)"]').count();
  assert.equal(drawn, Array.from({ length: n }, (_, i) => i % 10 === 0 || i === n - 1).filter(Boolean).length, `the curve has a point for every 10th of ${n} steps`);
});

test('an image of yours: the answer says what the model knows and shows the image as the net sees it; the same file twice, and a new architecture re-reads the weights', { skip }, async () => {
  const [, colour] = await pngs();
  const predictions = (await messages(page, 'prediction')).length;
  await page.setInputFiles('#image', colour);
  await waitFor(page, 'prediction', predictions + 1);
  assert.equal(await page.inputValue('#image'), '', 'the input is emptied, so that the same file picked again is read again');
  assert.match((await page.textContent('#prediction .knows'))!, /^Trained on Fashion-MNIST: small grey photos of clothes .* only these 10 classes/);
  const decoded = await decodeRgb(readFileSync(colour));
  assert.ok(decoded.ok);
  const grey = toChannels(storedImage(decoded.rgb, decoded.width, decoded.height, 28), 28 * 28, 1);
  const view = await canvasRgb(page, '#prediction .net-view canvas');
  assert.deepEqual({ ...view, rgb: view.rgb.filter((_, i) => i % 3 === 0) }, { width: 28, height: 28, rgb: Array.from(grey) });
  await page.setInputFiles('#image', colour);
  await waitFor(page, 'prediction', predictions + 2);

  await page.setInputFiles('#weights', trainedWeights());
  await waitFor(page, 'weights');
  await page.selectOption('#weights-arch', 'paper');
  await assertMessage(page, /^weights\.safetensors: tensor "conv1\.weight": expected shape \[96, 3, 11, 11\], found \[48, 1, 5, 5\]$/);
});

test('a run is deleted only after a question', { skip }, async () => {
  await runButton(page, 'Delete', 'first').click();
  assert.match((await page.textContent('#confirm-text'))!, /^Delete "first" \(mini on Fashion-MNIST subset, 1 of 2 epochs, test top-1/);
  await page.getByRole('button', { name: 'Keep it' }).click();
  assert.equal(await page.locator('#run-list li').count(), 2);
  await runButton(page, 'Delete', 'first').click();
  const count = (await messages(page, 'runs')).length;
  await page.locator('#confirm').getByRole('button', { name: 'Delete' }).click();
  await waitFor(page, 'runs', count + 1);
  assert.deepEqual((await lastRuns(page)).map((r) => r.name), ['second']);
});

test('at 390 and 360 px wide nothing is cut off and the Live panel comes after Train', { skip }, async () => {
  for (const [width, height] of [[390, 844], [360, 740]]) {
    await page.setViewportSize({ width, height });
    const layout = await page.evaluate(() => {
      const top = (id: string) => document.getElementById(id)!.getBoundingClientRect().top;
      const controls = [...document.querySelectorAll('button, input, select')].filter((e) => (e as HTMLElement).offsetParent !== null);
      const cut = controls.filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth).map((e) => e.id || e.getAttribute('name') || e.textContent);
      const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5);
      return { scroll: document.documentElement.scrollWidth, cut, order: ['train', 'live', 'runs', 'classify'].map(top), wide: wide.slice(0, 6).map((e) => `${e.tagName}#${e.id}.${e.className}`) };
    });
    await page.screenshot({ path: join(ARTIFACTS, `page-${width}.png`), fullPage: true });
    assert.ok(layout.scroll <= width, `${width} px: the page is ${layout.scroll} px wide (${layout.wide.join(', ')})`);
    assert.deepEqual(layout.cut, [], `${width} px: controls past the right edge`);
    assert.deepEqual([...layout.order].sort((a, b) => a - b), layout.order, `${width} px: Train, Live, Runs, Classify in that order`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('every control is reached with Tab, shows its focus, and works from the keyboard', { skip }, async () => {
  await runButton(page, 'Open', 'second').focus(); // the open run is paused: a finished one has test images
  const runs = (await messages(page, 'run')).length;
  await page.keyboard.press('Enter');
  await waitFor(page, 'run', runs + 1);
  const done = (await messages(page, 'done')).length;
  await page.click('#stop');
  await waitFor(page, 'done', done + 1);
  await page.click('h1'); // Tab goes on from the top of the page
  const reached: string[] = [];
  for (let i = 0; i < 90; i++) {
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      const style = getComputedStyle(e);
      return { name: e.id || e.getAttribute('name') || e.getAttribute('aria-label') || e.tagName, outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
    });
    if (focus.name === 'BODY') break;
    assert.ok(focus.outline, `${focus.name} has no visible focus`);
    reached.push(focus.name);
  }
  for (const want of ['name', 'batch', 'start', 'Open second', 'Delete second', 'pick-image', 'weights-arch', 'weights']) assert.ok(reached.includes(want), `Tab never reaches ${want}: ${reached.join(', ')}`);
  assert.ok(reached.some((r) => r.startsWith('Test image 0')), 'Tab reaches the test images');
  const before = (await messages(page, 'prediction')).length;
  await page.locator('#tests button').first().focus();
  await page.keyboard.press('Enter');
  await waitFor(page, 'prediction', before + 1);
});

test('axe-core finds no serious accessibility fault; a load asks for nothing that is not there', { skip }, async () => {
  const failed: string[] = [];
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  page.on('console', (m) => m.type() === 'error' && failed.push(m.text()));
  const done = (await messages(page, 'done')).length;
  await runButton(page, 'Open', 'second').click();
  await waitFor(page, 'done', done + 1);
  assert.deepEqual(await seriousFaults(page), []);
  await page.reload();
  await ready(page);
  await page.waitForTimeout(500);
  assert.deepEqual(failed, []);
});
