// The page: settings and buttons, the live view of the run, classification and keeping the
// model. It draws what the training worker (worker.ts) reports and sends it the user's files;
// all computing happens there. Every message from the worker is also kept in
// window.alexnetLog, for scripts that drive the page (the browser tests, the benchmark).
import { confusionMatrixSvg, lineChart } from '../src/report/charts.js';
import type { DataChoice, FromWorker, Picture, RunSettings, ToWorker } from './protocol.js';

const opened = performance.now();
const log: { at: number; message: FromWorker }[] = [];
(window as unknown as { alexnetLog: typeof log }).alexnetLog = log;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

function say(text: string | null): void {
  $('message').hidden = text === null;
  $('message').textContent = text ?? '';
}

function draw(canvas: HTMLCanvasElement, p: Picture): HTMLCanvasElement {
  canvas.width = p.width;
  canvas.height = p.height;
  const data = new ImageData(p.width, p.height);
  for (let i = 0; i < p.width * p.height; i++) {
    data.data.set(p.rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    data.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(data, 0, 0);
  return canvas;
}

// ---- Settings, data and the run's buttons ----

const form = $<HTMLFormElement>('settings');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
let dropped: DataChoice | null = null;

function showFileInputs(): void {
  for (const label of form.querySelectorAll<HTMLElement>('.files')) label.hidden = label.dataset.for !== field('data').value;
}
field('data').addEventListener('change', () => {
  dropped = null;
  showFileInputs();
});

async function filesFromInput(kind: 'idx' | 'folder'): Promise<DataChoice> {
  const files = [...((field(kind) as HTMLInputElement).files ?? [])];
  if (files.length === 0) throw new Error(kind === 'idx' ? 'pick the four Fashion-MNIST IDX files first' : 'pick a folder of class folders first');
  const read = async (f: File) => new Uint8Array(await f.arrayBuffer());
  if (kind === 'idx') return { kind, files: await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) }))) };
  // webkitRelativePath is "picked-folder/class/file.png": the picked folder is the root.
  return { kind, files: await Promise.all(files.map(async (f) => ({ path: f.webkitRelativePath.split('/').slice(1).join('/'), bytes: await read(f) }))) };
}

function settings(): RunSettings {
  const number = (name: string) => Number(field(name).value);
  return { arch: field('arch').value as RunSettings['arch'], batch: number('batch'), lr: number('lr'), epochs: number('epochs'), seed: number('seed'), backend: field('backend').value as RunSettings['backend'] };
}

async function dataChoice(): Promise<DataChoice> {
  if (dropped) return dropped;
  const kind = field('data').value;
  return kind === 'bundled' ? { kind: 'bundled' } : filesFromInput(kind as 'idx' | 'folder');
}

const transfers = (d: DataChoice) => (d.kind === 'bundled' ? [] : d.files.map((f) => f.bytes.buffer as ArrayBuffer));

$('start').addEventListener('click', async () => {
  say(null);
  try {
    const data = await dataChoice();
    resetLive();
    send({ type: 'start', settings: settings(), data }, transfers(data));
  } catch (err) {
    say((err as Error).message);
  }
});
$('restore').addEventListener('click', async () => {
  say(null);
  resetLive();
  const kind = field('data').value;
  const data = kind === 'bundled' && !dropped ? undefined : await dataChoice().catch(() => undefined);
  send({ type: 'restore', data }, data ? transfers(data) : []);
});
for (const id of ['pause', 'resume', 'stop'] as const) $(id).addEventListener('click', () => send({ type: id }));

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

