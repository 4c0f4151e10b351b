// Entry of a pool worker in a browser (started by host_browser.ts): serves jobs from the first
// message on (the worker then stays in serveWorker's loop).
import { serveWorker } from './worker.js';
import type { WorkerInit } from './threads.js';

(globalThis as unknown as { onmessage: (e: { data: WorkerInit }) => void }).onmessage = (e) => serveWorker(e.data);
