// The Classify panel: an image picked or dropped, classified by the open run's model or by a
// weights file, its answer shown here. Picking the same file again classifies it again (the
// input is emptied after each pick), and a change of the architecture menu re-reads the weights.
import type { FromWorker, ToWorker } from '../protocol.js';
import { $, say } from './dom.js';
import { showPrediction } from './prediction.js';
import { dropTarget } from './drop.js';

type Send = (m: ToWorker, transfer?: Transferable[]) => void;

let weightsFile: File | null = null;
let original: string | null = null;

export function setUpClassify(send: Send): void {
  const image = $<HTMLInputElement>('image');
  const weights = $<HTMLInputElement>('weights');
  const classifyFile = async (file: File) => {
    say(null);
    if (original) URL.revokeObjectURL(original);
    original = URL.createObjectURL(file);
    $('prediction').textContent = `Classifying ${file.name}…`;
    const bytes = new Uint8Array(await file.arrayBuffer());
    send({ type: 'classify', name: file.name, bytes }, [bytes.buffer]);
  };
  const sendWeights = async () => {
    if (!weightsFile) return;
    say(null);
    const bytes = new Uint8Array(await weightsFile.arrayBuffer());
    send({ type: 'weights', name: weightsFile.name, bytes, arch: $<HTMLSelectElement>('weights-arch').value }, [bytes.buffer]);
  };
  $('pick-image').addEventListener('click', () => image.click());
  image.addEventListener('change', () => {
    const file = image.files?.[0];
    image.value = ''; // so that picking the same file again is a change too
    if (file) void classifyFile(file);
  });
  dropTarget($('dropzone'), (e) => {
    const file = e.dataTransfer?.files[0];
    if (file) void classifyFile(file);
  });
  weights.addEventListener('change', () => {
    weightsFile = weights.files?.[0] ?? weightsFile;
    weights.value = '';
    void sendWeights();
  });
  $('weights-arch').addEventListener('change', () => void sendWeights());
}

export const classifyHandlers = {
  prediction: (m: Extract<FromWorker, { type: 'prediction' }>) => {
    if (!m.forTest) showPrediction($('prediction'), m, original ?? undefined);
  },
  weights: (m: Extract<FromWorker, { type: 'weights' }>) => {
    say(null);
    $('weights-status').textContent = m.message;
  },
};
