// Small helpers the panels share: elements by id, pictures onto canvases, the page's one message,
// and the question asked before anything is deleted.
import type { Picture, RgbaPicture } from '../protocol.js';

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** Shows `text` in the page's alert line (read out by screen readers), or hides it (null). */
export function say(text: string | null): void {
  $('message').hidden = text === null;
  $('message').textContent = text ?? '';
}

/** Draws `p` (RGB, or the explain library's RGBA) at its own size onto `canvas` (CSS scales it), labelled for screen readers. */
export function draw(canvas: HTMLCanvasElement, p: Picture | RgbaPicture, label?: string): HTMLCanvasElement {
  canvas.width = p.width;
  canvas.height = p.height;
  const data = new ImageData(p.width, p.height);
  if ('rgba' in p) data.data.set(p.rgba);
  else {
    for (let i = 0; i < p.width * p.height; i++) {
      data.data.set(p.rgb.subarray(3 * i, 3 * i + 3), 4 * i);
      data.data[4 * i + 3] = 255;
    }
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

/** A bar per item, in order: a meter (0..1) named by its item, and its value in words. */
export function barList(caption: string, bars: { name: string; value: number; text: string }[]): HTMLOListElement {
  const list = element('ol', { className: 'bars' });
  list.setAttribute('aria-label', caption);
  for (const b of bars) {
    const meter = element('meter', { min: 0, max: 1, value: b.value });
    list.append(element('li', {}, element('label', {}, element('span', { className: 'bar-name' }, b.name), meter, element('span', { className: 'bar-value' }, b.text))));
  }
  return list;
}

/** Asks `question` in the page's dialog (focus on "Keep it"); true when the person chose `action` (e.g. "Delete"). */
export function ask(question: string, action: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-text').textContent = question;
  $('confirm-action').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => (dialog.onclose = () => resolve(dialog.returnValue === 'yes')));
}
