// The page's training worker: it answers the page's messages (protocol.ts). The parts are in
// work/: the backends (backend.ts), the open run with its training, checkpoints and scoring
// (session.ts), what a fine-tune starts from (sources.ts), what reads a trained net (models.ts)
// and what the net sees in an image (explain.ts). Kept runs live in IndexedDB (store.ts).
import { encodeSafetensors, modelMetadata, parseSafetensors, type SavedModel } from '../src/browser.js';
import type { ToWorker } from './protocol.js';
import { deleteRun, loadRun } from './store.js';
import { backendFor, forgetBackends, loseDevice } from './work/backend.js';
import { explainClass } from './work/explain.js';
import { answered, classify, classifyFrame, classifyTest, forgetPicked, inTurn, similar, useWeights } from './work/models.js';
import { post } from './work/post.js';
import { persist, postRuns, prepare, score, showResults, train, type Session } from './work/session.js';

let session: Session | null = null;

const busy = () => session !== null && (session.running || session.scoring);
const newId = () => `run-${Date.now().toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'start':
      if (busy()) throw new Error('a run is training: pause or stop it first');
      forgetPicked();
      session = await prepare(newId(), m.settings, m.data, null, m.fineTune);
      await persist(session);
      return train(session);
    case 'open': {
      if (busy()) throw new Error('a run is training: pause or stop it first');
      const kept = await loadRun(m.id);
      const { kind } = kept.run.data;
      if ((kind === 'idx' || kind === 'folder') && !m.data) throw new Error(`that run trained on your own ${kind === 'idx' ? 'IDX files' : 'image folder'}: pick them again (Data, above) to open it`);
      if (kind === 'classes' && !kept.images) throw new Error('the images of that run are no longer in this browser');
      forgetPicked();
      const s = await prepare(m.id, kept.run.settings, kind === 'classes' ? { kind, classes: kept.images! } : (m.data ?? { kind: 'bundled' }), kept);
      session = s;
      await postRuns(s.id);
      const finished = s.state.epoch >= s.state.config.epochs;
      if (m.resume && !finished) return train(s);
      if (s.results) return showResults(s);
      if (finished) return score(s); // trained to the end but never scored (a page closed while scoring)
      post({ type: 'state', state: 'paused' });
      return;
    }
    case 'pause':
      if (session?.running) session.control = 'pause';
      return;
    case 'stop':
      if (!session) return;
      if (session.scoring) session.cancelScoring = true;
      else if (session.running) session.control = 'stop';
      else if (!session.results) await score(session);
      return;
    case 'resume':
      if (!session) return;
      await answered(); // a click's maps are computed on this net: they end before it trains
      if (busy()) return;
      return train(session);
    case 'flush':
      if (session?.running) session.flush = true;
      return;
    case 'delete':
      if (session?.id === m.id && busy()) throw new Error('that run is training: pause or stop it before deleting it');
      await deleteRun(m.id);
      if (session?.id === m.id) {
        session = null;
        post({ type: 'state', state: 'idle' });
      }
      return postRuns(session?.id ?? null);
    case 'export': {
      const { name, step, bytes } = m.id ? await keptModel(m.id) : await openModel();
      post({ type: 'exported', name: `${name.replace(/[^\w.-]+/g, '-')}-step${step}.safetensors`, bytes }, [bytes.buffer]);
      return;
    }
    case 'classify':
      return inTurn(() => classify(session, m.name, m.bytes, m.bars ?? false));
    case 'classifyFrame':
      return inTurn(() => classifyFrame(session, m.frame));
    case 'classifyTest':
      return inTurn(() => classifyTest(session, m.index));
    case 'explainClass':
      return inTurn(() => explainClass(m.forTest, m.class, (net) => session?.net === net && busy()));
    case 'similar':
      return inTurn(() => similar(session, m.index));
    case 'weights':
      return useWeights(session, m.name, m.bytes, m.arch);
    case 'loseDevice':
      return loseDevice();
  }
}

/**
 * A model's download: its weights with what `alexnet eval --weights` and `predict` read back from
 * the metadata (its architecture, class names and, where not its data's mean image, its
 * preprocessing), and the page named as their source.
 */
const download = (model: SavedModel, tensors: Parameters<typeof encodeSafetensors>[0]) => encodeSafetensors(tensors, { ...modelMetadata(model), source: 'AlexNet.ts page' });

async function keptModel(id: string) {
  const { run, tensors } = await loadRun(id);
  return { name: run.settings.name, step: run.state.step, bytes: download(run.model, [...parseSafetensors(tensors.weights, 'saved weights').tensors.values()]) };
}

async function openModel() {
  if (!session) throw new Error('train a model first');
  if (session.running) throw new Error('pause or stop the run to download its model');
  return { name: session.settings.name, step: session.state.step, bytes: download(session.model, await session.net.exportTensors('value')) };
}

/** A failure is one message for the page; what was saved stays saved, and a lost device drops the backend. */
function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const s = session;
  if (/device (was )?lost/i.test(message)) {
    forgetBackends();
    if (s) [s.running, s.scoring] = [false, false];
    session = null;
    post({ type: 'error', message: `The GPU device was lost (${message}). Your run is kept up to its last save: press Resume beside it under Runs to go on (on the CPU if the GPU does not come back).` });
    post({ type: 'state', state: 'idle' });
    void postRuns(null);
    return;
  }
  post({ type: 'error', message });
  post({ type: 'state', state: !s ? 'idle' : s.running ? 'training' : s.scoring ? 'scoring' : s.results ? 'done' : 'paused' });
}

self.onmessage = (e: MessageEvent<ToWorker>) => void handle(e.data).catch(fail);
// Said at once: which backend a run would use, and the kept runs.
backendFor('auto').catch(fail);
postRuns(null).catch(fail);
