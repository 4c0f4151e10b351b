// What reads a trained net: classifying the person's images (with the run's model or a weights
// file; the camera's image and the Teach panel's photos with every class's probability), a test
// image's top 5, what the net sees in either (explain.ts), and the retrieval of similar training
// images by fc7 features. The net answers one question at a time (inTurn).
import {
  architecture, architectureForWeights, batchOutputFor, centreView, decodeRgb, feedBatch, MemoryDataset, Net, nearest, parseWeightsInfo, selectWeights, sharedBytes,
  softmax, storedImage, storedSide, toChannels, trainingData, weightsClasses, weightsPreprocessing, type Dataset, type Net as NetType, type TrainingData,
} from '../../src/browser.js';
import { preprocessingOptions } from '../../src/data/preprocessing.js';
import { openChoice } from '../data.js';
import { IMAGENET_CLASSES } from '../imagenet_classes.js';
import type { Picture, TopClass } from '../protocol.js';
import { backendFor } from './backend.js';
import { explain, forgetExplained } from './explain.js';
import { image, picture } from './pictures.js';
import { post } from './post.js';
import { bundledBase, type Session } from './session.js';

const RETRIEVAL_BANK = 2000;

interface Classifier {
  /** The run's name or the weights file's. */
  model: string;
  net: NetType;
  data: TrainingData;
  classes: readonly string[];
  /** What the model was trained on, in words. */
  source: string;
}

/** A model from a weights file, for classification. */
let picked: Classifier | null = null;

/** A new run: the picked model and every image explained are forgotten. */
export function forgetPicked(): void {
  picked = null;
  forgetExplained();
}

let turn: Promise<unknown> = Promise.resolve();
/**
 * Runs `f` after every question asked before it has been answered: a question's forward and
 * backward passes never run between another's write of the net's input and its read.
 */
export function inTurn(f: () => Promise<void>): Promise<void> {
  const mine = turn.then(f);
  turn = mine.catch(() => {});
  return mine;
}

/** When every question asked so far has been answered: training or scoring the net waits for it. */
export const answered = () => turn;

