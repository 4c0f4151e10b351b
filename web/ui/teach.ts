// The Teach panel ("Teach it your classes", Teachable Machine's flow on this net): the camera, the
// classes (classes.ts), what to start from (a run kept here, a weights file, or nothing), what
// trains (the classifier by default: conv1 to conv5 frozen), then the run as any other (its
// progress and curves under Live). Once a model is open and idle, the camera's image is
// classified live, a few times a second, with a bar per class, and so is a photo dropped here.
// Download writes the open model with its class names.
import { positiveInt, positiveNumber } from '../../src/core/values.js';
import type { FineTuneChoice, FromWorker, RunState, RunSummary, ToWorker } from '../protocol.js';
import { cameraOn, frameRgb, startCamera, stopCamera } from './camera.js';
import { cameraChanged, classesForTraining, setUpClasses } from './classes.js';
import { $, barList, element, say } from './dom.js';
import { dropTarget } from './drop.js';
import { checkedValues } from './fields.js';
import { backendChoice } from './settings.js';

type Send = (m: ToWorker, transfer?: Transferable[]) => void;
type Of<K extends FromWorker['type']> = Extract<FromWorker, { type: K }>;

const LIVE_EVERY_MS = 250;
const CHECKED = { epochs: positiveInt('--epochs'), lr: positiveNumber('--lr'), batch: positiveInt('--batch') } as const;
/** alexnet train's learning rates: with --from, and from scratch. */
const LR = { fineTune: '0.001', scratch: '0.01' };

const form = $<HTMLFormElement>('teach-form');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
let send: Send = () => {};
let state: RunState = 'idle';
let open: string | null = null;
let openClasses = false;
let runs: RunSummary[] = [];
let liveAsked = false;
let liveBlocked = false;
let photoUrl: string | null = null;

/** "Start from": the runs kept here, newest first, then a weights file, then nothing; the choice kept across updates. */
function showSources(): void {
  const select = field('from') as HTMLSelectElement;
  const chosen = select.value;
  const runOption = (r: RunSummary) => element('option', { value: `run:${r.id}` }, `${r.name} (${r.arch} on ${r.data}${r.top1 === null ? '' : `, test top-1 ${(100 * r.top1).toFixed(1)}%`})`);
  select.replaceChildren(
    element('optgroup', { label: 'A model trained here' }, ...runs.map(runOption)),
    element('option', { value: 'file' }, 'A weights file (.safetensors, .pth, .caffemodel)'),
    element('option', { value: 'scratch' }, 'Nothing: a mini AlexNet from scratch'),
  );
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : (select.options[0]?.value ?? 'scratch');
  showSourceFields();
}

function showSourceFields(): void {
  const from = field('from').value;
  for (const label of form.querySelectorAll<HTMLElement>('[data-for=file]')) label.hidden = from !== 'file';
  field('freeze').disabled = from === 'scratch';
}

async function fineTuneChoice(): Promise<FineTuneChoice | null | undefined> {
  const from = field('from').value;
  const freeze = field('freeze').value || null;
  if (from.startsWith('run:')) return { from: { kind: 'run', id: from.slice(4) }, freeze };
  if (from !== 'file') return undefined;
  const file = (field('from-file') as HTMLInputElement).files?.[0];
  if (!file) {
    say('choose the weights file to start from (Weights file, under Start from)');
    field('from-file').focus();
    return null;
  }
  const arch = field('from-arch').value || null;
  return { from: { kind: 'file', name: file.name, bytes: new Uint8Array(await file.arrayBuffer()), arch }, freeze };
}

async function teach(): Promise<void> {
  say(null);
  const values = checkedValues<keyof typeof CHECKED>(field, CHECKED, (name) => `teach-${name}-error`);
  const classes = values && classesForTraining();
  if (!values || !classes) return;
  const fineTune = await fineTuneChoice();
  if (fineTune === null) return;
  const transfer = fineTune?.from.kind === 'file' ? [fineTune.from.bytes.buffer as ArrayBuffer] : [];
  // Named by its classes ("cat, dog", then "cat, dog (2)"); the run's notes say what it started from.
  const base = classes.map((c) => c.name).join(', ');
  let name = base;
  for (let k = 2; runs.some((r) => r.name === name); k++) name = `${base} (${k})`;
  send({ type: 'start', settings: { name, arch: 'mini', backend: backendChoice(), seed: 1, ...values }, data: { kind: 'classes', classes }, ...(fineTune ? { fineTune } : {}) }, transfer);
}

