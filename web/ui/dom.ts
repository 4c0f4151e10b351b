// Small helpers the panels share: elements by id, pictures onto canvases, the page's one message,
// and the question asked before anything is deleted.
import type { Picture } from '../protocol.js';

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** Shows `text` in the page's alert line (read out by screen readers), or hides it (null). */
export function say(text: string | null): void {
  $('message').hidden = text === null;
  $('message').textContent = text ?? '';
}

/** Draws `p` at its own size onto `canvas` (CSS scales it), labelled for screen readers. */
export function draw(canvas: HTMLCanvasElement, p: Picture, label?: string): HTMLCanvasElement {
  canvas.width = p.width;
  canvas.height = p.height;
  const data = new ImageData(p.width, p.height);
  for (let i = 0; i < p.width * p.height; i++) {
    data.data.set(p.rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    data.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(data, 0, 0);
  if (label !== undefined) {
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', label);
  }
  return canvas;
}

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

export const percent = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Asks `question` in the page's dialog (focus on "Keep it"); true when the person chose `action` (e.g. "Delete"). */
export function ask(question: string, action: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-text').textContent = question;
  $('confirm-action').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => (dialog.onclose = () => resolve(dialog.returnValue === 'yes')));
}
