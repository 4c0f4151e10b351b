// The page's runs, kept in IndexedDB so that they survive a reload and can be resumed exactly.
// Each run is two records written in one transaction (a reload or crash mid-write leaves the
// previous pair): `runs` holds what the list and the live view need (settings, the run's state,
// its history: a loss per step, the epochs, the last conv1 filters, the test scores), `tensors`
// the weights and momenta as safetensors bytes. A run is replaced only by its own later save.
// A run on the person's classes also keeps, once, the images it trained on (`runData`), so that it
// opens and resumes without them. The classes being made in the Teach panel are kept image by
// image (`classes`, `images`): a camera frame is one small write. Version 1 kept one run under the
// key "last"; opening the database moves it into the list. Version 3 added the classes.
import type { RunState, SavedModel } from '../src/browser.js';
import type { ClassImages, DataChoice, Picture, RunSettings, RunSummary, Scores } from './protocol.js';

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

/** A class in the Teach panel, and one of its images. */
export interface KeptClass {
  id: string;
  name: string;
  created: number;
}
export interface KeptImage {
  id: string;
  classId: string;
  name: string;
  bytes: Uint8Array;
  added: number;
}

const DB = 'alexnet-ts';
const RUNS = 'runs';
const TENSORS = 'tensors';
const RUN_DATA = 'runData';
const CLASSES = 'classes';
const IMAGES = 'images';
const OLD_KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 3);
    request.onupgradeneeded = (e) => {
      const db = request.result;
      if (e.oldVersion < 1) db.createObjectStore(RUNS);
      if (e.oldVersion < 2) db.createObjectStore(TENSORS);
      if (e.oldVersion === 1) migrateOne(request.transaction!);
      if (e.oldVersion < 3) {
        db.createObjectStore(RUN_DATA);
        db.createObjectStore(CLASSES, { keyPath: 'id' });
        db.createObjectStore(IMAGES, { keyPath: 'id' }).createIndex('byClass', 'classId');
      }
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

type Stores = (name: string) => IDBObjectStore;

async function transact<T>(mode: IDBTransactionMode, names: string[], work: (store: Stores) => IDBRequest<T> | void): Promise<T | undefined> {
  const db = await open();
  try {
    return await new Promise<T | undefined>((resolve, reject) => {
      const tx = db.transaction(names, mode);
      const request = work((name) => tx.objectStore(name));
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

/** Writes the run and, when given, its tensors and (once, for a run on the person's classes) its images, in one transaction. */
export async function saveRun(run: RunRecord, tensors?: RunTensors, images?: ClassImages[]): Promise<void> {
  await transact('readwrite', [RUNS, TENSORS, RUN_DATA], (store) => {
    store(RUNS).put(run, run.id);
    if (tensors) store(TENSORS).put(tensors, run.id);
    if (images) store(RUN_DATA).put(images, run.id);
  });
}

/** A kept run: its record, its tensors, and the images of a run on the person's classes. */
export interface KeptRun {
  run: RunRecord;
  tensors: RunTensors;
  images?: ClassImages[];
}

export async function loadRun(id: string): Promise<KeptRun> {
  const got: { run?: IDBRequest<RunRecord | undefined>; tensors?: IDBRequest<RunTensors | undefined>; images?: IDBRequest<ClassImages[] | undefined> } = {};
  await transact('readonly', [RUNS, TENSORS, RUN_DATA], (store) => {
    got.run = store(RUNS).get(id);
    got.tensors = store(TENSORS).get(id);
    got.images = store(RUN_DATA).get(id);
  });
  const run = got.run?.result;
  const tensors = got.tensors?.result;
  if (!run || !tensors) throw new Error('that run is no longer in this browser (deleted in another tab?)');
  return { run, tensors, images: got.images?.result };
}

export async function listRuns(): Promise<RunRecord[]> {
  const all = (await transact<RunRecord[]>('readonly', [RUNS], (store) => store(RUNS).getAll())) ?? [];
  return all.sort((a, b) => (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0));
}

export async function deleteRun(id: string): Promise<void> {
  await transact('readwrite', [RUNS, TENSORS, RUN_DATA], (store) => {
    for (const name of [RUNS, TENSORS, RUN_DATA]) store(name).delete(id);
  });
}

/** The Teach panel's classes (in the order made) and their images (in the order added). */
export async function loadClasses(): Promise<{ classes: KeptClass[]; images: KeptImage[] }> {
  const got: { classes?: IDBRequest<KeptClass[]>; images?: IDBRequest<KeptImage[]> } = {};
  await transact('readonly', [CLASSES, IMAGES], (store) => {
    got.classes = store(CLASSES).getAll();
    got.images = store(IMAGES).getAll();
  });
  return { classes: (got.classes?.result ?? []).sort((a, b) => a.created - b.created), images: (got.images?.result ?? []).sort((a, b) => a.added - b.added) };
}

export async function saveClass(c: KeptClass): Promise<void> {
  await transact('readwrite', [CLASSES], (store) => void store(CLASSES).put(c));
}

export async function saveImages(images: KeptImage[]): Promise<void> {
  await transact('readwrite', [IMAGES], (store) => images.forEach((i) => store(IMAGES).put(i)));
}

/** A class and all its images, in one transaction. */
export async function deleteClass(id: string): Promise<void> {
  await transact('readwrite', [CLASSES, IMAGES], (store) => {
    store(CLASSES).delete(id);
    const byClass = store(IMAGES).index('byClass').openKeyCursor(IDBKeyRange.only(id));
    byClass.onsuccess = () => {
      const cursor = byClass.result;
      if (!cursor) return;
      store(IMAGES).delete(cursor.primaryKey);
      cursor.continue();
    };
  });
}

const DATA_WORDS: Record<DataChoice['kind'], string> = { bundled: 'Fashion-MNIST subset', idx: 'your IDX files', folder: 'your image folder', classes: 'your classes' };

export function summary(r: RunRecord): RunSummary {
  return {
    id: r.id, name: r.settings.name, arch: r.settings.arch, data: DATA_WORDS[r.data.kind], dataKind: r.data.kind, epoch: r.state.epoch, epochs: r.state.config.epochs,
    step: r.state.step, stepsPerEpoch: r.stepsPerEpoch, top1: r.results?.top1 ?? null, savedAt: r.savedAt,
  };
}