/** Bars for every class, in the model's order: a meter each, named by its class and value. */
function showBars(into: HTMLElement, m: Of<'bars'>, caption: string): void {
  const list = barList(caption, m.classes.map((name, c) => ({ name, value: m.probabilities[c], text: `${(100 * m.probabilities[c]).toFixed(1)}%` })));
  into.replaceChildren(element('p', { className: 'note' }, caption), list);
}

/** What a live frame or a photo may be classified with: an open model, not training, loading or scoring. */
const modelReady = () => open !== null && (state === 'done' || state === 'paused');

function liveTick(): void {
  if (!cameraOn() || !modelReady() || liveAsked || liveBlocked) return;
  const frame = frameRgb();
  if (!frame) return;
  liveAsked = true;
  send({ type: 'classifyFrame', frame }, [frame.rgb.buffer]);
}

async function toggleCamera(): Promise<void> {
  const button = $<HTMLButtonElement>('camera-toggle');
  say(null);
  try {
    if (cameraOn()) stopCamera();
    else await startCamera();
  } catch (err) {
    say((err as Error).message);
  }
  button.textContent = cameraOn() ? 'Stop camera' : 'Start camera';
  button.setAttribute('aria-pressed', String(cameraOn()));
  $('camera-status').textContent = cameraOn()
    ? "The camera is on: hold a class's Record button to add its image a few times a second. Once a model is open, its image is classified live below."
    : 'The camera is off.';
  if (!cameraOn()) $('live-bars').replaceChildren();
  cameraChanged();
}

async function tryPhoto(file: File): Promise<void> {
  say(null);
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'classify', name: file.name, bytes, bars: true }, [bytes.buffer]);
}

function status(text: string): void {
  $('teach-status').textContent = text;
}

export function setUpTeach(sender: Send): Promise<void> {
  send = sender;
  field('from').addEventListener('change', () => {
    showSourceFields();
    field('lr').value = field('from').value === 'scratch' ? LR.scratch : LR.fineTune;
  });
  $('camera-toggle').addEventListener('click', () => void toggleCamera());
  $('teach-start').addEventListener('click', () => void teach().catch((err) => say((err as Error).message)));
  $('teach-download').addEventListener('click', () => open && send({ type: 'export', id: open }));
  const photo = $<HTMLInputElement>('try-photo');
  $('pick-photo').addEventListener('click', () => photo.click());
  photo.addEventListener('change', () => {
    const file = photo.files?.[0];
    photo.value = '';
    if (file) void tryPhoto(file);
  });
  dropTarget($('try-drop'), (e) => {
    const file = e.dataTransfer?.files[0];
    if (file) void tryPhoto(file);
  });
  window.setInterval(liveTick, LIVE_EVERY_MS);
  showSources();
  return setUpClasses();
}

export const teachHandlers = {
  runs: (m: Of<'runs'>) => {
    runs = m.runs;
    open = m.open;
    showSources();
    $<HTMLButtonElement>('teach-download').disabled = open === null;
  },
  state: (m: Of<'state'>) => {
    state = m.state;
    liveBlocked = false;
    const busy = state === 'training' || state === 'loading' || state === 'scoring';
    $<HTMLButtonElement>('teach-start').disabled = busy;
    if (busy) $('live-bars').replaceChildren(); // the model they came from is changing
    if (openClasses && state === 'training') status('Teaching: its progress and curves are under Live.');
    if (state === 'idle') open = null;
  },
  /** A run opened or started: a run on the person's classes puts its settings into this form. */
  run: (m: Of<'run'>) => {
    openClasses = m.dataKind === 'classes';
    if (!openClasses) return;
    for (const name of Object.keys(CHECKED)) field(name).value = String(m.settings[name as keyof typeof CHECKED]);
    status(`Opened "${m.settings.name}".`);
  },
  done: (m: Of<'done'>) => {
    if (openClasses) status(`Done: test top-1 ${(100 * m.top1).toFixed(1)}% on ${m.n} held-out images. Try it below: start the camera, or drop a photo.`);
  },
  bars: (m: Of<'bars'>) => {
    if (m.source === 'camera') {
      liveAsked = false;
      if (cameraOn()) showBars($('live-bars'), m, `The camera's image, by the model "${m.model}"`);
      return;
    }
    showBars($('photo-bars'), m, `${m.source}, by the model "${m.model}"`);
    const best = m.classes[m.probabilities.indexOf(Math.max(...m.probabilities))];
    $('photo-answer').textContent = `${m.source}: most likely ${best}.`;
    if (photoUrl) $('photo-bars').prepend(element('img', { src: photoUrl, alt: m.source, className: 'photo' }));
  },
  /** A live frame that failed is not asked again until the run's state changes. */
  error: () => {
    if (liveAsked) [liveAsked, liveBlocked] = [false, true];
  },
};
