// GEMM throughput, JS kernel (gemm.ts) against WebAssembly SIMD (gemm_wasm.ts).
// Prints one JSON line per shape: GFLOP/s (2*M*N*K / median seconds of 3 runs after a warm-up).
//   node dist/bench/gemm.js [--only js|wasm] [M,N,K ...]
import { gemm, rowMajor, type MatrixRef } from '../src/backend/cpu/gemm.js';
import { gemmWasm } from '../src/backend/cpu/gemm_wasm.js';

type GemmFn = typeof gemm;

interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
}

const DEFAULT_SHAPES: Shape[] = [
  { name: '256^3', M: 256, N: 256, K: 256 },
  { name: '512^3', M: 512, N: 512, K: 512 },
  { name: '1024^3', M: 1024, N: 1024, K: 1024 },
  { name: 'conv1 (96x3025x363)', M: 96, N: 3025, K: 363 },
  { name: 'conv2 group (128x729x1200)', M: 128, N: 729, K: 1200 },
  { name: 'fc6 (256x4096x9216)', M: 256, N: 4096, K: 9216 },
];

function filled(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** GFLOP/s of fn on the shape: one warm-up run, then the median of 3 timed runs. */
function measure(fn: GemmFn, s: Shape, A: MatrixRef, B: MatrixRef, C: Float32Array): number {
  const flops = 2 * s.M * s.N * s.K;
  // Small shapes are repeated within a run so that each timing covers at least ~50 ms.
  const t0 = performance.now();
  fn(s.M, s.N, s.K, A, B, C, 0, s.N, false);
  const once = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(1, Math.ceil(50 / once));
  for (let r = 1; r < reps; r++) fn(s.M, s.N, s.K, A, B, C, 0, s.N, false);
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    for (let r = 0; r < reps; r++) fn(s.M, s.N, s.K, A, B, C, 0, s.N, false);
    times.push((performance.now() - start) / reps);
  }
  return flops / (median(times) * 1e6);
}

function main(): void {
  const args = process.argv.slice(2);
  let only: string | undefined;
  const custom: Shape[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--only') only = args[++i];
    else {
      const [M, N, K] = args[i].split(',').map(Number);
      custom.push({ name: `${M}x${N}x${K}`, M, N, K });
    }
  }
  const shapes = custom.length > 0 ? custom : DEFAULT_SHAPES;
  for (const s of shapes) {
    const A = rowMajor(filled(s.M * s.K, 1), 0, s.K);
    const B = rowMajor(filled(s.K * s.N, 2), 0, s.N);
    const C = new Float32Array(s.M * s.N);
    const row: Record<string, string | number> = { shape: s.name, M: s.M, N: s.N, K: s.K };
    if (only !== 'wasm') row.jsGflops = +measure(gemm, s, A, B, C).toFixed(2);
    if (only !== 'js') row.wasmGflops = +measure(gemmWasm, s, A, B, C).toFixed(2);
    if (typeof row.jsGflops === 'number' && typeof row.wasmGflops === 'number') {
      row.speedup = +(row.wasmGflops / row.jsGflops).toFixed(1);
    }
    console.log(JSON.stringify(row));
  }
}

main();
