// The time from a click on a test image to what the net sees in it drawn in the page (issue 23:
// "the page shows activations and Grad-CAM within 300 ms of a click"): the mini net on the CPU
// backend in headless Chromium, after a short run (the time does not depend on how trained the
// net is). Each click is timed in the page, from the click to the frame after both panels (every
// layer's output, and the Grad-CAM and saliency overlays) are on their canvases; the next click
// waits until the worker has also answered the retrieval that a click asks for. Prints one JSON
// object per click, then the median.
//   node dist/bench/page_explain.js [--clicks 9] [--steps 20]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CLICKS = flag('clicks', 9);
const STEPS = flag('steps', 20);
const ROOT = new URL('../../', import.meta.url).pathname;
const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
type Log = { alexnetLog: { message: { type: string; name?: string } }[] };

const server = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'serve', '--port', '0']);
const url = await new Promise<string>((resolve) => server.stdout.on('data', (d) => /http:\/\/\S+/.test(String(d)) && resolve(/http:\/\/\S+/.exec(String(d))![0])));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
  await page.goto(url);
  await page.selectOption('select[name=backend]', 'cpu');
  await page.fill('input[name=batch]', '64');
  await page.click('#start');
  await page.waitForFunction((n) => (window as unknown as Log).alexnetLog.filter((e) => e.message.type === 'step').length >= n, STEPS, { timeout: 600_000, polling: 200 });
  await page.click('#stop');
  await page.waitForFunction(() => (window as unknown as Log).alexnetLog.some((e) => e.message.type === 'done'), null, { timeout: 600_000 });
  const backend = await page.evaluate(() => (window as unknown as Log).alexnetLog.filter((e) => e.message.type === 'backend').at(-1)?.message.name ?? '?');
  const times: number[] = [];
  for (let i = 0; i < CLICKS; i++) {
    const similar = await page.evaluate(() => (window as unknown as Log).alexnetLog.filter((e) => e.message.type === 'similar').length);
    const ms = await page.evaluate(
      (index) =>
        new Promise<number>((resolve) => {
          const start = performance.now();
          (document.querySelectorAll('#tests button')[index] as HTMLButtonElement).click();
          const drawn = () => document.querySelector('#test-prediction .explain .layers canvas') && document.querySelector('#test-prediction .explain .gradcam canvas');
          const check = () => (drawn() ? requestAnimationFrame(() => resolve(performance.now() - start)) : requestAnimationFrame(check));
          check();
        }),
      i,
    );
    await page.waitForFunction((n) => (window as unknown as Log).alexnetLog.filter((e) => e.message.type === 'similar').length > n, similar, { timeout: 600_000 });
    times.push(ms);
    console.log(JSON.stringify({ click: i, test_image: i, click_to_drawn_ms: +ms.toFixed(1) }));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(JSON.stringify({ net: 'mini', backend, where: 'page (headless Chromium)', clicks: CLICKS, median_click_to_drawn_ms: +median.toFixed(1), min_ms: +sorted[0].toFixed(1), max_ms: +sorted.at(-1)!.toFixed(1) }));
} finally {
  await browser.close();
  server.kill();
}
