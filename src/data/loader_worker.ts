// A data loader worker thread: reopens the dataset from its handle, then fills the batch slots
// (shared memory) it is asked to fill, one job at a time, until told to close.
import { parentPort, workerData } from 'node:worker_threads';
import { augmentBatch, makeScratch, type AugmentPlan, type BatchBuffers } from './augment.js';
import { CacheReader } from './cache.js';
import { openReader, type ReaderHandle } from './dataset.js';
import type { Job } from './loader.js';

const { handle, plan, slots } = workerData as { handle: ReaderHandle; plan: AugmentPlan; slots: BatchBuffers[] };
const reader = openReader(handle, (h) => new CacheReader(h));
const scratch = makeScratch(plan);
const port = parentPort!;

port.on('message', (m: Job | 'close') => {
  if (m === 'close') {
    reader.close();
    port.close();
    return;
  }
  try {
    augmentBatch(reader, plan, m.epoch, m.indices, slots[m.slot], scratch);
    port.postMessage({ slot: m.slot });
  } catch (err) {
    port.postMessage({ slot: m.slot, error: (err as Error).message });
  }
});
