// A pool worker's body, for any host: instantiates the kernels on the shared memory and serves
// jobs until the pool stops (threads.ts). The host's entry file calls it with what the pool
// posted: worker_node.ts for Node's worker_threads; a browser's would be
// `self.onmessage = (e) => serveWorker(e.data)`.
import { TASK_TABLE } from './jobs.js';
import { instantiateKernels, type KernelModules } from './kernels.js';
import { serveJobs, type WorkerInit } from './threads.js';

export function serveWorker(init: WorkerInit): void {
  const kernels = instantiateKernels(init.modules as KernelModules, init.memory);
  let view = new Float32Array(init.memory.buffer);
  const f32 = () => {
    // A shared memory's buffer object is replaced (never detached) when another thread grows it.
    if (view.buffer !== init.memory.buffer) view = new Float32Array(init.memory.buffer);
    return view;
  };
  serveJobs(init, f32, kernels, TASK_TABLE);
}
