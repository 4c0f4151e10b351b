// Crash-safe checkpoints. Each one is a fresh directory ckpt-<step>/ (weights.safetensors,
// optimizer.safetensors with the momenta, state.json), written under a temporary name and
// renamed into place; then latest.json, the pointer, is replaced atomically; then older
// checkpoints are removed. A crash or a full disk at any moment leaves the pointer naming a
// complete checkpoint. state.json records each tensor file's size and SHA-256, checked on load:
// a flipped byte is refused by name, never trained on.
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../core/digest.js';
import { DataError, FormatError, TrainingError } from '../core/errors.js';
import { makeDirectories, readInputFile, readJsonFile, regularFileProblem, writeFileAtomic } from '../io/files.js';
import { encodeSafetensors, parseSafetensors, type NamedTensor } from '../io/safetensors.js';
import { MOMENTA_KIND } from '../io/weights.js';
import type { TrainState } from './loop.js';

export type { TrainState } from './loop.js';
import type { Network } from '../nn/network.js';

export const CHECKPOINT_POINTER = 'latest.json';
const TENSOR_FILES = { weights: 'weights.safetensors', momenta: 'optimizer.safetensors' } as const;

/** What state.json records of each tensor file. */
interface FileRecord {
  bytes: number;
  sha256: string;
}

/** Where a run directory keeps its checkpoints. */
export function checkpointDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/** Writes the safetensors file `path` and returns its record. */
async function writeTensorFile(path: string, tensors: NamedTensor[], metadata: Record<string, string>): Promise<FileRecord> {
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFileAtomic(path, bytes);
  return { bytes: bytes.length, sha256: await sha256Hex(bytes) };
}

/** Writes a checkpoint of `net` and `state` under `dir`; returns its directory. */
export async function saveCheckpoint<C, H>(dir: string, net: Network, state: TrainState<C, H>, extra: object): Promise<string> {
  await makeDirectories(dir, 'the checkpoints folder');
  const name = `ckpt-${String(state.step).padStart(8, '0')}`;
  const temp = join(dir, `${name}.partial-${process.pid}`);
  const final = join(dir, name);
  try {
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp);
    const files = {
      [TENSOR_FILES.weights]: await writeTensorFile(join(temp, TENSOR_FILES.weights), await net.exportTensors('value'), { arch: net.arch.name }),
      [TENSOR_FILES.momenta]: await writeTensorFile(join(temp, TENSOR_FILES.momenta), await net.exportTensors('velocity'), { kind: MOMENTA_KIND }),
    };
    await writeFileAtomic(join(temp, 'state.json'), JSON.stringify({ ...extra, ...state, files }, null, 2) + '\n');
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw new TrainingError(`could not write checkpoint ${final} (${(err as Error).message}); the previous checkpoint is intact`);
  }
  await writeFileAtomic(join(dir, CHECKPOINT_POINTER), JSON.stringify({ checkpoint: name }) + '\n');
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('ckpt-') && entry !== name) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return final;
}

/** The directory of the newest complete checkpoint under `dir`. */
export async function latestCheckpoint(dir: string): Promise<string> {
  const pointer = join(dir, CHECKPOINT_POINTER);
  const { problem } = await regularFileProblem(pointer, 'a checkpoint pointer');
  if (problem === 'file not found') throw new DataError(`${dir}: no checkpoint here (expected ${CHECKPOINT_POINTER}, written by alexnet train --out)`);
  const parsed = (await readJsonFile(pointer, 'a checkpoint pointer', 2 ** 16)) as { checkpoint?: unknown } | null;
  if (typeof parsed?.checkpoint !== 'string' || !/^ckpt-\d+$/.test(parsed.checkpoint)) {
    throw new FormatError(pointer, 'expected {"checkpoint": "ckpt-<step>"}');
  }
  return join(dir, parsed.checkpoint);
}

/** A checkpoint's state.json: the run's settings and progress, and the records of its tensor files. */
export async function readCheckpointState<C, H = unknown>(checkpoint: string): Promise<TrainState<C, H> & { files?: Record<string, FileRecord> } & Record<string, unknown>> {
  const path = join(checkpoint, 'state.json');
  const state = await readJsonFile(path, 'a training state', 2 ** 26);
  if (typeof state !== 'object' || state === null || Array.isArray(state) || typeof (state as { config?: unknown }).config !== 'object') {
    throw new FormatError(path, 'expected a training state (an object with config, step and history), written by alexnet train');
  }
  return state as TrainState<C, H> & Record<string, unknown>;
}

/**
 * The tensors of one of a checkpoint's files, after checking its size and SHA-256 against
 * state.json's record (checkpoints written before records existed have none to check).
 */
async function readTensorFile(checkpoint: string, file: string, record: FileRecord | undefined) {
  const path = join(checkpoint, file);
  const bytes = await readInputFile(path, 'a checkpoint tensor file');
  if (record) {
    const sha256 = await sha256Hex(bytes);
    if (bytes.length !== record.bytes || sha256 !== record.sha256) {
      throw new FormatError(
        path,
        `corrupt: ${bytes.length} bytes with SHA-256 ${sha256.slice(0, 16)}..., but the checkpoint recorded ${record.bytes} bytes ` +
          `with SHA-256 ${record.sha256.slice(0, 16)}... when it was written; refusing to use it (resume from a copy, or train anew)`,
      );
    }
  }
  return parseSafetensors(bytes, path).tensors;
}

/** Reads a checkpoint directory: its state and tensors (weights, momenta), each file verified. */
export async function loadCheckpoint<C, H>(checkpoint: string) {
  const state = await readCheckpointState<C, H>(checkpoint);
  return {
    state,
    weightsPath: join(checkpoint, TENSOR_FILES.weights),
    weights: await readTensorFile(checkpoint, TENSOR_FILES.weights, state.files?.[TENSOR_FILES.weights]),
    optimizerPath: join(checkpoint, TENSOR_FILES.momenta),
    momenta: await readTensorFile(checkpoint, TENSOR_FILES.momenta, state.files?.[TENSOR_FILES.momenta]),
  };
}
