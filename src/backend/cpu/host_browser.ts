// The CPU backend's pool in a browser: Web Workers (module workers), one per core by default.
// Threads need the page cross-origin isolated (COOP same-origin, COEP require-corp: `alexnet
// serve` and `npm run web` send both); without it CpuBackend says so and runs on one thread.
// Atomics.wait is forbidden on a page's main thread: run the backend in a worker (as the page
// does), or the dispatching thread spins while it waits for the pool. Call `await
// backend.start()` before the first op: a worker that blocks may hold up the start of its own.
import type { PoolHost } from './threads.js';

declare const navigator: { hardwareConcurrency?: number };
declare class Worker {
  constructor(url: URL, options: { type: 'module' });
  postMessage(message: unknown): void;
  terminate(): void;
}

export const browserPoolHost: PoolHost = {
  cores: navigator.hardwareConcurrency ?? 1,
  canBlock: typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined',
  startWorker(init) {
    const worker = new Worker(new URL('./worker_browser.js', import.meta.url), { type: 'module' });
    worker.postMessage(init);
    return { terminate: () => worker.terminate() };
  },
};
