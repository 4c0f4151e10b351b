// Mini training speed in the page beside Node on the same machine, in one run, one after the
// other: the page in headless Chromium (WebGPU on SwiftShader, then the CPU in its worker) and
// Node (Dawn on llvmpipe, then the CPU backend), all on the bundled Fashion-MNIST subset with
// the same batch and seed through the library's training loop. Also the time from opening the
// page to its first training step. Where the page's CPU time goes, two more: the page with its
// Live panel hidden (nothing drawn while it trains), and Node with the data loader on the
// calling thread, as the page's worker has it. Prints one JSON object per measurement, then a
// Markdown table and the page's CPU rate over Node's.
//   node dist/bench/page.js [--batch 32] [--steps 40] [--gpu-steps 6] (--gpu-steps 0: the CPU only)
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Backend } from '../src/backend/backend.js';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend } from '../src/backend/webgpu/dawn.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { batchOutputFor } from '../src/train/feed.js';
import { newRunState, trainEpochs } from '../src/train/loop.js';
import { openTrainingData } from '../src/train/open_data.js';

const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const BATCH = flag('batch', 32);
const STEPS = flag('steps', 40);
const GPU_STEPS = flag('gpu-steps', 6);
const ROOT = new URL('../../', import.meta.url).pathname;
const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Result {
  where: string;
  backend: string;
  batch: number;
  steps: number;
  img_per_s: number;
  first_step_s?: number;
  /** On the CPU backend (else WebGPU). */
  cpu: boolean;
}

/** Images per second between the first and the last of `times` (ms, one per step): the first steps compile and warm up. */
const rate = (times: number[]) => {
  const t = times.slice(Math.min(2, times.length - 2));
  return ((t.length - 1) * BATCH * 1000) / (t.at(-1)! - t[0]);
};

async function inPage(url: string, webgpu: boolean, steps: number, undrawn = false): Promise<Result> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])] });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    if (undrawn) await page.addStyleTag({ content: '#live { display: none !important }' });
    await page.selectOption('select[name=backend]', webgpu ? 'webgpu' : 'cpu');
    await page.fill('input[name=batch]', String(BATCH));
    await page.click('#start');
    await page.waitForFunction((n) => (window as unknown as { alexnetLog: { message: { type: string } }[] }).alexnetLog.filter((e) => e.message.type === 'step').length >= n, steps, { timeout: 1_800_000, polling: 500 });
    const log = await page.evaluate(() => (window as unknown as { alexnetLog: { at: number; message: { type: string; name?: string } }[] }).alexnetLog);
    const times = log.filter((e) => e.message.type === 'step').map((e) => e.at);
    const backend = log.find((e) => e.message.type === 'backend')?.message.name ?? '?';
    const where = `page (headless Chromium)${undrawn ? ', Live panel hidden' : ''}`;
    return { where, backend, batch: BATCH, steps, img_per_s: rate(times), first_step_s: times[0] / 1000, cpu: !webgpu };
  } finally {
    await browser.close();
  }
}

async function inNode(backend: Backend, steps: number, workers = 1): Promise<Result> {
  const arch = architecture('mini');
  const data = await openTrainingData({
    spec: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, crop: 28, batch: BATCH, seed: 1, scale: arch.inputScale, workers, channels: 1, output: batchOutputFor(backend),
  });
  const net = new Net(backend, architecture('mini', data.input, data.classes.length), BATCH);
  net.initialize({ scheme: arch.defaultInit, seed: 1 });
  const state = newRunState({
    arch: 'mini', data: 'fashion-mnist', epochs: 2, batch: BATCH, lr: 0.01, schedule: 'cosine', momentum: 0.9, weightDecay: 5e-4, sgdForm: 'paper', seed: 1, checkpointEvery: 0, out: '',
  });
  const times: number[] = [];
  await trainEpochs(net, data, state, { report: (e) => e.event === 'step' && times.push(performance.now()), save: async () => {}, savedIn: '', shouldStop: () => times.length >= steps });
  await data.close();
  return { where: workers > 0 ? 'Node' : 'Node, loader on the calling thread', backend: backend.device, batch: BATCH, steps, img_per_s: rate(times), cpu: backend.name === 'cpu' };
}

const server = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'serve', '--port', '0']);
const url = await new Promise<string>((resolve) => server.stdout.on('data', (d) => /http:\/\/\S+/.test(String(d)) && resolve(/http:\/\/\S+/.exec(String(d))![0])));
const results: Result[] = [];
/** Node's CPU backend on every core, as the command line runs it. */
async function nodeCpu(workers: number): Promise<Result> {
  const cpu = new CpuBackend({ host: nodePoolHost });
  await cpu.start();
  try {
    return await inNode(cpu, STEPS, workers);
  } finally {
    cpu.dispose();
  }
}
try {
  for (const measure of [
    ...(GPU_STEPS > 0 ? [() => inPage(url, true, GPU_STEPS), async () => inNode((await createWebGpuBackend())!, GPU_STEPS)] : []),
    () => inPage(url, false, STEPS),
    () => nodeCpu(1),
    () => inPage(url, false, STEPS, true),
    () => nodeCpu(0),
  ]) {
    const r = await measure();
    results.push(r);
    console.log(JSON.stringify(r));
  }
} finally {
  server.kill();
}
console.log('\n| where | backend | batch | img/s | open to first step |\n|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.where} | ${r.backend} | ${r.batch} | ${r.img_per_s.toFixed(1)} | ${r.first_step_s === undefined ? '-' : `${r.first_step_s.toFixed(1)} s`} |`);
const cpuRate = (where: string) => results.find((r) => r.where === where && r.cpu)!.img_per_s;
console.log(JSON.stringify({ page_cpu_over_node_cpu: +(cpuRate('page (headless Chromium)') / cpuRate('Node')).toFixed(3) }));
