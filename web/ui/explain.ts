// What the net sees in the image of an answer (issue 23, docs/explain.md), under its top 5:
// Grad-CAM and saliency over the image for a class the person chooses (the top class first), and
// every layer's output, a conv layer's as a grid of feature maps (a tile per channel, as CNN
// Explainer shows them), an fc layer's as a strip. The worker computes them (work/explain.ts)
// with the library's methods and pictures; this draws them.
import type { FromWorker, RgbaPicture, ToWorker } from '../protocol.js';
import { $, draw, element } from './dom.js';

type Of<K extends FromWorker['type']> = Extract<FromWorker, { type: K }>;
type Send = (m: ToWorker) => void;

let send: Send = () => {};
export const setUpExplain = (s: Send) => (send = s);

/** Where an answer is drawn: below the test images, or in Classify. */
const place = (forTest: boolean) => $(forTest ? 'test-prediction' : 'prediction');

/** The panel of the image `source` at its place, if it is still the one shown there. */
function panelOf(forTest: boolean, source: string): HTMLElement | null {
  const panel = place(forTest).querySelector<HTMLElement>('.explain');
  return panel?.dataset.source === source ? panel : null;
}

function figure(p: RgbaPicture, label: string, caption: string, className = ''): HTMLElement {
  return element('figure', { className }, draw(document.createElement('canvas'), p, label), element('figcaption', {}, caption));
}

function layerFigure(l: Of<'activations'>['layers'][number], source: string): HTMLElement {
  if (l.shape.length === 3) {
    const [C, h, w] = l.shape;
    const label = `${l.name}'s output for ${source}: ${C} feature maps of ${h} × ${w}, a grey tile each, white at the layer's largest value`;
    return figure(l.picture, label, `${l.name}: ${C} maps of ${h} × ${w}`);
  }
  const label = `${l.name}'s output for ${source}: ${l.shape[0]} features as a strip of grey cells, white at the largest`;
  return figure(l.picture, label, `${l.name}: ${l.shape[0]} features`, 'strip');
}

export const explainHandlers = {
  activations: (m: Of<'activations'>) => {
    const chooser = element('select', {}, ...m.classes.map((name, c) => element('option', { value: String(c) }, name)));
    const maps = element('div', { className: 'maps' });
    maps.setAttribute('aria-live', 'polite');
    chooser.addEventListener('change', () => {
      maps.setAttribute('aria-busy', 'true');
      send({ type: 'explainClass', forTest: m.forTest, class: Number(chooser.value) });
    });
    const panel = element(
      'section',
      { className: 'explain' },
      element('h4', {}, 'What the net sees'),
      element('label', { className: 'chooser' }, 'Grad-CAM and saliency for the class', chooser),
      maps,
      element('h4', {}, 'Every layer’s output, from the input to the scores'),
      element('div', { className: 'layers' }, ...m.layers.map((l) => layerFigure(l, m.source))),
    );
    panel.dataset.source = m.source;
    panel.setAttribute('aria-label', `what the net sees in ${m.source}`);
    place(m.forTest).querySelector('.explain')?.remove();
    place(m.forTest).append(panel);
  },
  maps: (m: Of<'maps'>) => {
    const panel = panelOf(m.forTest, m.source);
    if (!panel) return; // another image has been asked about since
    const chooser = panel.querySelector('select')!;
    chooser.value = String(m.class);
    const name = chooser.selectedOptions[0].textContent;
    const share = `${(100 * m.probability).toFixed(1)}%`;
    const maps = panel.querySelector('.maps')!;
    maps.replaceChildren(
      figure(m.gradCam, `Grad-CAM for ${name} over ${m.source}: where ${m.layer}'s evidence for ${name} lies, red the most`, `Grad-CAM (${m.layer}): ${name}, ${share}`, 'gradcam'),
      figure(m.saliency, `Saliency for ${name} over ${m.source}: the pixels that move its score most, red the most`, `saliency: ${name}`, 'saliency'),
    );
    maps.removeAttribute('aria-busy');
  },
};
