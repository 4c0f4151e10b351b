// One answer of the net, drawn where it was asked for: the image as the net sees it (its crop
// and channels, after resizing; beside the person's own image when there is one), the top 5,
// and what the model knows, so that an answer about a photo unlike its data is read as such.
import type { FromWorker } from '../protocol.js';
import { draw, element } from './dom.js';

type Prediction = Extract<FromWorker, { type: 'prediction' }>;

export function showPrediction(into: HTMLElement, m: Prediction, original?: string): void {
  const list = element('ol', { className: 'top5' });
  list.setAttribute('aria-label', `top 5 classes for ${m.source}`);
  for (const t of m.top) {
    const share = `${(100 * t.probability).toFixed(1)}%`;
    const meter = element('div', { className: 'meter' }, element('div'));
    (meter.firstElementChild as HTMLElement).style.width = share;
    meter.setAttribute('aria-hidden', 'true');
    list.append(element('li', {}, element('span', {}, t.name), meter, element('span', {}, share)));
  }
  const { width, height } = m.netView;
  const seen = element(
    'figure',
    { className: 'net-view' },
    draw(document.createElement('canvas'), m.netView, `${m.source} as the net sees it: ${width} × ${height} pixels`),
    element('figcaption', {}, `as the net sees it (${width} × ${height})`),
  );
  const pictures = element('div', { className: 'pictures' });
  if (original) {
    const img = element('img', { src: original, alt: m.source });
    pictures.append(element('figure', {}, img, element('figcaption', {}, 'yours')));
  }
  pictures.append(seen);
  into.replaceChildren(
    element('p', { className: 'source' }, m.source),
    element('div', { className: 'answer' }, pictures, list),
    element('p', { className: 'knows note' }, m.knows),
  );
}
