// What fine-tuning costs on the CPU (issue 22), two parts, each run --rounds times alternating:
//   node dist/bench/fine_tune_speed.js [--work DIR] [--rounds 2] [--parts kept,torchvision]
// kept: the mini of bench/transfer.js (trained on Fashion-MNIST's classes 0-4) taught classes 5-9
//   from 5,000 training images with `--freeze fc7 --augment none` (a linear probe on fc7), with
//   its frozen layers' outputs kept per image (the default) and with --no-cache-features: img/s
//   of each epoch (its records: training steps only) and the whole run's seconds (its `done`
//   line: data, training, validation, test, checkpoints).
// torchvision: `--from` a torchvision .pth written by Debian's torchvision (random weights) with
//   `--freeze conv5` (the classifier trains) on 320 generated 256x256 JPEGs of 4 classes, batch
//   32, at 224: img/s per training step (the median of the steps after the first 3, from the
//   --log-steps lines) with the frozen layers run every step (--no-cache-features) and with their
//   outputs kept (the second epoch's steps), beside PyTorch fine-tuning the same layers
//   (bench/torch_fine_tune_speed.py) on the same threads, both ways.
// One JSON line per run, then a Markdown table per part for BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { alexnetTrain, prepareTransferData, sourceRun, type TrainOutput } from './transfer_data.js';

const { values } = parseArgs({
  options: {
    work: { type: 'string', default: '/tmp/alexnet-transfer' },
    rounds: { type: 'string', default: '2' },
    parts: { type: 'string', default: 'kept,torchvision' },
    'source-epochs': { type: 'string', default: '3' },
  },
});
const work = values.work!;
const rounds = Number(values.rounds);
const parts = values.parts!.split(',');
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = new URL('../../bench/torch_fine_tune_speed.py', import.meta.url).pathname;
const THREADS = cpus().length;
const PROBE_IMAGES_PER_CLASS = 1000;
const PHOTO_CLASSES = 4;
const PHOTOS_PER_CLASS = { train: 80, val: 10, test: 10 }; // 320 training images: 10 batches of 32
const TV_BATCH = 32;
const WARMUP_STEPS = 3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fixed = (x: number, digits = 1) => x.toFixed(digits);

/** Seconds each step took, from --log-steps' cumulative img/s per epoch (step s ends s * batch / img_per_s after its epoch began). */
function stepSeconds(out: TrainOutput, batch: number): { epoch: number; step: number; seconds: number }[] {
  let before = 0;
  return out.steps.map((e) => {
    const end = (e.step * batch) / e.img_per_s;
    const seconds = e.step === 1 ? end : end - before;
    before = end;
    return { epoch: e.epoch, step: e.step, seconds };
  });
}

/** A 256x256 picture of class `c`: a hue and stripes per class, noise per image. */
function photo(c: number, i: number): Promise<Buffer> {
  const side = 256;
  const pixels = Buffer.alloc(side * side * 3);
  let state = (c * 7919 + i * 104729 + 1) >>> 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const stripe = ((c % 2 ? x : y) >> (3 + c)) % 2 ? 60 : 0;
      const at = (y * side + x) * 3;
      for (let ch = 0; ch < 3; ch++) pixels[at + ch] = Math.min(255, (ch === c % 3 ? 140 : 40) + stripe + ((state >>> (24 + ch * 2)) % 50));
    }
  }
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

async function photoFolder(dir: string): Promise<string> {
  if (!existsSync(join(dir, 'done'))) {
    for (const [split, count] of Object.entries(PHOTOS_PER_CLASS)) {
      for (let c = 0; c < PHOTO_CLASSES; c++) {
        mkdirSync(join(dir, split, `class-${c}`), { recursive: true });
        for (let i = 0; i < count; i++) writeFileSync(join(dir, split, `class-${c}`, `${i}.jpg`), await photo(c, i + (split === 'train' ? 0 : split === 'val' ? 1000 : 2000)));
      }
    }
    writeFileSync(join(dir, 'done'), '');
  }
  return `folder:${dir}`;
}

function torchvisionPth(path: string): string {
  if (existsSync(path)) return path;
  const script = `import torch, torchvision\ntorch.manual_seed(0)\ntorch.save(torchvision.models.alexnet().state_dict(), ${JSON.stringify(path)})`;
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`writing ${path} with torchvision: ${r.stderr}`);
  return path;
}

