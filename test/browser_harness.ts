// What the page's browser tests share: `alexnet serve` and Debian's Chromium, headless, driven by
// playwright-core (the system browser; nothing downloaded), the worker's message log, waits that
// fail on the page's own error messages, and pixel checks that look for what a view should show
// (a curve in the loss chart), not only that it is not blank.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodePng } from '../src/report/png.js';
import { skipUnless } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
export const ROOT = new URL('../../', import.meta.url).pathname;
export const MAIN = join(ROOT, 'dist/src/cli/main.js');
export const ARTIFACTS = join(ROOT, 'test-artifacts/browser');
export const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
export const dir = mkdtempSync(join(tmpdir(), 'alexnet-browser-'));
export const skip = skipUnless(existsSync(CHROMIUM), 'Chromium', "Chromium is not installed (apt-get install chromium); the browser tests drive Debian's");

const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: ChildProcess;
let url = '';
const browsers: Browser[] = [];

/** Starts `alexnet serve` before the file's tests and closes everything after them. */
export function servePage(): void {
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
}

/** Chromium's made-up camera (a moving test pattern), allowed without asking. */
export const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/** A fresh page (its own profile: empty IndexedDB), with WebGPU on SwiftShader or without WebGPU; `args`: more flags. */
export async function openPage(webgpu: boolean, viewport = { width: 1280, height: 1500 }, args: string[] = []): Promise<Page> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...args] });
  browsers.push(browser);
  const page = await (await browser.newContext({ viewport, acceptDownloads: true })).newPage();
  await page.goto(url);
  await ready(page);
  return page;
}

/** The page has said its backend and listed its kept runs. */
export async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('backend')!.textContent !== 'starting…', null, { timeout: 120_000 });
  await waitFor(page, 'runs');
}

export type Message = { type: string; [key: string]: unknown };
export const messages = (page: Page, type: string) =>
  page.evaluate((t) => (window as unknown as { alexnetLog: { message: Message }[] }).alexnetLog.map((e) => e.message).filter((m) => m.type === t), type) as Promise<Message[]>;

