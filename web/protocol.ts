// The messages between the page (main.ts and its panels under ui/) and the training worker
// (worker.ts and its parts under work/). Everything that computes runs in the worker, so the page
// never freezes; the page only draws and asks.
import type { HeatMap, Picture as RgbaPicture } from '../src/browser.js';

export type { RgbaPicture };

/** Where the training images come from. */
export type DataChoice =
  | { kind: 'bundled' }
  /** The four Fashion-MNIST IDX files (optionally .gz), by name. */
  | { kind: 'idx'; files: { name: string; bytes: Uint8Array }[] }
  /** Images in class folders (path: "class/file.png", or "train/class/file.png" with splits). */
  | { kind: 'folder'; files: { path: string; bytes: Uint8Array }[] }
  /** The person's classes made in the Teach panel. */
  | { kind: 'classes'; classes: ClassImages[] };

/** One of the person's classes: its name as they gave it, and its images (a file's bytes as given, a camera frame as PNG). */
export interface ClassImages {
  name: string;
  images: { name: string; bytes: Uint8Array }[];
}

/** What a fine-tune starts from: a kept run's model, or a weights file (`arch` null: as the file says). */
export type StartFrom = { kind: 'run'; id: string } | { kind: 'file'; name: string; bytes: Uint8Array; arch: string | null };

/** A run that starts from a trained model; `freeze`: the last layer not trained (null: every layer trains). */
export interface FineTuneChoice {
  from: StartFrom;
  freeze: string | null;
}

export interface RunSettings {
  /** What the runs list calls it. */
  name: string;
  /** mini or paper from scratch; a fine-tune's is its source's (torchvision, caffe, ...). */
  arch: string;
  batch: number;
  lr: number;
  epochs: number;
  seed: number;
  /** 'auto': WebGPU when the browser gives an adapter, else the CPU (WebAssembly). */
  backend: 'auto' | 'webgpu' | 'cpu';
}

export type ToWorker =
  /** A new run, kept beside the others: from scratch, or with `fineTune` from a trained model. */
  | { type: 'start'; settings: RunSettings; data: DataChoice; fineTune?: FineTuneChoice }
  /** Open a kept run (its curves, filters and scores as saved), and with `resume` train it on. */
  | { type: 'open'; id: string; resume: boolean; data?: DataChoice }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Ends training and scores the test set; while scoring, cancels the scoring. */
  | { type: 'stop' }
  /** Save the open run at its next step boundary (the page is being hidden or closed). */
  | { type: 'flush' }
  | { type: 'delete'; id: string }
  /** The run's weights as safetensors: a kept run's, or (without id) the open run's as they are now. */
  | { type: 'export'; id?: string }
  /** An image to classify: its top 5 (a 'prediction'), or with `bars` every class's probability (a 'bars'). */
  | { type: 'classify'; name: string; bytes: Uint8Array; bars?: boolean }
  /** The camera's image, classified by the open run's model: every class's probability (a 'bars'). */
  | { type: 'classifyFrame'; frame: Picture }
  /** A test image's top 5 (from its scores), then what the net sees in it ('activations', 'maps'). */
  | { type: 'classifyTest'; index: number }
  /** Grad-CAM and saliency for `class`, of the image last explained where the person looks (`forTest`: below the test images, else Classify). */
  | { type: 'explainClass'; forTest: boolean; class: number }
  | { type: 'similar'; index: number }
  /** Use a weights file (safetensors from alexnet train or export, a torchvision .pth). */
  | { type: 'weights'; name: string; bytes: Uint8Array; arch: string }
  /** Test hook: destroys the GPU device, as a driver reset would. */
  | { type: 'loseDevice' };

export interface TopClass {
  name: string;
  probability: number;
}

/** An image to draw: RGB bytes, row-major. */
export interface Picture {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** One layer's output for one image: a conv layer's maps as a grid of tiles (one per channel), an fc layer's features as a strip. */
export interface LayerPicture {
  name: string;
  /** [C, H, W] or [F]. */
  shape: number[];
  picture: RgbaPicture;
}

/** One line of the runs list. */
export interface RunSummary {
  id: string;
  name: string;
  arch: string;
  /** The data, in words ("Fashion-MNIST subset", "your IDX files", "your image folder"). */
  data: string;
  dataKind: DataChoice['kind'];
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Test top-1 once scored. */
  top1: number | null;
  savedAt: string;
}

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valTop1: number;
  valTop5: number;
}

/** Where a run stands: epochs done, steps into the next, of how many. */
export interface RunPosition {
  epoch: number;
  stepInEpoch: number;
  epochs: number;
  stepsPerEpoch: number;
}

export interface Scores {
  top1: number;
  top5: number;
  n: number;
  confusion: number[][];
  classes: string[];
}

export type RunState = 'idle' | 'loading' | 'training' | 'paused' | 'scoring' | 'done';

export type FromWorker =
  | { type: 'backend'; name: string }
  | { type: 'runs'; runs: RunSummary[]; open: string | null }
  | { type: 'state'; state: RunState }
  /** A run opened or started: its settings and everything it has drawn so far (one loss per step). */
  | {
      type: 'run'; id: string; settings: RunSettings; dataKind: DataChoice['kind']; train: number; val: number; test: number; parameters: number;
      losses: Float64Array; epochs: EpochPoint[]; position: RunPosition;
    }
  /** What the person should know about the open run: images held out or skipped, what it was fine-tuned from. */
  | { type: 'notice'; message: string }
  | { type: 'step'; epoch: number; step: number; steps: number; loss: number; lr: number; imgPerS: number; etaS: number; done: number; total: number }
  | ({ type: 'epoch' } & EpochPoint)
  | { type: 'filters'; picture: Picture; towers: number }
  | { type: 'scoring'; done: number; total: number }
  /** Scoring was cancelled: the run is kept where it stopped, unscored. */
  | { type: 'cancelled'; position: RunPosition }
  /** `testLabels`: the true classes of `tests`, `testPredicted` the model's top class for each. */
  | ({ type: 'done'; position: RunPosition; tests: Picture[]; testLabels: string[]; testPredicted: string[] } & Scores)
  /** `netView`: the image as the net takes it in (its crop, its channels), before mean subtraction. */
  | { type: 'prediction'; source: string; forTest: boolean; top: TopClass[]; netView: Picture; knows: string }
  /** Every class's probability for an image (`source`: 'camera' or a file name), in the model's class order. */
  | { type: 'bars'; source: string; classes: string[]; probabilities: Float32Array; model: string }
  /** What the net sees in the image of a 'prediction' (same `source`): every layer's output, and the classes a map may explain. */
  | { type: 'activations'; source: string; forTest: boolean; layers: LayerPicture[]; classes: string[] }
  /** Grad-CAM (at `layer`) and saliency for `class`, over the image as the net sees it; `gradCamMap` the map drawn, at the layer's resolution. */
  | { type: 'maps'; source: string; forTest: boolean; class: number; probability: number; layer: string; gradCam: RgbaPicture; saliency: RgbaPicture; gradCamMap: HeatMap }
  | { type: 'similar'; query: Picture; neighbours: { picture: Picture; label: string; distance: number }[] }
  | { type: 'weights'; message: string }
  | { type: 'saved'; id: string; step: number; savedAt: string }
  | { type: 'exported'; name: string; bytes: Uint8Array }
  | { type: 'error'; message: string };
