// The report's "What the net sees" section (docs/explain.md): for two test images the net gets
// right and two it gets wrong, every conv layer's activations as feature-map grids, and Grad-CAM
// and occlusion overlays; and the nine test images that most activate each of 16 units of the
// last conv layer, cut to their receptive fields (Zeiler & Fergus's Figure 2).
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { LoadedModel, Predictions } from '../eval/run.js';
import { trainingDataOf } from '../eval/predict.js';
import { activations, explainNet, gradCam, lastConv, layerName, occlusion, topImages } from '../explain/explain.js';
import { cropPixels, streamImages } from '../explain/inputs.js';
import { featureMapGrid, heatMapOverlay, imagePicture, pictureToPng, topImagesGrid, type Picture } from '../explain/render.js';
import { writeFileAtomic } from '../io/files.js';
import { architecture } from '../nn/architectures.js';

export interface SeenImage {
  index: number;
  label: number;
  predicted: number;
  /** Pictures, by what they show: image, gradcam, occlusion, and conv1 ... conv5. */
  files: Record<string, string>;
}

export interface Sees {
  images: SeenImage[];
  /** The top-images grid of the last conv layer, its units and images per unit. */
  units: { file: string; layer: string; count: number; k: number };
  html: string;
}

const argmax = (row: Float32Array) => row.reduce((best, v, c) => (v > row[best] ? c : best), 0);

/** The first `right` test images predicted right and the first `wrong` predicted wrong, in test order. */
export function pickImages(p: Predictions, right: number, wrong: number): { index: number; label: number; predicted: number }[] {
  const k = p.classes.length;
  const picked = { right: [] as number[], wrong: [] as number[] };
  for (let i = 0; i < p.n && (picked.right.length < right || picked.wrong.length < wrong); i++) {
    const list = argmax(p.probs.subarray(i * k, (i + 1) * k)) === p.labels[i] ? picked.right : picked.wrong;
    if (list.length < (list === picked.right ? right : wrong)) list.push(i);
  }
  return [...picked.right, ...picked.wrong].map((index) => ({ index, label: p.labels[index], predicted: argmax(p.probs.subarray(index * k, (index + 1) * k)) }));
}

/** Writes the section's pictures into `out` (the report folder) and returns its HTML. */
export async function whatTheNetSees(model: LoadedModel, predictions: Predictions, backend: Backend, out: string, units = 16, k = 9): Promise<Sees> {
  const batch = 32;
  const net = explainNet(backend, architecture(model.model.arch, model.model.input, model.model.classes.length), model.weights, model.weightsPath, batch);
  const data = await trainingDataOf(model, backend, batch);
  try {
    const test = data.sets.test;
    const [C, side] = data.input;
    const shape: [number, number, number] = [C, side, side];
    const write = async (name: string, p: Picture) => {
      await writeFileAtomic(join(out, name), pictureToPng(p));
      return name;
    };
    const picked = pickImages(predictions, 2, 2);
    const inputs = await streamImages(net, data.centreStream(test, picked.map((p) => p.index)), test);
    const overlayScale = Math.max(1, Math.floor(112 / side));
    const images: SeenImage[] = [];
    for (const [i, p] of picked.entries()) {
      const { input, pixels } = inputs[i];
      const stem = `sees-${p.index}`;
      const files: Record<string, string> = {};
      files.image = await write(`${stem}.png`, imagePicture(pixels, shape, overlayScale));
      files.gradcam = await write(`${stem}-gradcam.png`, heatMapOverlay(pixels, shape, (await gradCam(net, input, { class: p.predicted })).map, { scale: overlayScale }));
      files.occlusion = await write(`${stem}-occlusion.png`, heatMapOverlay(pixels, shape, (await occlusion(net, input, { class: p.predicted })).map, { scale: overlayScale }));
      const convs = net.layers.filter((l) => l.spec.kind === 'conv').map(layerName);
      for (const a of await activations(net, input, convs)) {
        files[a.name] = await write(`${stem}-${a.name}.png`, featureMapGrid(a, { scale: Math.max(1, Math.round(12 / a.shape[1])) }));
      }
      images.push({ ...p, files });
    }
    const layer = lastConv(net);
    const count = Math.min(units, net.layers.find((l) => layerName(l) === layer)!.outShape[0]);
    const top = await topImages(net, data.test, layer, { units: Array.from({ length: count }, (_, u) => u), k });
    const unitsFile = await write('units.png', topImagesGrid(top, (j) => cropPixels(test, j, side), shape, { scale: Math.max(1, Math.round(56 / side)) }));
    return { images, units: { file: unitsFile, layer, count, k }, html: sectionHtml(images, model.model.classes, { file: unitsFile, layer, count, k }, top.images) };
  } finally {
    await data.close();
  }
}

function sectionHtml(images: SeenImage[], classes: readonly string[], units: Sees['units'], streamed: number): string {
  const convs = Object.keys(images[0]?.files ?? {}).filter((n) => !['image', 'gradcam', 'occlusion'].includes(n));
  const caption = (im: SeenImage) =>
    `test image ${im.index}<br>${classes[im.label]}${im.label === im.predicted ? ' (right)' : `<br>predicted <b>${classes[im.predicted]}</b>`}`;
  // One column per image, one row per picture.
  const row = (what: string, heading: string, below?: (im: SeenImage) => string) =>
    `<tr><th>${heading}</th>${images.map((im) => `<td class="${im.label === im.predicted ? 'right' : 'wrong'}"><img src="${im.files[what]}" alt="${what}">${below ? `<br>${below(im)}` : ''}</td>`).join('')}</tr>`;
  return `<section id="sees"><h2>What the net sees</h2>
<p>Two test images the net gets right and two it gets wrong. Grad-CAM: where ${units.layer}'s maps, weighted by how much the predicted class's
score gains from each, are positive. Occlusion: how much the predicted class's probability drops when a square of the data mean covers each
place. Red is high, blue low. Then each conv layer's activations after its ReLU, one tile per channel (white: the layer's largest value for
the image). See docs/explain.md.</p>
<table class="sees">
${[row('image', 'image', caption), row('gradcam', `Grad-CAM (${units.layer})`), row('occlusion', 'occlusion'), ...convs.map((c) => row(c, c))].join('\n')}
</table>
<figure><img src="${units.file}" alt="top images of ${units.layer} units"><figcaption>For each of the first ${units.count} ${units.layer} units (one per row), the ${units.k}
test images (of ${streamed}) that activate it most, strongest first, each cut to the receptive field of its strongest position: Zeiler and
Fergus's Figure 2.</figcaption></figure></section>`;
}
