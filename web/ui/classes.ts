// The Teach panel's classes: made, named and removed (after a question) by the person, each with
// its images, added by drop, by pick, or by holding Record while the camera runs (a few frames a
// second). Each class shows its count and its newest images. Every change is written to IndexedDB
// at once (store.ts: a class, or the images just added), so the classes survive a reload. A card
// is built once per class and updated in place, so a held Record button keeps its press.
import { imageHeaderProblem } from '../../src/data/pixels.js';
import type { ClassImages } from '../protocol.js';
import { deleteClass, loadClasses, saveClass, saveImages, type KeptClass, type KeptImage } from '../store.js';
import { cameraOn, framePng } from './camera.js';
import { $, ask, element, say } from './dom.js';
import { droppedFiles, dropTarget } from './drop.js';
import { setFieldError } from './fields.js';

/** Camera frames a second while Record is held. */
const FRAMES_PER_SECOND = 4;
const THUMBNAILS = 24;

interface PageImage extends KeptImage {
  url: string;
}
interface PageClass extends KeptClass {
  images: PageImage[];
  card: HTMLLIElement;
}

let classes: PageClass[] = [];
let recording: { c: PageClass; button: HTMLButtonElement; timer: number } | null = null;
/** Strictly increasing times, so that classes and images keep the order they were made in. */
let lastStamp = 0;
const stamp = () => (lastStamp = Math.max(lastStamp + 1, Date.now()));
const newId = (prefix: string) => `${prefix}-${stamp().toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A problem with `name` for class `c` (its folder name in a download's data): empty, taken, or not a folder name. */
function nameProblem(name: string, c: PageClass): string | null {
  if (name === '') return 'a class needs a name';
  if (/[/\\]/.test(name) || name === '.' || name === '..') return `"${name}" cannot be a folder name: leave out / and \\`;
  if (classes.some((o) => o !== c && o.name === name)) return `another class is named "${name}"`;
  return null;
}

function nameInput(c: PageClass): HTMLInputElement {
  return c.card.querySelector('input[type=text]')!;
}

function updateCard(c: PageClass): void {
  const count = c.card.querySelector('.count')!;
  count.textContent = plural(c.images.length, 'image');
  const shown = c.images.slice(-THUMBNAILS);
  const more = c.images.length - shown.length;
  c.card.querySelector('.class-thumbs')!.replaceChildren(
    ...shown.map((i) => element('img', { src: i.url, alt: '', width: 40, height: 40 })),
    ...(more > 0 ? [element('span', { className: 'note' }, `and ${more} more`)] : []),
  );
  for (const b of c.card.querySelectorAll<HTMLButtonElement>('[data-label]')) b.setAttribute('aria-label', `${b.dataset.label} ${c.name}`);
}

function card(c: PageClass): HTMLLIElement {
  const errorId = `${c.id}-error`;
  const name = element('input', { type: 'text', value: c.name, autocomplete: 'off' });
  name.setAttribute('aria-describedby', `${errorId} ${c.id}-count`);
  name.addEventListener('change', () => void rename(c, name.value.trim()));
  const error = element('span', { id: errorId, className: 'field-error', hidden: true });
  const hold = element('button', { type: 'button', className: 'hold', disabled: !cameraOn() }, 'Hold to record');
  hold.dataset.label = 'Hold to record camera frames into';
  hold.setAttribute('aria-pressed', 'false');
  holdable(hold, c);
  const input = element('input', { type: 'file', multiple: true, accept: 'image/jpeg,image/png,image/webp', hidden: true });
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    void Promise.all(files.map(async (f) => ({ path: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))).then((read) => addFiles(c, read));
  });
  const pick = element('button', { type: 'button' }, 'Choose images…');
  pick.dataset.label = 'Choose images for';
  pick.addEventListener('click', () => input.click());
  const remove = element('button', { type: 'button', className: 'remove' }, 'Remove');
  remove.dataset.label = 'Remove the class';
  remove.addEventListener('click', () => void removeClass(c));
  const li = element(
    'li',
    { className: 'class-card' },
    element('label', {}, 'Class name', name),
    error,
    element('p', { className: 'count', id: `${c.id}-count` }),
    element('div', { className: 'class-thumbs' }),
    element('p', { className: 'drop-hint' }, 'Drop images here, or:'),
    element('div', { className: 'class-actions' }, hold, pick, input, remove),
  );
  li.dataset.id = c.id;
  dropTarget(li, (e) => {
    void droppedFiles(e.dataTransfer!)
      .then(({ files }) => addFiles(c, files))
      .catch((err) => say(`could not read what was dropped: ${(err as Error).message}`));
  });
  return li;
}

async function rename(c: PageClass, name: string): Promise<void> {
  const problem = nameProblem(name, c);
  setFieldError(nameInput(c), `${c.id}-error`, problem);
  if (problem) return;
  c.name = name;
  updateCard(c);
  await saveClass({ id: c.id, name, created: c.created });
}

/** Holding `button` (pointer, or Space or Enter) records camera frames into `c` until it is let go. */
function holdable(button: HTMLButtonElement, c: PageClass): void {
  button.addEventListener('pointerdown', (e) => {
    button.setPointerCapture(e.pointerId);
    startRecording(c, button);
  });
  for (const end of ['pointerup', 'pointercancel', 'lostpointercapture', 'blur'] as const) button.addEventListener(end, stopRecording);
  button.addEventListener('keydown', (e) => {
    if (e.key !== ' ' && e.key !== 'Enter') return;
    e.preventDefault();
    if (!e.repeat) startRecording(c, button);
  });
  button.addEventListener('keyup', (e) => (e.key === ' ' || e.key === 'Enter') && stopRecording());
}

function startRecording(c: PageClass, button: HTMLButtonElement): void {
  if (recording || !cameraOn()) return;
  const grab = async () => {
    const bytes = await framePng();
    if (bytes) await addImages(c, [{ name: `camera-${stamp()}.png`, bytes }]);
  };
  recording = { c, button, timer: window.setInterval(() => void grab(), 1000 / FRAMES_PER_SECOND) };
  button.setAttribute('aria-pressed', 'true');
  button.textContent = 'Recording…';
  void grab();
}

function stopRecording(): void {
  if (!recording) return;
  clearInterval(recording.timer);
  recording.button.setAttribute('aria-pressed', 'false');
  recording.button.textContent = 'Hold to record';
  recording = null;
}

/** Dropped or picked files into `c`: the images among them (by their first bytes), the others named in the page's message. */
async function addFiles(c: PageClass, files: { path: string; bytes: Uint8Array }[]): Promise<void> {
  const problems = files.flatMap((f) => {
    const problem = imageHeaderProblem(f.bytes.subarray(0, 16), f.bytes.length);
    return problem ? [`${f.path}: ${problem}`] : [];
  });
  say(problems.length > 0 ? `${problems.join('; ')}; ${problems.length === files.length ? 'nothing was added' : 'the other files were added'}` : null);
  const images = files.filter((f) => !imageHeaderProblem(f.bytes.subarray(0, 16), f.bytes.length));
  await addImages(c, images.map((f) => ({ name: f.path.split('/').pop()!, bytes: f.bytes })));
}

/** A name not yet in `c` (a download's folder holds each image once): "photo.png", else "photo-2.png", ... */
function freeName(c: PageClass, name: string): string {
  const taken = new Set(c.images.map((i) => i.name));
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  let free = name;
  for (let k = 2; taken.has(free); k++) free = `${stem}-${k}${ext}`;
  return free;
}

async function addImages(c: PageClass, added: { name: string; bytes: Uint8Array }[]): Promise<void> {
  if (added.length === 0 || !classes.includes(c)) return;
  const kept: PageImage[] = [];
  for (const a of added) {
    const image = { id: newId('image'), classId: c.id, name: freeName(c, a.name), bytes: a.bytes, added: stamp() };
    kept.push({ ...image, url: URL.createObjectURL(new Blob([a.bytes as Uint8Array<ArrayBuffer>])) });
    c.images.push(kept.at(-1)!);
  }
  updateCard(c);
  await saveImages(kept.map(({ url: _, ...image }) => image));
}

async function removeClass(c: PageClass): Promise<void> {
  if (!(await ask(`Remove the class "${c.name}" and its ${plural(c.images.length, 'image')}? This cannot be undone.`, 'Remove'))) return;
  if (recording?.c === c) stopRecording();
  classes = classes.filter((o) => o !== c);
  c.card.remove();
  for (const i of c.images) URL.revokeObjectURL(i.url);
  await deleteClass(c.id);
}

/** A new class, "Class N", shown at once and written to the store. */
function addClass(): PageClass {
  let n = classes.length + 1;
  while (classes.some((c) => c.name === `Class ${n}`)) n++;
  const c = withCard({ id: newId('class'), name: `Class ${n}`, created: stamp() }, []);
  saveClass({ id: c.id, name: c.name, created: c.created }).catch((err) => say(`the class could not be kept in this browser's storage: ${(err as Error).message}`));
  return c;
}

