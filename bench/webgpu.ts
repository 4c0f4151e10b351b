// Whole-net throughput on WebGPU (or any backend), one JSON line per run:
//   {"arch","batch","mode","backend","device","img_per_s","ms_per_step"}
// (median over timed steps after warm-up; --profile adds per-op GPU milliseconds).
//   node dist/bench/webgpu.js [--arch paper] [--batch 256] [--mode train|infer|both]
//                             [--steps 10] [--warmup 3] [--backend webgpu|cpu] [--profile]
//                             [--tiles auto|skinny|narrow|square|wide|large|BMxBNxBK/TMxTN]
//                             [--precision fp32|mixed]
import { CpuBackend } from '../src/backend/cpu/index.js';
import { benchmark } from '../src/cli/bench.js';
import { parseTileChoice } from '../src/backend/webgpu/gemm.js';
import { createWebGpuBackend } from '../src/backend/webgpu/dawn.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const arch = flag('arch', 'paper');
const batch = Number(flag('batch', '256'));
const modes = flag('mode', 'both') === 'both' ? (['train', 'infer'] as const) : [flag('mode', 'train') as 'train' | 'infer'];
const steps = Number(flag('steps', '10'));
const warmup = Number(flag('warmup', '3'));
const profile = process.argv.includes('--profile');
const which = flag('backend', 'webgpu');
// Without --tiles the backend's own default applies (ALEXNET_GEMM_TILES, else auto).
const tiles = process.argv.includes('--tiles') ? flag('tiles', 'auto') : undefined;
const precision = flag('precision', 'fp32');
if (precision !== 'fp32' && precision !== 'mixed') throw new Error(`--precision: expected fp32 or mixed, found "${precision}"`);

for (const mode of modes) {
  const backend = which === 'cpu' ? new CpuBackend() : await createWebGpuBackend({ precision, tiles: tiles === undefined ? undefined : parseTileChoice(tiles, '--tiles') });
  if (!backend) {
    console.error('bench/webgpu: no WebGPU adapter found');
    process.exit(1);
  }
  try {
    const r = await benchmark({ arch, batch, mode, backend, steps, warmup, profile });
    if (r.profile) {
      const total = r.profile.reduce((s, e) => s + e.ms, 0);
      for (const e of r.profile.slice(0, 25)) {
        console.error(`${e.ms.toFixed(3).padStart(10)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${e.calls}x ${e.op}`);
      }
      console.error(`${total.toFixed(3).padStart(10)} ms GPU time in one ${mode} step`);
    }
    console.log(JSON.stringify(r));
  } finally {
    backend.dispose();
  }
}
