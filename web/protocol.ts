// The messages between the page (main.ts) and the training worker (worker.ts). Everything that
// computes runs in the worker, so the page never freezes; the page only draws and asks.

/** Where the training images come from. */
export type DataChoice =
  | { kind: 'bundled' }
  /** The four Fashion-MNIST IDX files (optionally .gz), by name. */
  | { kind: 'idx'; files: { name: string; bytes: Uint8Array }[] }
  /** Images in class folders (path: "class/file.png", or "train/class/file.png" with splits). */
  | { kind: 'folder'; files: { path: string; bytes: Uint8Array }[] };

export interface RunSettings {
  arch: 'mini' | 'paper';
  batch: number;
  lr: number;
  epochs: number;
  seed: number;
  /** 'auto': WebGPU when the browser gives an adapter, else the CPU (WebAssembly). */
  backend: 'auto' | 'webgpu' | 'cpu';
}

export type ToWorker =
  | { type: 'start'; settings: RunSettings; data: DataChoice }
  /** Continue the run saved in IndexedDB (after a reload), on the data it was trained on. */
  | { type: 'restore'; data?: DataChoice }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'classify'; name: string; bytes: Uint8Array }
  | { type: 'classifyTest'; index: number }
  | { type: 'similar'; index: number }
  /** Use a weights file (safetensors from alexnet train or export, a torchvision .pth). */
  | { type: 'weights'; name: string; bytes: Uint8Array; arch: string }
  | { type: 'export' }
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

export interface SavedRunSummary {
  arch: string;
  data: string;
  epoch: number;
  epochs: number;
  step: number;
  savedAt: string;
}

export type FromWorker =
  | { type: 'backend'; name: string }
  | { type: 'saved'; run: SavedRunSummary | null }
  | { type: 'state'; state: 'idle' | 'loading' | 'training' | 'paused' | 'finishing' | 'done' }
  | { type: 'start'; train: number; val: number; test: number; parameters: number; stepsPerEpoch: number; epochs: number; firstStep: number }
  | { type: 'step'; epoch: number; step: number; steps: number; loss: number; lr: number; imgPerS: number; etaS: number; done: number; total: number }
  | { type: 'epoch'; epoch: number; trainLoss: number; valLoss: number; valTop1: number; valTop5: number }
  | { type: 'filters'; picture: Picture; towers: number }
  | { type: 'done'; top1: number; top5: number; n: number; confusion: number[][]; classes: string[]; tests: Picture[] }
  | { type: 'prediction'; source: string; top: TopClass[]; picture: Picture }
  | { type: 'similar'; query: Picture; neighbours: { picture: Picture; label: string; distance: number }[] }
  | { type: 'weights'; message: string }
  | { type: 'exported'; name: string; bytes: Uint8Array }
  | { type: 'error'; message: string };
