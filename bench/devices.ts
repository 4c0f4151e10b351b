// Training throughput on 1..N devices, data parallel: one `alexnet bench --mode train --json`
// per device count, each in its own process (a fresh Dawn instance each time), one JSON line each,
// then {"speedup": img/s on N devices over img/s on one}.
//   node dist/bench/devices.js [--devices 2] [--arch paper] [--batch 256] [--backend webgpu|cpu]
//                              [--steps 5] [--warmup 2] [--threads N]
import { spawnSync } from 'node:child_process';
import type { BenchResult } from '../src/cli/bench.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const most = Number(flag('devices', '2'));
const args = ['--arch', flag('arch', 'paper'), '--batch', flag('batch', '256'), '--backend', flag('backend', 'webgpu'), '--mode', 'train'];
args.push('--steps', flag('steps', '5'), '--warmup', flag('warmup', '2'));
if (process.argv.includes('--threads')) args.push('--threads', flag('threads', '1'));

const results: BenchResult[] = [];
for (let devices = 1; devices <= most; devices++) {
  const r = spawnSync(process.execPath, [MAIN, 'bench', ...args, '--devices', String(devices), '--json'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`bench/devices: ${devices} device(s) failed:\n${r.stderr}`);
    process.exit(1);
  }
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult;
  results.push(result);
  console.log(JSON.stringify(result));
}
console.log(JSON.stringify({ speedup: results[results.length - 1].img_per_s / results[0].img_per_s, devices: most }));
