// The page's runs, kept in IndexedDB so that they survive a reload and can be resumed exactly.
// Each run is two records written in one transaction (a reload or crash mid-write leaves the
// previous pair): `runs` holds what the list and the live view need (settings, the run's state,
// its history: a loss per step, the epochs, the last conv1 filters, the test scores), `tensors`
// the weights and momenta as safetensors bytes. A run is replaced only by its own later save.
// Version 1 kept one run under the key "last"; opening the database moves it into version 2.
import type { RunState, SavedModel } from '../src/browser.js';
import type { DataChoice, Picture, RunSettings, RunSummary, Scores } from './protocol.js';

export interface RunRecord {
  id: string;
  settings: RunSettings;
  /** 'bundled', or a description of the user's data (which must be given again to resume). */
  data: { kind: DataChoice['kind']; fingerprint: string };
  state: RunState;
  model: SavedModel;
  stepsPerEpoch: number;
  /** The training loss of every step taken, in order. */
  losses: Float64Array;
  filters: Picture | null;
  /** The test scores and softmax rows ([n, classes]) once scored; null while training goes on. */
  results: (Scores & { probs: Float32Array }) | null;
  savedAt: string;
}

export interface RunTensors {
  weights: Uint8Array;
  momenta: Uint8Array;
}

const DB = 'alexnet-ts';
const RUNS = 'runs';
const TENSORS = 'tensors';
const OLD_KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 2);
    request.onupgradeneeded = (e) => {
      const db = request.result;
      if (e.oldVersion < 1) db.createObjectStore(RUNS);
      db.createObjectStore(TENSORS);
      if (e.oldVersion === 1) migrateOne(request.transaction!);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB could not be opened'));
  });
}

/** Version 1's one run ({ settings, data, state, model, weights, momenta, savedAt } under "last"), as a kept run. */
function migrateOne(tx: IDBTransaction): void {
  const runs = tx.objectStore(RUNS);
  const get = runs.get(OLD_KEY);
  get.onsuccess = () => {
    const old = get.result;
    if (!old) return;
    const { weights, momenta, ...rest } = old;
    const record: RunRecord = {
      ...rest, id: OLD_KEY, settings: { name: 'Run saved before the runs list', ...rest.settings }, stepsPerEpoch: 0, losses: new Float64Array(0), filters: null, results: null,
    };
    runs.put(record, OLD_KEY);
    tx.objectStore(TENSORS).put({ weights, momenta }, OLD_KEY);
  };
}

async function transact<T>(mode: IDBTransactionMode, work: (runs: IDBObjectStore, tensors: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
  const db = await open();
  try {
    return await new Promise<T | undefined>((resolve, reject) => {
      const tx = db.transaction([RUNS, TENSORS], mode);
      const request = work(tx.objectStore(RUNS), tx.objectStore(TENSORS));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(storageError(tx.error));
    });
  } finally {
    db.close();
  }
}

const storageError = (e: DOMException | null) =>
  e?.name === 'QuotaExceededError'
    ? new Error("this browser's storage for the page is full: delete a run you no longer need in the Runs list, then save again (Pause)")
    : (e ?? new Error('IndexedDB transaction aborted'));

/** Writes the run and, when given, its tensors, in one transaction. */
export async function saveRun(run: RunRecord, tensors?: RunTensors): Promise<void> {
  await transact('readwrite', (runs, t) => {
    runs.put(run, run.id);
    if (tensors) t.put(tensors, run.id);
  });
}

export async function loadRun(id: string): Promise<{ run: RunRecord; tensors: RunTensors }> {
  const got: { run?: IDBRequest<RunRecord | undefined>; tensors?: IDBRequest<RunTensors | undefined> } = {};
  await transact('readonly', (runs, t) => {
    got.run = runs.get(id);
    got.tensors = t.get(id);
  });
  const run = got.run?.result;
  const tensors = got.tensors?.result;
  if (!run || !tensors) throw new Error('that run is no longer in this browser (deleted in another tab?)');
  return { run, tensors };
}

export async function listRuns(): Promise<RunRecord[]> {
  const all = (await transact<RunRecord[]>('readonly', (runs) => runs.getAll())) ?? [];
  return all.sort((a, b) => (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0));
}

export async function deleteRun(id: string): Promise<void> {
  await transact('readwrite', (runs, t) => {
    runs.delete(id);
    t.delete(id);
  });
}

const DATA_WORDS: Record<DataChoice['kind'], string> = { bundled: 'Fashion-MNIST subset', idx: 'your IDX files', folder: 'your image folder' };

export function summary(r: RunRecord): RunSummary {
  return {
    id: r.id, name: r.settings.name, arch: r.settings.arch, data: DATA_WORDS[r.data.kind], dataKind: r.data.kind, epoch: r.state.epoch, epochs: r.state.config.epochs,
    step: r.state.step, stepsPerEpoch: r.stepsPerEpoch, top1: r.results?.top1 ?? null, savedAt: r.savedAt,
  };
}
