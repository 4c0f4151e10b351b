#!/usr/bin/env node
// A screenshot of an element of an HTML file in headless Chromium (Debian's, driven by
// playwright-core), for the pictures in docs/:
//   node scripts/screenshot.mjs runs/RUN/report/index.html '#sees' docs/report-sees.png
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [html, selector, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/screenshot.mjs PAGE.html SELECTOR OUT.png');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(pathToFileURL(resolve(html)).href);
  await page.locator(selector).screenshot({ path: out });
  console.log(out);
} finally {
  await browser.close();
}