function torchSpeed(pth: string, kept: boolean): { img_per_s: number } {
  const args = [TORCH_SCRIPT, '--pth', pth, '--classes', String(PHOTO_CLASSES), '--batch', String(TV_BATCH), '--threads', String(THREADS), ...(kept ? ['--kept'] : [])];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${TORCH_SCRIPT}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const table = (head: string[], rows: string[][]) => ['', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

async function probe(): Promise<void> {
  const manifest = await prepareTransferData(work, [PROBE_IMAGES_PER_CLASS]);
  const source = sourceRun(work, manifest, Number(values['source-epochs']));
  const rows: string[][] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const cache of [true, false]) {
      const out = join(work, 'runs', `probe-${cache ? 'kept' : 'unkept'}`);
      rmSync(out, { recursive: true, force: true });
      const args = ['--from', source, '--freeze', 'fc7', '--augment', 'none', ...(cache ? [] : ['--no-cache-features']), '--data', manifest.targets[PROBE_IMAGES_PER_CLASS].spec, '--epochs', '3', '--out', out];
      const r = alexnetTrain(args);
      const epochs = r.epochs.map((e) => ({ img_per_s: e.img_per_s, seconds: e.seconds }));
      console.log(JSON.stringify({ part: 'kept', round, kept: cache, train: r.start.train, epochs, run_seconds: r.done.seconds, wall_s: r.wall, test_top1: r.done.test_top1, command: `alexnet train ${args.join(' ')}` }));
      rows.push([String(round), cache ? 'kept (default)' : '`--no-cache-features`', ...epochs.map((e) => `${fixed(e.img_per_s, 0)} (${fixed(e.seconds, 2)} s)`), fixed(r.done.seconds), fixed(r.wall), `${fixed(100 * r.done.test_top1, 2)}%`]);
      rmSync(out, { recursive: true, force: true });
    }
  }
  console.log(table(['round', 'frozen outputs', 'epoch 1 img/s (s)', 'epoch 2', 'epoch 3', 'run s (`done`)', 'process wall s', 'test top-1'], rows));
}

async function torchvision(): Promise<void> {
  const data = await photoFolder(join(work, 'photos'));
  const pth = torchvisionPth(join(work, 'torchvision-random.pth'));
  const rows: string[][] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const cache of [false, true]) {
      const out = join(work, 'runs', `tv-${cache ? 'kept' : 'unkept'}`);
      rmSync(out, { recursive: true, force: true });
      const args = ['--from', pth, '--freeze', 'conv5', '--augment', 'none', ...(cache ? [] : ['--no-cache-features']), '--data', data, '--epochs', '2', '--batch', String(TV_BATCH), '--log-steps', '--out', out];
      const r = alexnetTrain(args);
      const steps = stepSeconds(r, TV_BATCH).filter((s) => s.step <= Math.floor(r.start.train / TV_BATCH)); // full batches only
      // Every step after the warm-up when the frozen layers run each step; the second epoch's (on kept outputs) otherwise.
      const timed = cache ? steps.filter((s) => s.epoch === 2) : steps.slice(WARMUP_STEPS);
      const ours = TV_BATCH / median(timed.map((s) => s.seconds));
      const theirs = torchSpeed(pth, cache).img_per_s;
      console.log(JSON.stringify({ part: 'torchvision', round, kept: cache, ours_img_per_s: ours, timed_steps: timed.length, step_seconds: timed.map((s) => s.seconds), epochs: r.epochs.map((e) => e.img_per_s), run_seconds: r.done.seconds, torch_img_per_s: theirs, command: `alexnet train ${args.join(' ')}` }));
      rows.push([String(round), cache ? 'kept (ours: the second epoch; PyTorch: features computed beforehand)' : 'run every step (ours: `--no-cache-features`)', fixed(ours), fixed(theirs), `${fixed(ours / theirs, 2)}x`]);
      rmSync(out, { recursive: true, force: true });
    }
  }
  console.log(table(['round', 'frozen conv1-conv5', 'AlexNet.ts img/s', 'PyTorch img/s', 'ratio'], rows));
}

console.log(JSON.stringify({ machine: { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: THREADS, node: process.version }, work, rounds, parts }));
if (parts.includes('kept')) await probe();
if (parts.includes('torchvision')) await torchvision();
