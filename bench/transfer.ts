// Transfer on data we have (issue 22): the mini net trained on Fashion-MNIST's classes 0-4
// (clothes) fine-tuned on classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) with K training
// images per class, scored on all 5,000 test images of classes 5-9; four recipes (from scratch,
// --freeze fc7, --freeze conv5, every layer), each with PyTorch doing the same beside it
// (bench/torch_transfer.py), over several seeds.
//   node dist/bench/transfer.js [--work DIR] [--sizes 5,20,100] [--seeds 1,2,3]
//     [--recipes scratch,fc7,conv5,all] [--steps 200] [--batch 25] [--source-epochs 3]
//     [--frameworks ours,pytorch] [--table]
// Data (bench/transfer_data.ts) and the source run are made once under --work and reused. Every
// run is `alexnet train` as a user types it: no augmentation (--augment none), a constant rate,
// PyTorch's SGD form, momentum 0.9, weight decay 5e-4, one batch size; lr 0.001 for a fine-tune
// (its new fc8 at 10x) and 0.01 (the mini's) from scratch. Each run takes about --steps steps
// (epochs = steps / batches per epoch). One JSON line per run, appended to WORK/results.jsonl; at
// the end (or with --table alone) the mean and range over seeds of every size and recipe in that
// file, ours beside PyTorch, as JSON lines and a Markdown table for BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { architecture } from '../src/nn/architectures.js';
import { alexnetTrain, latestCheckpoint, prepareTransferData, sourceRun, type Manifest } from './transfer_data.js';

const RECIPES: Record<string, { freeze?: string; scratch?: boolean; label: string }> = {
  scratch: { scratch: true, label: 'from scratch' },
  fc7: { freeze: 'fc7', label: '`--freeze fc7` (fc8 alone)' },
  conv5: { freeze: 'conv5', label: '`--freeze conv5` (fc6-fc8)' },
  all: { label: 'every layer (`--from` alone)' },
};
const FINE_TUNE_LR = 0.001;
const SCRATCH_LR = 0.01;
const LR_MULT_NEW = 10;
const SGD = { momentum: 0.9, weightDecay: 5e-4 };

const { values } = parseArgs({
  options: {
    work: { type: 'string', default: '/tmp/alexnet-transfer' },
    sizes: { type: 'string', default: '5,20,100' },
    seeds: { type: 'string', default: '1,2,3' },
    recipes: { type: 'string', default: Object.keys(RECIPES).join(',') },
    steps: { type: 'string', default: '200' },
    batch: { type: 'string', default: '25' },
    'source-epochs': { type: 'string', default: '3' },
    frameworks: { type: 'string', default: 'ours,pytorch' },
    table: { type: 'boolean', default: false },
  },
});
const numbers = (s: string) => s.split(',').map(Number);
const work = values.work!;
const sizes = numbers(values.sizes!);
const seeds = numbers(values.seeds!);
const recipes = values.recipes!.split(',').filter((r) => RECIPES[r] ?? (() => { throw new Error(`--recipes: unknown recipe ${r}`); })());
const batch = Number(values.batch);
const frameworks = values.frameworks!.split(',');
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = new URL('../../bench/torch_transfer.py', import.meta.url).pathname;
const RESULTS = join(work, 'results.jsonl');

interface Result {
  framework: 'ours' | 'pytorch';
  size: number;
  recipe: string;
  seed: number;
  test_top1: number;
  steps: number;
  seconds: number;
}

/** The epochs that give K-per-class training images about `steps` steps. */
function epochsFor(size: number): number {
  return Math.max(1, Math.round(Number(values.steps) / Math.ceil((size * 5) / batch)));
}

function ourArgs(manifest: Manifest, source: string, size: number, recipe: string, seed: number, out: string): string[] {
  const r = RECIPES[recipe];
  const common = ['--data', manifest.targets[size].spec, '--epochs', String(epochsFor(size)), '--batch', String(batch), '--seed', String(seed),
    '--augment', 'none', '--lr-schedule', 'constant', '--sgd-form', 'pytorch', '--momentum', String(SGD.momentum), '--weight-decay', String(SGD.weightDecay), '--out', out];
  if (r.scratch) return ['--arch', 'mini', '--lr', String(SCRATCH_LR), ...common];
  return ['--from', source, ...(r.freeze ? ['--freeze', r.freeze] : []), '--lr', String(FINE_TUNE_LR), '--lr-mult-new', String(LR_MULT_NEW), ...common];
}

function record(r: Result & Record<string, unknown>): void {
  console.log(JSON.stringify(r));
  appendFileSync(RESULTS, JSON.stringify(r) + '\n');
}

/** Runs ours for every seed and recipe of `size`; returns PyTorch's checks (our seed-1 weights). */
function runOurs(manifest: Manifest, source: string, size: number) {
  const checks = [];
  for (const seed of seeds) {
    for (const recipe of recipes) {
      const out = join(work, 'runs', `${size}-${recipe}-${seed}`);
      rmSync(out, { recursive: true, force: true }); // a run of an earlier invocation
      const args = ourArgs(manifest, source, size, recipe, seed, out);
      const { start, epochs, done, wall } = alexnetTrain(args);
      const steps = epochs.length * Math.ceil(start.train / batch);
      record({ framework: 'ours', size, recipe, seed, test_top1: done.test_top1, test_n: done.test_n, steps, seconds: wall, command: `alexnet train ${args.join(' ')}` });
      if (seed === seeds[0]) checks.push({ size, recipe, seed, weights: join(latestCheckpoint(out), 'weights.safetensors'), train: manifest.targets[size].train, ours: done.test_top1 });
      else rmSync(out, { recursive: true, force: true });
    }
  }
  return checks;
}

