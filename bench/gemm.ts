// GEMM throughput of the fast CPU backend (gemm_fast.ts on the thread pool), one JSON line per
// shape and thread count: GFLOP/s = 2*M*N*K / the median of 3 timed runs after a warm-up.
//   node dist/bench/gemm.js [--threads 1,2] [--baseline] [M,N,K ...]
// --baseline: the kernels without relaxed SIMD (no fused multiply-add).
import { parseArgs } from 'node:util';
import type { Tensor } from '../src/backend/backend.js';
import { CpuBackend, type CpuTensor } from '../src/backend/cpu/index.js';
import { gemm, rowMajor } from '../src/backend/cpu/gemm_fast.js';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';

const DEFAULT_SHAPES = [
  [1024, 1024, 1024],
  [96, 3025, 363], // paper conv1 as one image's GEMM
  [128, 729, 1200], // paper conv2, one group of one image
  [32, 4096, 9216], // paper fc6 forward at batch 32
  [48, 784, 25], // mini conv1
  [48, 169, 600], // mini conv2, one group
];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { threads: { type: 'string', default: '1,2' }, baseline: { type: 'boolean', default: false } },
});
const shapes = positionals.length > 0 ? positionals.map((s) => s.split(',').map(Number)) : DEFAULT_SHAPES;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

for (const threads of values.threads!.split(',').map(Number)) {
  const backend = new CpuBackend({ host: nodePoolHost, threads, relaxedSimd: !values.baseline });
  const pool = backend.pool!;
  for (const [M, N, K] of shapes) {
    const [a, b, c] = [backend.allocate('A', M * K), backend.allocate('B', K * N), backend.allocate('C', M * N)];
    for (const t of [a, b]) backend.write(t, Float32Array.from({ length: t.size }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    const at = (t: Tensor) => (t as CpuTensor).at;
    const run = () => gemm(pool, M, N, K, rowMajor(at(a), K), rowMajor(at(b), N), at(c), N);
    const t0 = performance.now();
    run();
    const reps = Math.max(1, Math.ceil(100 / Math.max(performance.now() - t0, 0.01)));
    const times: number[] = [];
    for (let r = 0; r < 3; r++) {
      const start = performance.now();
      for (let i = 0; i < reps; i++) run();
      times.push((performance.now() - start) / reps);
    }
    const gflops = (2 * M * N * K) / (median(times) * 1e6);
    console.log(JSON.stringify({ M, N, K, threads, device: backend.device, gflops: +gflops.toFixed(1) }));
  }
  backend.dispose();
}