function topClasses(probs: Float32Array, names: readonly string[]): TopClass[] {
  return Array.from(probs, (probability, c) => ({ name: names[c] ?? `class ${c}`, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5);
}

const DATA_WORDS: Record<string, string> = {
  'fashion-mnist': 'Fashion-MNIST: small grey photos of clothes and shoes, white on a black background',
  folder: 'your folder of images',
  'your classes': 'your classes (Teach it your classes)',
};

/** What the model knows, said beside each answer: its data, its classes and the size it sees. */
function knows(c: Classifier): string {
  const [C, side] = c.data.input;
  const list = c.classes.length <= 12 ? `: ${c.classes.join(', ')}` : ` (${c.classes.slice(0, 3).join(', ')}, ...)`;
  return `${c.source}. It knows only these ${c.classes.length} classes${list}. It sees every image as ${side} × ${side} ${C === 1 ? 'grey' : 'colour'} pixels, as shown: a picture unlike its training images gets an answer all the same.`;
}

/** The model to classify with: a weights file the person picked (not for `own`), else the open run's (not while it trains). */
function classifier(session: Session | null, own = false): Classifier {
  if (picked && !own) return picked;
  if (!session) throw new Error(own ? 'teach the net your classes first, or open a kept run' : 'train a model first, open a kept run, or pick a weights file');
  if (session.running || session.scoring) throw new Error('pause or stop the run to classify with it');
  return { model: session.settings.name, net: session.net, data: session.data, classes: session.data.classes, source: `Trained on ${DATA_WORDS[session.data.name] ?? session.data.name}` };
}

/** Every class's probability for an RGB image of any size, the image as the net takes it in (before its crop), and as a data set of one. */
async function probabilities(c: Classifier, name: string, rgb: Uint8Array, width: number, height: number): Promise<{ p: Float32Array; pixels: Uint8Array; one: Dataset }> {
  const { net, data } = c;
  const [C, side] = data.sets.train.shape;
  const pixels = toChannels(storedImage(rgb, width, height, side), side * side, C);
  const images = sharedBytes(pixels.length);
  images.set(pixels);
  const one = new MemoryDataset(name, 'test', [C, side, side], [], [], images, new Int32Array(1));
  for await (const b of data.centreStream(one, [0]).epoch(0)) {
    feedBatch(net, data.test.plan, b);
    net.forward(1, 'eval');
  }
  const p = await net.readLogits(1);
  softmax(1, p.length, p, p);
  return { p, pixels, one };
}

const bars = (c: Classifier, source: string, p: Float32Array) => post({ type: 'bars', source, classes: [...c.classes], probabilities: p, model: c.model }, [p.buffer]);

/**
 * A picked or dropped image: its top 5 with the image as the net sees it and what the net sees in
 * it, or (`all`, the Teach panel) every class's probability by the open run's model.
 */
export async function classify(session: Session | null, name: string, bytes: Uint8Array, all: boolean): Promise<void> {
  const c = classifier(session, all);
  const decoded = await decodeRgb(bytes);
  if (!decoded.ok) throw new Error(`${name}: ${decoded.reason} (the page reads JPEG, PNG and WebP images)`);
  const { p, pixels, one } = await probabilities(c, name, decoded.rgb, decoded.width, decoded.height);
  if (all) return bars(c, name, p);
  const [C, side] = c.data.sets.train.shape;
  const crop = c.data.input[1];
  const view = centreView([C, side, side], crop);
  post({ type: 'prediction', source: name, forTest: false, top: topClasses(p, c.classes), netView: picture(pixels, [C, side, side], { ...view, side: crop }), knows: knows(c) });
  await explain(c, one, 0, name, false);
}

/** The camera's image, by the open run's model: every class's probability. */
export async function classifyFrame(session: Session | null, frame: Picture): Promise<void> {
  const c = classifier(session, true);
  bars(c, 'camera', (await probabilities(c, 'camera', frame.rgb, frame.width, frame.height)).p);
}

/** A test image's top 5 (its saved scores) and what the net sees in it. */
export async function classifyTest(s: Session | null, index: number): Promise<void> {
  if (!s?.results) throw new Error('the test images are scored when the run ends');
  const k = s.data.classes.length;
  const test = s.data.sets.test;
  const label = s.data.classes[test.label(index)];
  const c: Classifier = { model: s.settings.name, net: s.net, data: s.data, classes: s.data.classes, source: `Trained on ${DATA_WORDS[s.data.name] ?? s.data.name}` };
  const source = `test image ${index} (labelled ${label})`;
  post({
    type: 'prediction', source, forTest: true, top: topClasses(s.results.probs.subarray(index * k, (index + 1) * k), s.data.classes),
    netView: image(test, index, s.data.input[1]), knows: knows(c),
  });
  await explain(c, test, index, source, true);
}

/**
 * A weights file for classification: checked against the architecture, read with the page's data
 * where the file does not say how its model takes its pixels, and with its own class names where
 * it records them (the page's and alexnet's downloads do).
 */
export async function useWeights(session: Session | null, name: string, bytes: Uint8Array, archName: string): Promise<void> {
  picked = null;
  forgetExplained(false);
  const info = parseWeightsInfo(bytes, name, archName);
  const { tensors } = info;
  const arch = architectureForWeights(archName, tensors);
  selectWeights(arch, tensors, name); // every name and shape, before anything is built
  const own = weightsPreprocessing(info, archName, name);
  const named = weightsClasses(info, name);
  const backend = await backendFor(session?.settings.backend ?? 'auto');
  const { opened } = await openChoice({ kind: 'bundled' }, bundledBase(), storedSide(arch.input[1]), () => {});
  const data = trainingData(opened, {
    spec: opened.name, crop: arch.input[1], batch: 1, seed: 1, ...(own ? preprocessingOptions(own) : { scale: arch.inputScale }), workers: 0, output: batchOutputFor(backend),
    channels: arch.input[0], fixedChannels: arch.input[0],
  });
  const net = new Net(backend, architecture(archName, data.input, arch.classes), 1);
  net.importTensors(tensors, name);
  const imagenet = arch.classes === IMAGENET_CLASSES.length;
  const classes = named ?? (arch.classes === data.classes.length ? data.classes : imagenet ? IMAGENET_CLASSES : []);
  const source =
    named ? `${name}: a model of ${named.length} classes of its own`
    : imagenet ? `${name}: a model of ImageNet's 1,000 classes (photos)`
    : `${name}: a model with the class names of ${DATA_WORDS[data.name] ?? data.name}`;
  picked = { model: name, net, data, classes, source };
  post({ type: 'weights', message: `${name}: ${archName} weights, ${arch.classes} classes, ready to classify` });
}

export async function similar(s: Session | null, index: number): Promise<void> {
  if (!s?.results) throw new Error('the retrieval grid needs a finished run');
  if (s.running || s.scoring) throw new Error('pause or stop the run to look for similar images');
  const { net, data } = s;
  const features = async (set: Dataset, indices: number[]) => {
    const parts: Float32Array[] = [];
    for await (const b of data.centreStream(set, indices).epoch(0)) {
      feedBatch(net, data.test.plan, b);
      net.forward(b.count, 'eval');
      parts.push((await net.readLayerOutput('fc7', b.count)).data);
    }
    const all = new Float32Array(parts.reduce((k, p) => k + p.length, 0));
    parts.reduce((k, p) => (all.set(p, k), k + p.length), 0);
    return all;
  };
  const train = data.sets.train;
  s.bank ??= await features(train, Array.from({ length: Math.min(RETRIEVAL_BANK, train.count) }, (_, i) => i));
  const query = await features(data.sets.test, [index]);
  const neighbours = nearest(query, s.bank, query.length, 6).map((nb) => ({ picture: image(train, nb.index), label: data.classes[train.label(nb.index)], distance: nb.distance }));
  post({ type: 'similar', query: image(data.sets.test, index), neighbours });
}
