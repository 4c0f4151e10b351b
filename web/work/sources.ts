// What a fine-tune in the page starts from, read with the library's own readers (fine_tune.ts), as
// `alexnet train --from` reads a run directory or a weights file: a run kept in this browser (its
// saved model and weights), or a weights file the person picked (our .safetensors, torchvision's
// .pth, Caffe's .caffemodel).
import { parseSafetensors, sha256Hex, sourceFromModel, sourceFromWeights, type LoadedSource } from '../../src/browser.js';
import type { StartFrom } from '../protocol.js';
import { loadRun } from '../store.js';

export async function loadSource(from: StartFrom): Promise<LoadedSource> {
  if (from.kind === 'file') return sourceFromWeights(from.name, from.bytes, from.arch ?? undefined);
  const { run, tensors } = await loadRun(from.id);
  const file = `the run "${run.settings.name}"`;
  return sourceFromModel(run.settings.name, run.model, parseSafetensors(tensors.weights, file).tensors, file, await sha256Hex(tensors.weights));
}
