// The one rule for what a command may write (Node): an output is never one of the command's
// inputs, and never lies inside a data set the command uses, a training run, a checkpoint, a
// prepared cache or a sweep (found by the files that mark them, in every folder above the
// output). Every command that writes checks this before any work, and the refusal names both
// paths. Before, `features --out DIR/t10k-images-idx3-ubyte.gz` replaced the test images it
// had just read, and `export --out` could replace a file inside a run's checkpoint.
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AlexNetError } from '../core/errors.js';
import { CACHE_FORMAT, INDEX_FILE } from '../data/cache.js';
import { K8S_MANIFEST, SLURM_SCRIPT, SWEEP_FILE } from '../sweep/plan.js';
import { CHECKPOINT_POINTER, checkpointDir } from '../train/checkpoint.js';
import { LOCK_FILE } from '../train/run_dir.js';

export type Kind = 'training run' | 'checkpoint' | "run's checkpoints" | 'prepared data cache' | 'sweep';

/** A folder the command reads from: a data set, a model's run. */
export interface UsedFolder {
  path: string;
  /** What it is, for the message: "the data set of --data", "the run of --checkpoint". */
  what: string;
}

export interface OutputGuard {
  /** Files the command reads: the output may not be one of them. */
  inputs?: readonly string[];
  /** Folders the command reads: the output may lie neither inside one nor (a folder output) around one. */
  folders?: readonly UsedFolder[];
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** True when the file `path` begins with `text` within its first 256 bytes (how alexnet writes it). */
async function beginsWith(path: string, text: RegExp): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return false;
  try {
    const head = new Uint8Array(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return text.test(new TextDecoder().decode(head.subarray(0, bytesRead)));
  } finally {
    await handle.close();
  }
}

/**
 * What the folder `dir` holds that a command must not write into, or null. Told by the files
 * alexnet writes there, in pairs or by their first bytes, so that a user's own state.json or
 * latest.json does not make a folder one of these.
 */
export async function folderKind(dir: string): Promise<Kind | null> {
  if ((await exists(join(dir, LOCK_FILE))) || (await exists(join(checkpointDir(dir), CHECKPOINT_POINTER)))) return 'training run';
  if ((await exists(join(dir, 'state.json'))) && (await exists(join(dir, 'weights.safetensors')))) return 'checkpoint';
  if (await beginsWith(join(dir, CHECKPOINT_POINTER), /^\{"checkpoint":"ckpt-\d+"\}/)) return "run's checkpoints";
  if ((await exists(join(dir, SWEEP_FILE))) && ((await exists(join(dir, SLURM_SCRIPT))) || (await exists(join(dir, K8S_MANIFEST))))) return 'sweep';
  if (await beginsWith(join(dir, INDEX_FILE), new RegExp(`^\\{"format":"${CACHE_FORMAT}"`))) return 'prepared data cache';
  return null;
}

/** `path` with links resolved as far as it exists (the rest appended), so that two spellings compare equal. */
async function realPath(path: string): Promise<string> {
  const absolute = resolve(path);
  const real = await realpath(absolute).catch(() => null);
  if (real !== null) return real;
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(await realPath(parent), basename(absolute));
}

/** True when `inner` is `outer` or lies below it (both real paths; "..data" inside `outer` is below it). */
function within(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** True when `a` and `b` are one file (the same device and inode: links and hard links included). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return x !== null && y !== null && x.dev === y.dev && x.ino === y.ino;
}

/**
 * Refuses the output `out` of `option` where it would overwrite or mix with what the command
 * uses or a user made: an input file, a folder of `guard.folders`, or a folder above `out`
 * that is a run, checkpoint, cache or sweep (a kind in `allowAbove` excepted: a sweep's runs
 * lie in the sweep). A folder output (`folder: true`) may not hold a used folder either.
 */
async function checkPlace(option: string, out: string, guard: OutputGuard, folder: boolean, allowAbove: readonly Kind[] = []): Promise<string> {
  const target = await realPath(out);
  for (const input of guard.inputs ?? []) {
    if (await sameFile(target, input)) throw new AlexNetError(`${option} ${out}: is the input file ${input}; write the output elsewhere`);
  }
  for (const used of guard.folders ?? []) {
    const real = await realPath(used.path);
    if (within(target, real)) throw new AlexNetError(`${option} ${out}: lies inside ${used.what}, ${used.path}; write the output elsewhere`);
    if (folder && within(real, target)) throw new AlexNetError(`${option} ${out}: holds ${used.what}, ${used.path}; choose a folder outside it`);
  }
  for (let above = dirname(target); ; above = dirname(above)) {
    const kind = await folderKind(above);
    if (kind && !allowAbove.includes(kind)) throw new AlexNetError(`${option} ${out}: lies inside the ${kind} ${above}; write the output elsewhere`);
    if (dirname(above) === above) break;
  }
  return target;
}

/** Checks before any work that the file `out` can be written and takes nothing the user has (see checkPlace). */
export async function checkOutputFile(option: string, out: string, guard: OutputGuard = {}): Promise<void> {
  const target = await checkPlace(option, out, guard, false);
  if ((await stat(target).catch(() => null))?.isDirectory()) throw new AlexNetError(`${option} ${out}: is a directory, expected a file to write`);
  const parent = await stat(dirname(target)).catch(() => null);
  if (!parent?.isDirectory()) throw new AlexNetError(`${option} ${out}: the folder ${dirname(out)} does not exist`);
}

/**
 * Checks before any work that the folder `out`, which the command fills, is not a used folder,
 * does not hold one, lies in none, and is no folder of another kind than `own` (a run for train,
 * a cache for data prepare: those check their own folder's contents themselves; null for a folder
 * of pictures, which may be none of these).
 */
export async function checkOutputFolder(option: string, out: string, own: Kind | null, guard: OutputGuard = {}, allowAbove: readonly Kind[] = []): Promise<void> {
  const target = await checkPlace(option, out, guard, true, allowAbove);
  const kind = await folderKind(target);
  if (kind && kind !== own) throw new AlexNetError(`${option} ${out}: is a ${kind}${own ? `, not a ${own}` : ''}; choose another folder`);
}
