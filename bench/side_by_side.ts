// The CPU backend beside PyTorch on the same nets, modes and batches, alternating in one run:
//   node dist/bench/side_by_side.js [--rounds 3] [--steps 3] [--threads N] [--only mini-train,...]
// Each round runs every configuration once in each framework, in a fresh process each
// (bench/cpu.js, then Debian's PyTorch through bench/torch_cpu.py), both on --threads threads
// (default: all cores). Prints a JSON line per run, then per configuration the medians over the
// rounds and the ratio ours / PyTorch, and a Markdown table for BENCHMARKS.md. Without
// /usr/bin/python3 and its torch, only our side runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';

const CONFIGS = [
  { name: 'mini-train', arch: 'mini', mode: 'train', batch: 32 },
  { name: 'mini-infer', arch: 'mini', mode: 'infer', batch: 128 },
  { name: 'paper-train', arch: 'paper', mode: 'train', batch: 32 },
  { name: 'paper-infer', arch: 'paper', mode: 'infer', batch: 32 },
];

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(nodePoolHost.cores) },
    only: { type: 'string' },
  },
});
const only = values.only?.split(',');
const configs = CONFIGS.filter((c) => !only || only.includes(c.name));
const threads = values.threads!;
const PYTHON = '/usr/bin/python3';
const here = new URL('.', import.meta.url).pathname;

function torchVersion(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** One run's img/s, from the last JSON line a benchmark printed. */
function run(command: string, args: string[]): number {
  const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const last = JSON.parse(out.trim().split('\n').pop()!);
  return last.img_per_s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const torch = torchVersion();
const machine = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: nodePoolHost.cores, threads: Number(threads), node: process.version, torch };
console.log(JSON.stringify({ machine }));
if (!torch) console.log(JSON.stringify({ note: `no PyTorch at ${PYTHON} (apt-get install python3-torch libopenblas0-pthread): ours only` }));

const results = new Map<string, { ours: number[]; torch: number[] }>(configs.map((c) => [c.name, { ours: [], torch: [] }]));
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const c of configs) {
    const common = ['--arch', c.arch, '--mode', c.mode, '--batch', String(c.batch), '--steps', values.steps!, '--threads', threads];
    const ours = run(process.execPath, [`${here}cpu.js`, ...common]);
    results.get(c.name)!.ours.push(ours);
    console.log(JSON.stringify({ round, config: c.name, framework: 'alexnet-ts', img_per_s: +ours.toFixed(2) }));
    if (!torch) continue;
    const theirs = run(PYTHON, [`${here}../../bench/torch_cpu.py`, ...common]);
    results.get(c.name)!.torch.push(theirs);
    console.log(JSON.stringify({ round, config: c.name, framework: 'pytorch', img_per_s: +theirs.toFixed(2) }));
  }
}

const rows: string[] = [];
for (const c of configs) {
  const r = results.get(c.name)!;
  const ours = median(r.ours);
  const theirs = torch ? median(r.torch) : null;
  const ratio = theirs ? ours / theirs : null;
  console.log(JSON.stringify({ config: c.name, batch: c.batch, ours_median: +ours.toFixed(2), torch_median: theirs && +theirs.toFixed(2), ratio: ratio && +ratio.toFixed(2), ours: r.ours.map((v) => +v.toFixed(2)), torch: r.torch.map((v) => +v.toFixed(2)) }));
  const cell = (xs: number[]) => `${median(xs).toFixed(1)} (${xs.map((v) => v.toFixed(1)).join(', ')})`;
  rows.push(`| ${c.arch} ${c.mode} ${c.batch} | ${cell(r.ours)} | ${torch ? cell(r.torch) : '-'} | ${ratio ? `${ratio.toFixed(2)}x` : '-'} |`);
}
console.log(['', '| net, mode, batch | AlexNet.ts img/s, median (runs) | PyTorch img/s, median (runs) | ratio |', '|---|---|---|---|', ...rows].join('\n'));
