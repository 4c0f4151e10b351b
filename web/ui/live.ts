// The Live panel: the open run's progress and status, its curves (a loss per step and the epochs'
// validation figures, as saved with the run, so that an opened run draws exactly what it drew),
// its conv1 filters, and once scored its test scores, confusion matrix with each class's
// accuracy, and test images marked right or wrong, whose top 5, what the net sees in them
// (explain.ts) and nearest training images appear below them, where the person clicked.
import { confusionMatrixSvg, lineChart } from '../../src/report/charts.js';
import type { EpochPoint, FromWorker, Picture, RunPosition } from '../protocol.js';
import { $, barList, draw, element, percent } from './dom.js';
import { showPrediction } from './prediction.js';

type Of<K extends FromWorker['type']> = Extract<FromWorker, { type: K }>;

let losses: number[] = [];
let epochs: EpochPoint[] = [];
let stepsPerEpoch = 1;
let scoringFrom = 0;
/** When the curves and the status line were last drawn: while training, at most every second and every quarter second. */
let drawnAt = 0;
let toldAt = 0;
let lastStep: Of<'step'> | null = null;

function tellStep(m: Of<'step'>): void {
  bar(m.done / m.total);
  status(`Epoch ${m.epoch}, step ${m.step} of ${m.steps}: loss ${m.loss.toFixed(4)}, ${m.imgPerS.toFixed(0)} img/s, ${minutes(m.etaS)} left.`);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Where a run stopped, in words that are true: whole epochs, and the steps of an unfinished one. */
export function positionText(p: RunPosition): string {
  if (p.epoch >= p.epochs) return `Done after ${plural(p.epoch, 'epoch')} (${p.stepsPerEpoch} steps each)`;
  const steps = p.stepInEpoch > 0 ? ` and ${plural(p.stepInEpoch, 'step')}` : '';
  return `Stopped after ${plural(p.epoch, 'epoch')}${steps} of ${p.epochs} (${p.stepsPerEpoch} steps each)`;
}

function drawCharts(): void {
  // Every 10th step is plenty for a curve and keeps the SVG small.
  const shown = losses.flatMap((loss, i): [number, number][] => (i % 10 === 0 || i === losses.length - 1 ? [[(i + 1) / stepsPerEpoch, loss]] : []));
  $('loss-chart').innerHTML = lineChart('Loss', 'epoch', 'cross-entropy', [
    { name: 'train (steps)', points: shown },
    { name: 'validation', points: epochs.map((e) => [e.epoch, e.valLoss]) },
  ]);
  $('accuracy-chart').innerHTML = lineChart('Validation accuracy', 'epoch', 'accuracy', [
    { name: 'top-1', points: epochs.map((e) => [e.epoch, e.valTop1]) },
    { name: 'top-5', points: epochs.map((e) => [e.epoch, e.valTop5]) },
  ]);
  const last = epochs.at(-1);
  $('charts-summary').textContent =
    `${plural(losses.length, 'step')}` + (losses.length > 0 ? `, last loss ${losses.at(-1)!.toFixed(4)}` : '') + (last ? `; after epoch ${last.epoch}: validation top-1 ${percent(last.valTop1)}` : '');
}

const minutes = (s: number) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.max(0, Math.round(s))} s`);
const status = (text: string) => ($('status').textContent = text);
const bar = (fraction: number) => {
  $('bar').style.width = `${(100 * fraction).toFixed(1)}%`;
  $('progress').setAttribute('aria-valuenow', (100 * fraction).toFixed(0));
};

export function clearResults(): void {
  $('results').hidden = true;
  $('class-accuracy').replaceChildren();
  $('test-prediction').replaceChildren();
  $('retrieval').replaceChildren();
}

export const liveHandlers = {
  run: (m: Of<'run'>) => {
    lastStep = null;
    losses = [...m.losses];
    epochs = m.epochs;
    stepsPerEpoch = m.position.stepsPerEpoch;
    clearResults();
    $('run-notes').replaceChildren();
    $<HTMLCanvasElement>('filters').width = 1;
    drawCharts();
    const p = m.position;
    bar((p.epoch * p.stepsPerEpoch + p.stepInEpoch) / (p.epochs * p.stepsPerEpoch));
    $('run-title').textContent = `${m.settings.name}: ${m.settings.arch} AlexNet${m.dataKind === 'classes' ? ' on your classes' : ''}`;
    status(`${m.train} training, ${m.val} validation and ${m.test} test images; ${(m.parameters / 1e6).toFixed(2)} M parameters. ${positionText(p)}.`);
  },
  // Drawing competes with training for the cores (the page's renderer beside the worker's
  // threads): the curves are redrawn once a second, and at a pause or the end of an epoch.
  step: (m: Of<'step'>) => {
    losses.push(m.loss);
    lastStep = m;
    const now = performance.now();
    if (now - toldAt > 250) {
      toldAt = now;
      tellStep(m);
    }
    if (now - drawnAt > 1000) {
      drawnAt = now;
      drawCharts();
    }
  },
  epoch: (m: Of<'epoch'>) => {
    const { type: _, ...point } = m;
    epochs.push(point);
    drawCharts();
  },
  notice: (m: Of<'notice'>) => $('run-notes').append(element('li', {}, m.message)),
  filters: (m: Of<'filters'>) => draw($<HTMLCanvasElement>('filters'), m.picture, `conv1's ${m.towers === 2 ? 'two towers of ' : ''}kernels, as a grid of small images`),
  scoring: (m: Of<'scoring'>) => {
    if (m.done === 0) scoringFrom = performance.now();
    const rate = m.done / Math.max(1e-3, (performance.now() - scoringFrom) / 1000);
    status(`Scoring the test set: ${m.done} of ${m.total} images${m.done > 0 ? `, ${minutes((m.total - m.done) / rate)} left` : ''}. Cancel scoring keeps the run as it is, unscored.`);
    bar(m.done / m.total);
  },
  cancelled: (m: Of<'cancelled'>) => status(`Scoring cancelled. ${positionText(m.position)}; kept, unscored: Resume trains on, Stop scores it.`),
  done: (m: Of<'done'>) => {
    drawCharts();
    bar(1);
    $('results').hidden = false;
    $('scores').textContent = `Test top-1 ${percent(m.top1)}, top-5 ${percent(m.top5)} on ${m.n} images.`;
    status(`${positionText(m.position)}. Test top-1 ${percent(m.top1)}.`);
    $('confusion').innerHTML = confusionMatrixSvg(m.confusion, m.classes);
    $('confusion').setAttribute('aria-label', `Confusion matrix of ${m.n} test images over ${m.classes.length} classes`);
    showClassAccuracy(m.confusion, m.classes);
    $('tests').replaceChildren(...m.tests.map((p, index) => testButton(p, index, m.testLabels[index], m.testPredicted[index])));
  },
  prediction: (m: Of<'prediction'>) => {
    if (!m.forTest) return;
    showPrediction($('test-prediction'), m);
    $('test-prediction').scrollIntoView({ block: 'nearest' });
  },
  similar: (m: Of<'similar'>) => {
    const figure = (p: Picture, caption: string) => element('figure', {}, draw(document.createElement('canvas'), p, caption), element('figcaption', {}, caption));
    $('retrieval').replaceChildren(
      element('h4', {}, 'Nearest training images by fc7 features'),
      element('div', { className: 'thumbs' }, figure(m.query, 'query'), ...m.neighbours.map((n) => figure(n.picture, `${n.label} (${n.distance.toFixed(1)})`))),
    );
  },
};

