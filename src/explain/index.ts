// The explain library as both entries (browser.ts, index.ts) export it: browser-safe modules only.
export {
  activations, classify, explainNet, gradCam, lastConv, layerName, occlusion, occlusionDefaults, saliency, topImages,
  type Activation, type GradCam, type HeatMap, type Occlusion, type OcclusionOptions, type Saliency, type Target, type TopImage, type TopImages,
} from './explain.js';
export { cropPixels, inputPixels, streamImages, type ExplainImage } from './inputs.js';
export { receptiveBox, receptiveField, type Box } from './receptive.js';
export { featureMapGrid, heatColour, heatMapOverlay, imagePicture, pictureToPng, sampleMap, topImagesGrid, upsample, type OverlayOptions, type Picture } from './render.js';
