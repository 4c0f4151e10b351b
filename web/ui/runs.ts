// The Runs panel: every run kept in this browser, newest first, with its name, network, data,
// epochs, test accuracy and date, and for each: Open (its curves, filters and scores as saved),
// Resume (train on), Download (its weights) and Delete, which asks first. While a run trains,
// nothing here can open or resume another run over it.
import type { RunSummary, ToWorker } from '../protocol.js';
import { $, ask, element, percent } from './dom.js';

type Send = (m: ToWorker) => void;

let runs: RunSummary[] = [];
let open: string | null = null;
let busy = false;
let send: Send = () => {};
let openKept: (run: RunSummary, resume: boolean) => void = () => {};

export const runCount = () => runs.length;

function button(label: string, name: string, action: () => void, disabled: boolean): HTMLButtonElement {
  const b = element('button', { type: 'button', disabled }, label);
  b.setAttribute('aria-label', `${label} ${name}`);
  b.addEventListener('click', action);
  return b;
}

function render(): void {
  $('no-runs').hidden = runs.length > 0;
  $('run-list').replaceChildren(
    ...runs.map((r) => {
      const unfinished = r.epoch < r.epochs;
      const epochs = unfinished ? `${r.epoch} of ${r.epochs} epochs, ${r.step} steps` : `${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`;
      const accuracy = r.top1 === null ? 'not scored' : `test top-1 ${percent(r.top1)}`;
      const item = element(
        'li',
        { className: r.id === open ? 'run open' : 'run' },
        element('div', { className: 'run-name' }, r.name, r.id === open ? element('span', { className: 'badge' }, ' (open)') : ''),
        element('div', { className: 'note' }, `${r.arch} on ${r.data} · ${epochs} · ${accuracy} · ${new Date(r.savedAt).toLocaleString()}`),
        element(
          'div',
          { className: 'run-actions' },
          button('Open', r.name, () => openKept(r, false), busy),
          button('Resume', r.name, () => openKept(r, true), busy || !unfinished),
          button('Download', r.name, () => send({ type: 'export', id: r.id }), false),
          button('Delete', r.name, () => void confirmDelete(r), busy && r.id === open),
        ),
      );
      item.dataset.id = r.id;
      return item;
    }),
  );
}

async function confirmDelete(r: RunSummary): Promise<void> {
  const question = `Delete "${r.name}" (${r.arch} on ${r.data}, ${r.epoch} of ${r.epochs} epochs${r.top1 === null ? '' : `, test top-1 ${percent(r.top1)}`})? Its weights and curves go; this cannot be undone.`;
  if (await ask(question, 'Delete')) send({ type: 'delete', id: r.id });
}

export function setUpRuns(sender: Send, opener: (run: RunSummary, resume: boolean) => void): void {
  send = sender;
  openKept = opener;
}

export function showRuns(list: RunSummary[], openId: string | null): void {
  runs = list;
  open = openId;
  render();
}

/** While a run loads, trains or is scored, the list cannot open or resume another. */
export function setRunsBusy(b: boolean): void {
  busy = b;
  render();
}
