// What the net sees in the image of an answer (issue 23, docs/explain.md): every layer's output,
// and Grad-CAM and saliency for a class, with the library's own methods and pictures (nothing
// here computes a map). The image last explained where the person looks (below the test images,
// or in Classify) is kept, so that a class chosen for it recomputes its maps.
import {
  activations, featureMapGrid, gradCam, heatMapOverlay, saliency, streamImages, type Activation, type Dataset, type Net, type Picture, type TrainingData,
} from '../../src/browser.js';
import type { LayerPicture } from '../protocol.js';
import { post } from './post.js';

/** The model that answered: its net, its data (how an image becomes its input) and its class names. */
export interface Model {
  net: Net;
  data: TrainingData;
  classes: readonly string[];
}

interface Explained extends Model {
  source: string;
  input: Float32Array;
  pixels: Uint8Array;
}

/** Per place: below the test images (true), in Classify (false). */
const explained = new Map<boolean, Explained>();

/** Output pixels per image pixel of the overlays: a small image (28 x 28) drawn at 112. */
const overlayScale = (side: number) => Math.max(1, Math.floor(112 / side));

/** A layer's output as a picture: a [C, H, W] map as a grid of tiles (each at least about 14 px), [F] features as a strip. */
function layerPicture(a: Activation): LayerPicture {
  const picture = a.shape.length === 3 ? featureMapGrid(a, { scale: Math.max(1, Math.round(14 / a.shape[1])) }) : featureMapGrid({ ...a, shape: [1, 1, a.shape[0]] });
  return { name: a.name, shape: a.shape, picture };
}

const buffers = (pictures: Picture[]) => pictures.map((p) => p.rgba.buffer as ArrayBuffer);

/**
 * Image `index` of `set` as `model` takes it in (its centre crop and preprocessing: the one path,
 * streamImages), every layer's output, then its maps for its top class.
 */
export async function explain(model: Model, set: Dataset, index: number, source: string, forTest: boolean): Promise<void> {
  const [image] = await streamImages(model.net, model.data.centreStream(set, [index]), set);
  const e: Explained = { ...model, source, input: image.input, pixels: image.pixels };
  explained.set(forTest, e);
  const layers = (await activations(e.net, e.input)).map(layerPicture);
  post({ type: 'activations', source, forTest, layers, classes: [...e.classes] }, buffers(layers.map((l) => l.picture)));
  await maps(e, forTest);
}

/** Grad-CAM (at the last conv layer) and saliency for `asked` (default: the top class), drawn over the image as the net sees it. */
async function maps(e: Explained, forTest: boolean, asked?: number): Promise<void> {
  const cam = await gradCam(e.net, e.input, { class: asked });
  const sal = await saliency(e.net, e.input, { class: cam.class });
  const shape = e.net.arch.input;
  const scale = overlayScale(shape[1]);
  const gradCamPicture = heatMapOverlay(e.pixels, shape, cam.map, { scale });
  const saliencyPicture = heatMapOverlay(e.pixels, shape, sal.map, { scale });
  post(
    { type: 'maps', source: e.source, forTest, class: cam.class, probability: cam.probability, layer: cam.layer, gradCam: gradCamPicture, saliency: saliencyPicture, gradCamMap: cam.map },
    buffers([gradCamPicture, saliencyPicture]),
  );
}

/**
 * The maps of the image last explained at `forTest` for class `c`. `busy(net)`: whether that net
 * is training or scoring now (then it cannot answer).
 */
export async function explainClass(forTest: boolean, c: number, busy: (net: Net) => boolean): Promise<void> {
  const e = explained.get(forTest);
  if (!e) throw new Error('classify an image first');
  if (busy(e.net)) throw new Error('pause or stop the run to look inside it');
  await maps(e, forTest, c);
}

/** A new model: the images explained with the old one (at `place`, else everywhere) are forgotten. */
export function forgetExplained(place?: boolean): void {
  if (place === undefined) explained.clear();
  else explained.delete(place);
}