/** PyTorch's runs of `size` (and its scoring of our weights), in one process. */
function runTorch(manifest: Manifest, source: string, size: number, checks: object[]): void {
  const model = JSON.parse(readFileSync(join(latestCheckpoint(source), 'state.json'), 'utf8')).model;
  const tuned = architecture('mini', model.input, 5);
  const scratch = architecture('mini', [3, 28, 28], 5);
  const spec = {
    fashionMnist: manifest.fashionMnist, test: manifest.test, labelOffset: manifest.labelOffset, threads: cpus().length, batch, ...SGD,
    source: { weights: join(latestCheckpoint(source), 'weights.safetensors'), layers: tuned.layers, input: tuned.input, mean: model.channelMean, scale: [model.scale] },
    scratch: { layers: scratch.layers, input: scratch.input, scale: scratch.inputScale },
    runs: seeds.flatMap((seed) => recipes.map((recipe) => ({
      size, recipe, seed, train: manifest.targets[size].train, freeze: RECIPES[recipe].freeze ?? null,
      lr: RECIPES[recipe].scratch ? SCRATCH_LR : FINE_TUNE_LR, lrMultNew: LR_MULT_NEW, epochs: epochsFor(size),
    }))),
    checks,
  };
  const path = join(work, `torch-spec-${size}.json`);
  writeFileSync(path, JSON.stringify(spec));
  const r = spawnSync(PYTHON, [TORCH_SCRIPT, path], { encoding: 'utf8', maxBuffer: 2 ** 28 });
  if (r.status !== 0) throw new Error(`${TORCH_SCRIPT}: exit ${r.status}\n${r.stderr}`);
  for (const line of r.stdout.trim().split('\n')) {
    const out = JSON.parse(line);
    if (out.check) {
      console.log(JSON.stringify({ ...out, weights: `ours, seed ${out.seed}`, agree: Math.abs(out.ours - out.scored_by_pytorch) <= 0.001 }));
      // Our weights must score the same in PyTorch's pipeline (the same images, preprocessing and net).
      if (Math.abs(out.ours - out.scored_by_pytorch) > 0.001) throw new Error(`PyTorch scores our ${out.recipe} run at ${out.scored_by_pytorch}, we at ${out.ours}: the two pipelines differ`);
    } else record(out);
  }
}

const pct = (x: number) => (100 * x).toFixed(1);

/** Mean and range over seeds per size and recipe, from every result recorded under --work (the latest per run). */
function table(): void {
  const latest = new Map<string, Result>();
  for (const line of readFileSync(RESULTS, 'utf8').trim().split('\n')) {
    const r = JSON.parse(line) as Result;
    latest.set(`${r.framework}/${r.size}/${r.recipe}/${r.seed}`, r);
  }
  const rows = ['| images per class | recipe | steps | AlexNet.ts test top-1, mean (range) | PyTorch, mean (range) | ours - PyTorch |', '|---|---|---|---|---|---|'];
  const all = [...latest.values()];
  for (const size of [...new Set(all.map((r) => r.size))].sort((a, b) => a - b)) {
    for (const recipe of Object.keys(RECIPES)) {
      const of = (f: string) => all.filter((r) => r.framework === f && r.size === size && r.recipe === recipe);
      const [ours, torch] = [of('ours'), of('pytorch')];
      if (ours.length + torch.length === 0) continue;
      const mean = (rs: Result[]) => rs.reduce((s, r) => s + r.test_top1, 0) / rs.length;
      const cell = (rs: Result[]) => rs.length === 0 ? '-' : `${pct(mean(rs))}% (${pct(Math.min(...rs.map((r) => r.test_top1)))}-${pct(Math.max(...rs.map((r) => r.test_top1)))}, ${rs.length} seeds)`;
      const diff = ours.length && torch.length ? 100 * (mean(ours) - mean(torch)) : null;
      console.log(JSON.stringify({ size, recipe, ours_mean: ours.length ? mean(ours) : null, torch_mean: torch.length ? mean(torch) : null, ours: ours.map((r) => r.test_top1), torch: torch.map((r) => r.test_top1), difference_points: diff }));
      rows.push(`| ${size} | ${RECIPES[recipe].label} | ${(ours[0] ?? torch[0]).steps} | ${cell(ours)} | ${cell(torch)} | ${diff === null ? '-' : `${diff >= 0 ? '+' : ''}${diff.toFixed(1)}`} |`);
    }
  }
  console.log(['', ...rows].join('\n'));
}

if (!values.table) {
  console.log(JSON.stringify({ machine: { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, node: process.version }, work, sizes, seeds, recipes, batch, steps: Number(values.steps) }));
  const manifest = await prepareTransferData(work, sizes);
  const source = sourceRun(work, manifest, Number(values['source-epochs']));
  for (const size of sizes) {
    const checks = frameworks.includes('ours') ? runOurs(manifest, source, size) : [];
    if (frameworks.includes('pytorch')) runTorch(manifest, source, size, checks);
  }
}
table();
