// Entry of a pool worker under Node's worker_threads (started by host_node.ts).
import { workerData } from 'node:worker_threads';
import { serveWorker } from './worker.js';

serveWorker(workerData);
