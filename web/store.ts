// The page's checkpoint: the last run, kept in IndexedDB so that it survives a reload and can be
// resumed exactly. One record, replaced whole in one transaction (a reload or crash mid-write
// leaves the previous record): the run's state, its weights and momenta as safetensors bytes,
// and where its data came from.
import type { RunState, SavedModel } from '../src/browser.js';
import type { RunSettings } from './protocol.js';

export interface StoredRun {
  settings: RunSettings;
  /** 'bundled', or a description of the user's data (which must be given again to resume). */
  data: { kind: 'bundled' | 'idx' | 'folder'; fingerprint: string };
  state: RunState;
  model: SavedModel;
  weights: Uint8Array;
  momenta: Uint8Array;
  savedAt: string;
}

const DB = 'alexnet-ts';
const STORE = 'runs';
const KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB could not be opened'));
  });
}

async function transact<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export async function saveRun(run: StoredRun): Promise<void> {
  await transact('readwrite', (store) => store.put(run, KEY));
}

export async function loadRun(): Promise<StoredRun | null> {
  return (await transact<StoredRun | undefined>('readonly', (store) => store.get(KEY))) ?? null;
}
