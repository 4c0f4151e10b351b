// The CPU backend's pool on Node: threads from worker_threads, one per core by default. The one
// Node-specific piece of the CPU backend (a browser host would start Web Workers instead).
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { PoolHost } from './threads.js';

// Node 20's V8 (11.3) validates relaxed SIMD (f32x4.relaxed_madd, the GEMM's fused multiply-add)
// only behind this flag; Node 22 and later ship it on. It must be set before the kernels compile:
// importing this module does it. kernels.ts still feature-detects with WebAssembly.validate.
setFlagsFromString('--experimental-wasm-relaxed-simd');

export const nodePoolHost: PoolHost = {
  cores: availableParallelism(),
  canBlock: true,
  startWorker(init) {
    const worker = new Worker(new URL('./worker_node.js', import.meta.url), { workerData: init });
    worker.unref(); // an idle pool does not keep the process alive
    return { terminate: () => void worker.terminate() };
  },
};
