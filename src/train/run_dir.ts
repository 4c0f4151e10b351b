// A run directory is the user's work: nothing here deletes it, and one process at a time writes
// it. Before training starts, the directory is created (so an unwritable --out fails at once,
// not after an epoch) and locked with an exclusive lock file holding the owner's pid and host.
// A lock left by a process that no longer runs (killed, crashed) is taken over, and said so;
// a live owner, or one on another host, is named and the run refused. A fresh run never
// starts over an existing one: that takes --resume, or --force, which moves the old
// checkpoints aside rather than deleting them.
import { hostname } from 'node:os';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AlexNetError } from '../core/errors.js';
import { makeDirectories, readJsonFile } from '../io/files.js';
import { checkpointDir } from './checkpoint.js';

export const LOCK_FILE = 'run.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

export interface RunDirectory {
  dir: string;
  /** Removes the lock; the directory and everything in it stay. */
  release(): Promise<void>;
}

export interface ClaimOptions {
  /** A new run (refused where a run exists, unless `force`) or the continuation of one. */
  fresh: boolean;
  /** With `fresh`: start over an existing run, its checkpoints moved aside. */
  force?: boolean;
  /** Said on stderr by the CLI: a stale lock taken over, checkpoints moved aside. */
  notice: (line: string) => void;
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** True when a process `pid` exists on this host (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return code(err) === 'EPERM';
  }
}

/** Creates `dir` (and parents), or says in one line why it cannot hold a run. */
async function makeRunDirectory(dir: string): Promise<void> {
  const existing = await stat(dir).catch(() => null);
  if (existing && !existing.isDirectory()) throw new AlexNetError(`--out ${dir}: is a file, expected a directory for the run`);
  await makeDirectories(dir, `--out ${dir}`);
}

/** The step of a run's newest checkpoint, or null when `dir` holds no run. */
async function existingRun(dir: string): Promise<string | null> {
  const ckpts = checkpointDir(dir);
  const entries = await readdir(ckpts).catch(() => [] as string[]);
  if (entries.includes('latest.json')) {
    const pointer = await readFile(join(ckpts, 'latest.json'), 'utf8').catch(() => '');
    const step = /ckpt-0*(\d+)/.exec(pointer)?.[1];
    return step === undefined ? 'a checkpoint' : `a checkpoint at step ${step}`;
  }
  const partial = entries.filter((e) => e.startsWith('ckpt-'));
  return partial.length > 0 ? `${partial.length} checkpoint folder${partial.length > 1 ? 's' : ''}` : null;
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const owner = (await readJsonFile(path, 'a run lock', 2 ** 12)) as Partial<LockOwner> | null;
    return Number.isInteger(owner?.pid) && typeof owner?.host === 'string' ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

/**
 * When process `pid` of this host started (ms since the epoch), from Linux's /proc; null where
 * that cannot be read. A process that started after a lock was taken is not its owner: its pid
 * was reused (PID 1 of a restarted container, or a long-lived machine's pid counter wrapping).
 */
async function processStarted(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]); // field 22, starttime
    const boot = Number(/^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + ticks * 10 : null; // Linux counts in 1/100 s
  } catch {
    return null;
  }
}

/** True when the owner of a lock on this host still runs: its pid is alive and did not start after the lock. */
async function ownerRuns(owner: LockOwner): Promise<boolean> {
  if (!processAlive(owner.pid)) return false;
  const started = await processStarted(owner.pid);
  const locked = Date.parse(owner.started);
  return started === null || Number.isNaN(locked) || started <= locked + 2000; // 2 s for the clock's grain
}

/** Takes the lock file of `dir`, or throws naming the process that holds it. */
async function lock(dir: string, notice: (line: string) => void): Promise<string> {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me) + '\n');
      } finally {
        await handle.close();
      }
      return path;
    } catch (err) {
      if (code(err) !== 'EEXIST') throw new AlexNetError(`--out ${dir}: cannot write there (${code(err) ?? (err as Error).message})`);
    }
    const info = await stat(path).catch(() => null);
    if (info && !info.isFile()) {
      throw new AlexNetError(`${path}: is ${info.isDirectory() ? 'a directory' : 'not a regular file'}, expected the lock file of the run in ${dir}; remove it if no run uses ${dir}`);
    }
    const owner = await readOwner(path);
    if (owner && owner.host !== me.host) {
      throw new AlexNetError(
        `${dir} is in use by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that process is gone ` +
          `(under a scheduler: its job has ended, see squeue or kubectl get pods), delete ${path} to take the run over`,
      );
    }
    if (owner && (await ownerRuns(owner))) {
      throw new AlexNetError(
        `${dir} is in use by training process ${owner.pid} (since ${owner.started}): wait for it, or stop it first; ` +
          `if process ${owner.pid} is no alexnet process (process ids are reused), delete ${path} to take the run over`,
      );
    }
    // A dead owner (or an unreadable lock): move its lock aside, atomically, so of two
    // processes taking it over at once only one succeeds; the other tries again.
    const stale = `${path}.stale-${process.pid}`;
    try {
      await rename(path, stale);
    } catch (err) {
      if (code(err) === 'ENOENT') continue;
      throw err;
    }
    await rm(stale, { force: true });
    notice(`${dir}: took over the lock of process ${owner?.pid ?? '(unreadable lock file)'}, which no longer runs${owner && processAlive(owner.pid) ? ` (process ${owner.pid} now is another program, started after the lock was taken)` : ''}`);
  }
  throw new AlexNetError(`${dir}: could not take its lock file ${path}; another process keeps taking it`);
}

/** Prepares and locks the run directory `dir` before any training work. */
export async function claimRunDirectory(dir: string, o: ClaimOptions): Promise<RunDirectory> {
  await makeRunDirectory(dir);
  const path = await lock(dir, o.notice);
  try {
    if (o.fresh) {
      const run = await existingRun(dir);
      if (run && !o.force) {
        throw new AlexNetError(
          `${dir} already holds a run (${run}): continue it with --resume ${dir}, or start a new run there with --force ` +
            '(its checkpoints are kept, moved aside); or choose another --out',
        );
      }
      if (run) {
        const aside = `${checkpointDir(dir)}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        await rename(checkpointDir(dir), aside);
        o.notice(`--force: the earlier run's checkpoints in ${dir} were moved to ${aside}`);
      }
    }
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { dir, release: () => rm(path, { force: true }) };
}
