// The Train panel's form: its fields checked with the command line's parsers (core/values.ts), so
// a bad value gets the message `alexnet train` gives, shown under the field; the data (bundled,
// picked or dropped files); and the form filled in from a run that opens.
import { nonNegativeInt, positiveInt, positiveNumber } from '../../src/core/values.js';
import type { DataChoice, RunSettings } from '../protocol.js';
import { $, say } from './dom.js';

const form = $<HTMLFormElement>('settings');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;

/** The typed fields and the option of `alexnet train` each stands for. */
const CHECKED = { batch: positiveInt('--batch'), lr: positiveNumber('--lr'), epochs: positiveInt('--epochs'), seed: nonNegativeInt('--seed') } as const;

let dropped: DataChoice | null = null;

function showFileInputs(): void {
  for (const label of form.querySelectorAll<HTMLElement>('.files')) label.hidden = label.dataset.for !== field('data').value;
}

function setError(name: string, message: string | null): void {
  const input = field(name);
  const error = $(`${name}-error`);
  error.textContent = message ?? '';
  error.hidden = message === null;
  if (message === null) input.removeAttribute('aria-invalid');
  else input.setAttribute('aria-invalid', 'true');
}

/** The settings, or null after marking each bad field with its message (the first one focused). */
export function readSettings(defaultName: string): RunSettings | null {
  const values: Partial<Record<keyof typeof CHECKED, number>> = {};
  let first: HTMLElement | null = null;
  for (const [name, parse] of Object.entries(CHECKED) as [keyof typeof CHECKED, (v: string) => number][]) {
    try {
      values[name] = parse(field(name).value);
      setError(name, null);
    } catch (err) {
      setError(name, (err as Error).message);
      first ??= field(name);
    }
  }
  if (first) {
    first.focus();
    return null;
  }
  return {
    name: field('name').value.trim() || defaultName, arch: field('arch').value as RunSettings['arch'], backend: field('backend').value as RunSettings['backend'],
    batch: values.batch!, lr: values.lr!, epochs: values.epochs!, seed: values.seed!,
  };
}

/** The form as a run that opens has it: its own name, network, epochs and the rest. */
export function fillSettings(s: RunSettings): void {
  for (const [name, value] of Object.entries(s)) field(name).value = String(value);
  for (const name of Object.keys(CHECKED)) setError(name, null);
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
  if (kind === 'bundled') return undefined;
  if (dropped?.kind === kind) return dropped;
  return field('data').value === kind ? filesFromInput(kind) : undefined;
}

export const transfers = (d: DataChoice | undefined) => (!d || d.kind === 'bundled' ? [] : d.files.map((f) => f.bytes.buffer as ArrayBuffer));

/** Files dropped on the Train panel: four IDX files, or a folder (walked through its entries). */
async function droppedData(items: DataTransferItemList): Promise<Exclude<DataChoice, { kind: 'bundled' }>> {
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const files: { path: string; bytes: Uint8Array }[] = [];
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      files.push({ path, bytes: new Uint8Array(await file.arrayBuffer()) });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, path ? `${path}/${child.name}` : child.name);
    }
  };
  const single = entries.length === 1 && entries[0].isDirectory;
  for (const e of entries) await walk(e, single ? '' : e.name);
  if (entries.every((e) => e.isFile)) return { kind: 'idx', files: files.map((f) => ({ name: f.path, bytes: f.bytes })) };
  return { kind: 'folder', files };
}

/** Makes `element` take dropped files: highlighted while something is dragged over it. */
export function dropTarget(element: HTMLElement, use: (e: DragEvent) => void): void {
  element.addEventListener('dragover', (e) => {
    e.preventDefault();
    element.classList.add('over');
  });
  element.addEventListener('dragleave', () => element.classList.remove('over'));
  element.addEventListener('drop', (e) => {
    e.preventDefault();
    element.classList.remove('over');
    use(e);
  });
}

export function setUpSettings(): void {
  field('data').addEventListener('change', () => {
    dropped = null;
    showFileInputs();
  });
  dropTarget($('train'), async (e) => {
    try {
      const data = await droppedData(e.dataTransfer!.items);
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