function dropTarget(element: HTMLElement, use: (e: DragEvent) => void): void {
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

// ---- The live view ----

let stepLosses: [number, number][] = [];
let epochs: { epoch: number; trainLoss: number; valLoss: number; valTop1: number; valTop5: number }[] = [];
let stepsPerEpoch = 1;

function resetLive(): void {
  stepLosses = [];
  epochs = [];
  $('results').hidden = true;
  $('retrieval').replaceChildren();
  $('loss-chart').replaceChildren();
  $('accuracy-chart').replaceChildren();
  $<HTMLDivElement>('bar').style.width = '0';
}

function drawCharts(): void {
  // Every 10th step is plenty for a curve and keeps the SVG small.
  const shown = stepLosses.filter((_, i) => i % 10 === 0 || i === stepLosses.length - 1);
  $('loss-chart').innerHTML = lineChart('Loss', 'epoch', 'cross-entropy', [
    { name: 'train (steps)', points: shown },
    { name: 'validation', points: epochs.map((e) => [e.epoch, e.valLoss]) },
  ]);
  $('accuracy-chart').innerHTML = lineChart('Validation accuracy', 'epoch', 'accuracy', [
    { name: 'top-1', points: epochs.map((e) => [e.epoch, e.valTop1]) },
    { name: 'top-5', points: epochs.map((e) => [e.epoch, e.valTop5]) },
  ]);
}

const minutes = (s: number) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.max(0, Math.round(s))} s`);

function setButtons(state: string): void {
  const running = state === 'training' || state === 'loading' || state === 'finishing';
  ($('start') as HTMLButtonElement).disabled = running;
  ($('pause') as HTMLButtonElement).disabled = state !== 'training';
  ($('resume') as HTMLButtonElement).disabled = state !== 'paused';
  ($('stop') as HTMLButtonElement).disabled = state !== 'training' && state !== 'paused';
  ($('download') as HTMLButtonElement).disabled = state !== 'paused' && state !== 'done';
}

function showTopClasses(source: string, top: { name: string; probability: number }[], p: Picture): void {
  const list = document.createElement('ol');
  list.className = 'top5';
  for (const t of top) {
    const li = document.createElement('li');
    li.innerHTML = `<span></span><div class="meter"><div style="width:${(100 * t.probability).toFixed(1)}%"></div></div><span>${(100 * t.probability).toFixed(1)}%</span>`;
    li.firstElementChild!.textContent = t.name;
    list.append(li);
  }
  const title = document.createElement('p');
  title.textContent = source;
  const column = document.createElement('div');
  column.append(title, draw(document.createElement('canvas'), p));
  $('prediction').replaceChildren(column, list);
}

function labelled(p: Picture, caption: string): HTMLElement {
  const figure = document.createElement('figure');
  const text = document.createElement('figcaption');
  text.textContent = caption;
  figure.append(draw(document.createElement('canvas'), p), text);
  return figure;
}

const handlers: { [K in FromWorker['type']]: (m: Extract<FromWorker, { type: K }>) => void } = {
  backend: (m) => ($('backend').textContent = m.name),
  saved: (m) => {
    $('saved').textContent = m.run
      ? `Saved in this browser: ${m.run.arch} on ${m.run.data} data, ${m.run.epoch} of ${m.run.epochs} epochs done, ${m.run.step} steps (${new Date(m.run.savedAt).toLocaleString()}).`
      : '';
    $('restore').hidden = !m.run;
    $('restore').textContent = m.run && m.run.epoch >= m.run.epochs ? 'Open saved run' : 'Resume saved run';
  },
  state: (m) => {
    setButtons(m.state);
    if (m.state === 'paused') $('status').textContent += ' (paused)';
    if (m.state === 'finishing') $('status').textContent = 'Scoring the test set…';
    if (m.state === 'loading') $('status').textContent = 'Loading the data…';
  },
  start: (m) => {
    stepsPerEpoch = m.stepsPerEpoch;
    $('status').textContent = `${m.train} training, ${m.val} validation and ${m.test} test images; ${(m.parameters / 1e6).toFixed(2)} M parameters.`;
  },
  step: (m) => {
    stepLosses.push([m.epoch - 1 + m.step / m.steps, m.loss]);
    $<HTMLDivElement>('bar').style.width = `${((100 * m.done) / m.total).toFixed(1)}%`;
    $('status').textContent = `Epoch ${m.epoch}, step ${m.step} of ${m.steps}: loss ${m.loss.toFixed(4)}, ${m.imgPerS.toFixed(0)} img/s, ${minutes(m.etaS)} left.`;
    if (m.step % 5 === 0 || m.step === m.steps) drawCharts();
  },
  epoch: (m) => {
    epochs.push(m);
    drawCharts();
  },
  filters: (m) => draw($<HTMLCanvasElement>('filters'), m.picture),
  done: (m) => {
    drawCharts();
    $<HTMLDivElement>('bar').style.width = '100%';
    $('results').hidden = false;
    $('scores').textContent = `Test top-1 ${(100 * m.top1).toFixed(2)}%, top-5 ${(100 * m.top5).toFixed(2)}% on ${m.n} images.`;
    const epochsRun = stepLosses.length > 0 ? Math.ceil(stepLosses.at(-1)![0]) : 0;
    $('status').textContent = `Done after ${epochsRun} epoch${epochsRun === 1 ? '' : 's'} (${stepsPerEpoch} steps each).`;
    $('confusion').innerHTML = confusionMatrixSvg(m.confusion, m.classes);
    $('tests').replaceChildren(
      ...m.tests.map((p, index) => {
        const canvas = draw(document.createElement('canvas'), p);
        canvas.title = `test image ${index}`;
        canvas.addEventListener('click', () => {
          send({ type: 'classifyTest', index });
          send({ type: 'similar', index });
        });
        return canvas;
      }),
    );
  },
  prediction: (m) => showTopClasses(m.source, m.top, m.picture),
  similar: (m) => $('retrieval').replaceChildren(labelled(m.query, 'query'), ...m.neighbours.map((n) => labelled(n.picture, `${n.label} (${n.distance.toFixed(1)})`))),
  weights: (m) => {
    say(null);
    $('prediction').textContent = m.message;
  },
  exported: (m) => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
    link.download = m.name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  },
  error: (m) => say(m.message),
};

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  log.push({ at: performance.now() - opened, message: e.data });
  (handlers[e.data.type] as (m: FromWorker) => void)(e.data);
};
worker.onerror = (e) => say(`the training worker failed: ${e.message}`);
// For scripts that test the page: what a driver reset does to the GPU device.
(window as unknown as { alexnetTest: object }).alexnetTest = { loseDevice: () => send({ type: 'loseDevice' }) };

// ---- Classify and keep ----

async function classifyFile(file: File): Promise<void> {
  say(null);
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'classify', name: file.name, bytes }, [bytes.buffer]);
}

$<HTMLInputElement>('image').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void classifyFile(file);
});
dropTarget($('dropzone'), (e) => {
  const file = e.dataTransfer?.files[0];
  if (file) void classifyFile(file);
});
$<HTMLInputElement>('weights').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  say(null);
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'weights', name: file.name, bytes, arch: ($('weights-arch') as HTMLSelectElement).value }, [bytes.buffer]);
});
$('download').addEventListener('click', () => send({ type: 'export' }));

showFileInputs();
setButtons('idle');
