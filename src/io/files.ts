// Files on disk, for Node (the browser page reads Files and fetches instead): the one place a
// user's file is read or written, and folders are made.
// - Reads are bounded: only regular files (a link is followed to one; /dev/zero, FIFOs and
//   directories are refused), and never more than a size cap, checked before reading. JSON is
//   checked for depth before it is parsed (core/json.ts).
// - Writes are atomic: a temporary file, synced, renamed into place, the directory synced; a
//   reader sees the old file or the whole new one, even after a crash or a full disk. A full
//   disk is one line naming the file and the space left.
// - Folders are made one level at a time, so a path where mkdir cannot make progress (/proc)
//   fails at once instead of looping in Node's recursive mkdir.
// - Safetensors and weight files by path, over the byte parsers of safetensors.ts and weights.ts.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { AlexNetError, FormatError } from '../core/errors.js';
import { parseJson } from '../core/json.js';
import { shapeString } from '../core/geometry.js';
import { encodeSafetensors, parseSafetensors, type NamedTensor } from './safetensors.js';
import { parseWeights } from './weights.js';

/** The default cap on one input file: above any weight file of these nets (~250 MB) by far. */
export const MAX_INPUT_BYTES = 2 ** 31;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Why `path` (followed through links) is no regular file of at most `maxBytes`, or null; and its size. */
export async function regularFileProblem(path: string, expected: string, maxBytes = MAX_INPUT_BYTES): Promise<{ problem: string | null; size: number }> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    return { problem: code(err) === 'ENOENT' ? 'file not found' : `cannot read file (${(err as Error).message})`, size: 0 };
  }
  if (info.isDirectory()) return { problem: `is a directory, expected ${expected}`, size: 0 };
  if (!info.isFile()) return { problem: `is not a regular file (a device, socket or pipe), expected ${expected}`, size: 0 };
  if (info.size > maxBytes) return { problem: `is ${mib(info.size)}, more than the ${mib(maxBytes)} that ${expected} may have`, size: info.size };
  return { problem: null, size: info.size };
}

/**
 * The bytes of `path`; `expected` says what it should be ("an IDX file"). Refuses anything but
 * a regular file of at most `maxBytes`, and reads no more than the size it had when checked.
 */
export async function readInputFile(path: string, expected: string, maxBytes = MAX_INPUT_BYTES): Promise<Uint8Array> {
  const { problem, size } = await regularFileProblem(path, expected, maxBytes);
  if (problem !== null) throw new FormatError(path, problem);
  try {
    const handle = await open(path, 'r');
    try {
      const bytes = new Uint8Array(size);
      let at = 0;
      while (at < size) {
        const { bytesRead } = await handle.read(bytes, at, size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return at === size ? bytes : bytes.subarray(0, at);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new FormatError(path, `cannot read file (${(err as Error).message})`);
  }
}

/** The bytes of the JSON file `path` (at most `maxBytes`), parsed after the depth check; faults name the file. */
export async function readJsonFile(path: string, expected: string, maxBytes: number): Promise<unknown> {
  return parseJson(new TextDecoder().decode(await readInputFile(path, expected, maxBytes)), path);
}

/** Why writing `path` failed, in one line that names it (a full disk: the space left). */
async function writeFault(path: string, bytes: number, err: unknown): Promise<AlexNetError> {
  if (err instanceof AlexNetError) return err;
  const errno = code(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    const fs = await statfs(dirname(path)).catch(() => null);
    const free = fs ? `${mib(fs.bavail * fs.bsize)} free` : 'free space unknown';
    return new AlexNetError(
      `${path}: cannot write ${mib(bytes)}: the disk is full (${errno}; ${free} on the file system of ${dirname(path)}); ` +
        'what was there before is unchanged: free some space and run the command again',
    );
  }
  if (errno === 'EFBIG') return new AlexNetError(`${path}: cannot write ${mib(bytes)}: file too large for this process (EFBIG: see ulimit -f); what was there before is unchanged`);
  return new AlexNetError(`${path}: cannot write (${errno ?? (err as Error).message})`);
}

/**
 * Writes atomically: a reader sees either the old file or the whole new one, never a
 * half-written file, even if the process dies mid-write or the disk fills. `mode` as for
 * open(2) (e.g. 0o755 for a script).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, { mode = 0o666 }: { mode?: number } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw await writeFault(path, typeof data === 'string' ? Buffer.byteLength(data) : data.length, err);
  }
  await syncDirectory(dirname(path));
}

/**
 * Creates the folder `dir` and its missing parents, one level at a time, or throws one line
 * saying which folder could not be made and why (`what`: the option or role, e.g. "--out DIR").
 * Node's recursive mkdir never returns under /proc, where a parent that exists answers ENOENT.
 */
export async function makeDirectories(dir: string, what: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    const info = await stat(at).catch((err) => (code(err) === 'ENOENT' || code(err) === 'ENOTDIR' ? null : err));
    if (info instanceof Error) throw new AlexNetError(`${what}: cannot use the folder ${at} (${code(info) ?? info.message})`);
    if (info) {
      if (!info.isDirectory()) throw new AlexNetError(`${what}: ${at} is a file, expected a folder`);
      break;
    }
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const folder of missing.reverse()) {
    try {
      await mkdir(folder);
    } catch (err) {
      const made = code(err) === 'EEXIST' && (await stat(folder).catch(() => null))?.isDirectory();
      if (!made) throw new AlexNetError(`${what}: cannot create the folder ${folder} (${code(err) ?? (err as Error).message})`);
    }
  }
}

/**
 * Makes a rename itself survive a power cut. Best effort: not every platform can open or
 * sync a directory, and the data itself is already synced.
 */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => null);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

export async function readSafetensors(path: string): Promise<{ tensors: Map<string, NamedTensor>; metadata: Record<string, string> }> {
  return parseSafetensors(await readInputFile(path, 'a .safetensors file'), path);
}

export async function writeSafetensors(path: string, tensors: NamedTensor[], metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** The whole weight file, with read failures as FormatErrors naming it. */
export function readWeightBytes(path: string): Promise<Uint8Array> {
  return readInputFile(path, 'a weight file');
}

/** Reads weights in any supported format, for the architecture `archName`. */
export async function readWeights(path: string, archName: string): Promise<Map<string, NamedTensor>> {
  return parseWeights(await readWeightBytes(path), path, archName);
}

/** Tensor "input" of a .safetensors file: a batch of preprocessed images, f32 [N, C, H, W]. */
export async function readInputBatch(path: string): Promise<NamedTensor & { shape: [number, number, number, number] }> {
  const { tensors } = await readSafetensors(path);
  const x = tensors.get('input');
  if (!x) throw new FormatError(path, `missing tensor "input" (expected f32 [N, C, H, W]); found ${[...tensors.keys()].join(', ') || 'no tensors'}`);
  if (x.shape.length !== 4) throw new FormatError(path, `tensor "input": expected 4 dimensions [N, C, H, W], found ${shapeString(x.shape)}`);
  return x as NamedTensor & { shape: [number, number, number, number] };
}
