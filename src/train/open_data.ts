// A run's data from a spec on disk (Node): the data set opened from its files, its training
// loader read and augmented by worker_threads.
import { nodeLoaderThread } from '../data/loader_node.js';
import { openDataset } from '../data/open.js';
import { storedSide, trainingData, type DataOptions, type TrainingData } from './data.js';

export async function openTrainingData(o: DataOptions): Promise<TrainingData> {
  const opened = await openDataset(o.spec, { side: storedSide(o.crop) });
  return trainingData(opened, { startThread: nodeLoaderThread, ...o });
}
