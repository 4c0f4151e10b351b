// The data loader's threads on Node: worker_threads running loader_worker.ts. An idle thread
// never keeps the process alive; one with a job in flight does.
import { Worker } from 'node:worker_threads';
import type { StartLoaderThread } from './loader.js';

export const nodeLoaderThread: StartLoaderThread = (init) => {
  const worker = new Worker(new URL('./loader_worker.js', import.meta.url), { workerData: init });
  worker.unref();
  return {
    post: (message) => worker.postMessage(message),
    busy: (busy) => (busy ? worker.ref() : worker.unref()),
    onMessage: (listener) => worker.on('message', listener),
    onError: (listener) => worker.on('error', listener),
    exited: new Promise((resolve) => worker.once('exit', resolve)),
  };
};