/** Waits for the `count`th message of `type`; an error message arriving meanwhile fails the test. */
export async function waitFor(page: Page, type: string, count = 1, timeout = 600_000): Promise<Message[]> {
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

/** The last state the worker reported. */
export const lastState = async (page: Page) => (await messages(page, 'state')).at(-1)?.state;

export async function waitForState(page: Page, state: string, timeout = 300_000): Promise<void> {
  await page.waitForFunction((s) => (window as unknown as { alexnetLog: { message: Message }[] }).alexnetLog.filter((e) => e.message.type === 'state').at(-1)?.message.state === s, state, { timeout });
}

export async function pause(page: Page): Promise<void> {
  await page.click('#pause');
  await page.waitForFunction(() => !(document.getElementById('resume') as HTMLButtonElement).disabled, null, { timeout: 300_000 });
}

export async function startTraining(page: Page, o: { batch: number; epochs: number; seed: number; backend?: 'auto' | 'webgpu' | 'cpu'; name?: string }): Promise<void> {
  await page.selectOption('select[name=backend]', o.backend ?? 'auto');
  await page.fill('input[name=name]', o.name ?? '');
  await page.fill('input[name=batch]', String(o.batch));
  await page.fill('input[name=epochs]', String(o.epochs));
  await page.fill('input[name=seed]', String(o.seed));
  await page.click('#start');
}

/** A kept run's button in the Runs list ("Open", "Resume", "Download", "Delete"), by the run's name. */
export const runButton = (page: Page, action: string, name: string) => page.getByRole('button', { name: `${action} ${name}`, exact: true });

/** The page's one message: shown, and matching `pattern` (the last one said, after a wait). */
export async function assertMessage(page: Page, pattern: RegExp): Promise<void> {
  const shown = () => page.evaluate(() => (document.getElementById('message')!.hidden ? '' : document.getElementById('message')!.textContent));
  await page.waitForFunction(([source, flags]) => {
    const m = document.getElementById('message')!;
    return !m.hidden && new RegExp(source, flags).test(m.textContent ?? '');
  }, [pattern.source, pattern.flags] as const, { timeout: 300_000 }).catch(() => undefined);
  assert.match((await shown()) ?? '', pattern);
}

/** axe-core's serious and critical findings on the page (or within `scope`, a selector), one line each. */
export async function seriousFaults(page: Page, scope?: string): Promise<string[]> {
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
  return page.evaluate(async (within) => {
    const axe = (window as unknown as { axe: { run(c?: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const { violations } = await (within ? axe.run(within) : axe.run());
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }, scope);
}

/** An element's screenshot, kept as an artifact. */
export async function shoot(page: Page, selector: string, name: string): Promise<Buffer> {
  const png = await page.locator(selector).screenshot();
  writeFileSync(join(ARTIFACTS, `${name}.png`), png);
  return png;
}

/**
 * The training curve in a screenshot of the loss chart (an SVG 520 x 320 units, report/charts.ts's
 * lineChart): pixels of the train series' colour inside the plot area, the legend left out, and
 * the plot columns they cover. A chart that was never drawn, or drawn without points, has none.
 */
export async function curvePixels(png: Buffer): Promise<{ pixels: number; columns: number; plotColumns: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const scale = info.width / 520;
  const [left, right, top, bottom] = [60, 500, 36, 272].map((v) => Math.round(v * scale));
  const legend = { x: Math.round(360 * scale), y: Math.round(80 * scale) };
  const columns = new Set<number>();
  let pixels = 0;
  for (let y = top; y < Math.min(bottom, info.height); y++) {
    for (let x = left; x < right; x++) {
      if (x >= legend.x && y <= legend.y) continue;
      const i = 3 * (y * info.width + x);
      // #1f77b4, the first series' colour, also where antialiasing blends a thin line with white;
      // not the validation series' red, the grid's grey or the text's black.
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if (b - r >= 50 && b >= g) {
        pixels++;
        columns.add(x);
      }
    }
  }
  return { pixels, columns: columns.size, plotColumns: right - left };
}

let trained = '';
/** Weights of a mini net trained briefly in Node, so that classification has something to say. */
export function trainedWeights(): string {
  if (trained) return trained;
  const run = join(dir, 'trained');
  const r = spawnSync(process.execPath, [MAIN, 'train', '--arch', 'mini', '--data', DATA, '--limit', '800', '--epochs', '1', '--backend', 'cpu', '--no-report', '--json', '--out', run], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const checkpoint = JSON.parse(readFileSync(join(run, 'checkpoints/latest.json'), 'utf8')).checkpoint;
  trained = join(run, 'checkpoints', checkpoint, 'weights.safetensors');
  return trained;
}

/** Two PNGs: a Fashion-MNIST test image as 28 x 28 RGB, and a larger colour one that must be resized. */
export async function pngs(): Promise<string[]> {
  const { decodeIdx } = await import('../src/data/idx.js');
  const images = await decodeIdx(readFileSync(join(BUNDLED_FASHION_MNIST, 't10k-images-idx3-ubyte.gz')), 't10k');
  const grey = images.data.subarray(7 * 784, 8 * 784);
  const first = join(dir, 'test-image.png');
  writeFileSync(first, encodePng(28, 28, Uint8Array.from({ length: 784 * 3 }, (_, i) => grey[Math.floor(i / 3)])));
  const second = join(dir, 'colour.png');
  writeFileSync(second, encodePng(45, 37, Uint8Array.from({ length: 45 * 37 * 3 }, (_, i) => (i * 37 + (i % 3) * 90) % 256)));
  return [first, second];
}

/** A canvas's pixels as RGB bytes, as the page drew them. */
export const canvasRgb = (page: Page, selector: string) =>
  page.locator(selector).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, rgb: Array.from({ length: c.width * c.height * 3 }, (_, i) => d[4 * Math.floor(i / 3) + (i % 3)]) };
  });
