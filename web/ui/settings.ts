// The Train panel's form: its fields checked with the command line's parsers (fields.ts), so a
// bad value gets the message `alexnet train` gives, shown under the field; the data (bundled,
// picked or dropped files); and the form filled in from a run that opens.
import { nonNegativeInt, positiveInt, positiveNumber } from '../../src/core/values.js';
import { MAX_SEED } from '../../src/rng/hash.js';
import type { DataChoice, RunSettings } from '../protocol.js';
import { $, say } from './dom.js';
import { droppedFiles, dropTarget } from './drop.js';
import { checkedValues, setFieldError } from './fields.js';

const form = $<HTMLFormElement>('settings');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;

/** The typed fields and the option of `alexnet train` each stands for. */
const CHECKED = { batch: positiveInt('--batch'), lr: positiveNumber('--lr'), epochs: positiveInt('--epochs'), seed: nonNegativeInt('--seed', MAX_SEED) } as const;

let dropped: DataChoice | null = null;

function showFileInputs(): void {
  for (const label of form.querySelectorAll<HTMLElement>('.files')) label.hidden = label.dataset.for !== field('data').value;
}

/** The settings, or null after marking each bad field with its message (the first one focused). */
export function readSettings(defaultName: string): RunSettings | null {
  const values = checkedValues<keyof typeof CHECKED>(field, CHECKED, (name) => `${name}-error`);
  if (!values) return null;
  return { name: field('name').value.trim() || defaultName, arch: field('arch').value, backend: backendChoice(), ...values };
}

/** The backend the form names (a run on the person's classes uses it too). */
export const backendChoice = () => field('backend').value as RunSettings['backend'];

/** The form as a run that opens has it: its own name, network, epochs and the rest. */
export function fillSettings(s: RunSettings): void {
  for (const [name, value] of Object.entries(s)) field(name).value = String(value);
  for (const name of Object.keys(CHECKED)) setFieldError(field(name), `${name}-error`, null);
}

async function filesFromInput(kind: 'idx' | 'folder'): Promise<DataChoice> {
  const files = [...((field(kind) as HTMLInputElement).files ?? [])];
  if (files.length === 0) throw new Error(kind === 'idx' ? 'pick the four Fashion-MNIST IDX files first' : 'pick a folder of class folders first');
  const read = async (f: File) => new Uint8Array(await f.arrayBuffer());
  if (kind === 'idx') return { kind, files: await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) }))) };
  // webkitRelativePath is "picked-folder/class/file.png": the picked folder is the root.
  return { kind, files: await Promise.all(files.map(async (f) => ({ path: f.webkitRelativePath.split('/').slice(1).join('/'), bytes: await read(f) }))) };
}

/** The data the form names: the bundled subset, the picked files, or what was dropped on the panel. */
export async function dataChoice(): Promise<DataChoice> {
  if (dropped) return dropped;
  const kind = field('data').value;
  return kind === 'bundled' ? { kind: 'bundled' } : filesFromInput(kind as 'idx' | 'folder');
}

/** The picked data for opening a kept run: none for the bundled subset. */
export async function dataForKept(kind: DataChoice['kind']): Promise<DataChoice | undefined> {
  if (kind === 'bundled' || kind === 'classes') return undefined; // the worker has them
  if (dropped?.kind === kind) return dropped;
  return field('data').value === kind ? filesFromInput(kind) : undefined;
}

export const transfers = (d: DataChoice | undefined) => (!d || d.kind === 'bundled' || d.kind === 'classes' ? [] : d.files.map((f) => f.bytes.buffer as ArrayBuffer));

/** Files dropped on the Train panel: four IDX files, or a folder (walked through its entries). */
async function droppedData(transfer: DataTransfer): Promise<Exclude<DataChoice, { kind: 'bundled' | 'classes' }>> {
  const { files, folders } = await droppedFiles(transfer);
  if (!folders) return { kind: 'idx', files: files.map((f) => ({ name: f.path, bytes: f.bytes })) };
  return { kind: 'folder', files };
}

export function setUpSettings(): void {
  field('data').addEventListener('change', () => {
    dropped = null;
    showFileInputs();
  });
  dropTarget($('train'), async (e) => {
    try {
      const data = await droppedData(e.dataTransfer!);
      dropped = data;
      field('data').value = data.kind;
      showFileInputs();
      say(null);
      $('status').textContent = `Dropped ${data.kind === 'idx' ? `${data.files.length} IDX files` : `a folder of ${data.files.length} files`}: press Start.`;
    } catch (err) {
      say(`could not read what was dropped: ${(err as Error).message}`);
    }
  });
  showFileInputs();
}