function withCard(kept: KeptClass, images: KeptImage[]): PageClass {
  const c: PageClass = { ...kept, images: images.map((i) => ({ ...i, url: URL.createObjectURL(new Blob([i.bytes as Uint8Array<ArrayBuffer>])) })), card: null! };
  c.card = card(c);
  classes.push(c);
  $('class-list').append(c.card);
  updateCard(c);
  return c;
}

/** The Record buttons work while the camera runs. */
export function cameraChanged(): void {
  if (!cameraOn()) stopRecording();
  for (const b of document.querySelectorAll<HTMLButtonElement>('#class-list .hold')) b.disabled = !cameraOn();
}

/** The classes as the worker trains on them, or null after saying what is missing (the field at fault focused). */
export function classesForTraining(): ClassImages[] | null {
  for (const c of classes) {
    const input = nameInput(c);
    const problem = nameProblem(input.value.trim(), c);
    setFieldError(input, `${c.id}-error`, problem);
    if (problem) {
      input.focus();
      return null;
    }
  }
  const problem =
    classes.length < 2 ? 'make two classes at least (Add a class)'
    : classes.find((c) => c.images.length < 2) ? `give the class "${classes.find((c) => c.images.length < 2)!.name}" two images at least (one is held out to test on)`
    : null;
  say(problem);
  return problem ? null : classes.map((c) => ({ name: c.name, images: c.images.map((i) => ({ name: i.name, bytes: i.bytes })) }));
}

/** The kept classes, or two empty ones for a first visit. */
export async function setUpClasses(): Promise<void> {
  $('add-class').addEventListener('click', () => {
    const input = nameInput(addClass());
    input.focus();
    input.select();
  });
  const kept = await loadClasses();
  for (const c of kept.classes) withCard(c, kept.images.filter((i) => i.classId === c.id));
  if (classes.length === 0) for (let k = 0; k < 2; k++) addClass();
}
