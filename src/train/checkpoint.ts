// Crash-safe checkpoints. Each one is a fresh directory ckpt-<step>/ (weights.safetensors,
// optimizer.safetensors with the momenta, state.json), written under a temporary name and
// renamed into place; then latest.json, the pointer, is replaced atomically; then older
// checkpoints are removed. A crash or a full disk at any moment leaves the pointer naming a
// complete checkpoint.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, FormatError, TrainingError } from '../core/errors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { Net } from '../nn/net.js';

/** Everything besides the tensors that a resumed run needs to continue exactly. */
export interface TrainState<Config, History> {
  config: Config;
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken (dropout masks are a function of it). */
  step: number;
  history: History;
}

const POINTER = 'latest.json';

/** Where a run directory keeps its checkpoints. */
export function checkpointDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, text);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Writes a checkpoint of `net` and `state` under `dir`; returns its directory. */
export async function saveCheckpoint<C, H>(dir: string, net: Net, state: TrainState<C, H>, extra: object): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = `ckpt-${String(state.step).padStart(8, '0')}`;
  const temp = join(dir, `${name}.partial-${process.pid}`);
  const final = join(dir, name);
  try {
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp);
    await writeSafetensors(join(temp, 'weights.safetensors'), await net.exportTensors('value'), { arch: net.arch.name });
    await writeSafetensors(join(temp, 'optimizer.safetensors'), await net.exportTensors('velocity'), { kind: 'sgd momenta' });
    await writeFile(join(temp, 'state.json'), JSON.stringify({ ...extra, ...state }, null, 2) + '\n');
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw new TrainingError(`could not write checkpoint ${final} (${(err as Error).message}); the previous checkpoint is intact`);
  }
  await writeAtomically(join(dir, POINTER), JSON.stringify({ checkpoint: name }) + '\n');
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('ckpt-') && entry !== name) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return final;
}

/** The directory of the newest complete checkpoint under `dir`. */
export async function latestCheckpoint(dir: string): Promise<string> {
  const pointer = join(dir, POINTER);
  let text: string;
  try {
    text = await readFile(pointer, 'utf8');
  } catch {
    throw new DataError(`${dir}: no checkpoint here (expected ${POINTER}, written by alexnet train --out)`);
  }
  let parsed: { checkpoint?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FormatError(pointer, 'not valid JSON');
  }
  if (typeof parsed.checkpoint !== 'string' || !/^ckpt-\d+$/.test(parsed.checkpoint)) {
    throw new FormatError(pointer, 'expected {"checkpoint": "ckpt-<step>"}');
  }
  return join(dir, parsed.checkpoint);
}

/** Reads a checkpoint directory: its state and tensors (weights, momenta). */
export async function loadCheckpoint<C, H>(checkpoint: string) {
  const statePath = join(checkpoint, 'state.json');
  let state: TrainState<C, H> & Record<string, unknown>;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8'));
  } catch (err) {
    throw new FormatError(statePath, `cannot read training state (${(err as Error).message})`);
  }
  const weightsPath = join(checkpoint, 'weights.safetensors');
  const optimizerPath = join(checkpoint, 'optimizer.safetensors');
  return {
    state,
    weightsPath,
    weights: (await readSafetensors(weightsPath)).tensors,
    optimizerPath,
    momenta: (await readSafetensors(optimizerPath)).tensors,
  };
}