let onTest: (index: number) => void = () => {};
export const onTestClicked = (use: (index: number) => void) => (onTest = use);

/** Under the confusion matrix, a bar per class: its accuracy, the matrix's diagonal over its row (the class's test images). */
function showClassAccuracy(confusion: number[][], classes: string[]): void {
  const bars = classes.map((name, c) => {
    const count = confusion[c].reduce((a, b) => a + b, 0);
    const right = confusion[c][c];
    return { name, value: count > 0 ? right / count : 0, text: count > 0 ? `${(100 * right / count).toFixed(1)}% (${right} of ${count})` : 'no test images' };
  });
  const caption = 'Accuracy per class: the share of its test images the model gets right';
  const list = barList(caption, bars);
  list.classList.add('wide-values');
  $('class-accuracy').replaceChildren(element('h3', {}, 'Accuracy per class'), list);
}

/** A test image to click, marked right (✓) or wrong (✗) with the class the model gives it. */
function testButton(p: Picture, index: number, label: string, predicted: string): HTMLButtonElement {
  const right = predicted === label;
  const mark = element('span', { className: `mark ${right ? 'right' : 'wrong'}` }, `${right ? '✓' : '✗'} ${predicted}`);
  mark.setAttribute('aria-hidden', 'true');
  const button = element('button', { type: 'button', className: 'thumb', title: `test image ${index}: labelled ${label}, taken for ${predicted}` }, draw(document.createElement('canvas'), p), mark);
  button.setAttribute('aria-label', `Test image ${index}, labelled ${label}, taken for ${predicted} (${right ? 'right' : 'wrong'}): classify it, see inside the net and find similar training images`);
  button.addEventListener('click', () => {
    $('test-prediction').replaceChildren(element('p', { className: 'note' }, `Classifying test image ${index}…`));
    onTest(index);
  });
  return button;
}

/** Status lines for the states that have no message of their own; the curves as they are at a pause. */
export function showState(state: string): void {
  if (state === 'loading') status('Loading the data…');
  if (state !== 'paused') return;
  drawCharts();
  if (lastStep && /^Epoch/.test($('status').textContent ?? '')) {
    tellStep(lastStep);
    status(`${$('status').textContent} (paused: saved)`);
  }
}
