// One array task of a sweep: finds its run in sweep.json, and runs `alexnet train` into the
// run's directory as a child process (its JSON lines go on to the task's log), resuming the run
// when the directory already holds a checkpoint (a requeued or replaced task). It records each
// attempt, and the result of the one that finishes, in the run's task.json, which `sweep
// status` reads. The run directory's own lock (run_dir.ts) keeps two tasks from writing it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FormatError, UsageError } from '../core/errors.js';
import { makeDirectories, readJsonFile, writeFileAtomic } from '../io/files.js';
import { checkpointDir } from '../train/checkpoint.js';
import { LOCK_FILE } from '../train/run_dir.js';
import { readPlan, runDirectory, type SweepRun } from './plan.js';

export const TASK_FILE = 'task.json';

/** The scheduler's names for this attempt, from its environment. */
export interface SchedulerIds {
  slurm_job?: string;
  slurm_array_job?: string;
  k8s_index?: string;
}

export interface TaskRecord {
  index: number;
  name: string;
  /** 1 for the first attempt, then one more each time the task starts again. */
  attempt: number;
  host: string;
  /** The training process of this attempt (the pid in run.lock while it runs). */
  train_pid?: number;
  scheduler: SchedulerIds;
  argv: string[];
  started: string;
  ended?: string;
  exit_code?: number | null;
  signal?: string | null;
  /** The `done` line of train --json: test_top1, test_top5, test_n, seconds, checkpoint. */
  result?: { test_top1: number; test_top5: number; test_n: number; seconds: number; checkpoint: string };
  /** The attempts before this one, oldest first. */
  earlier: EarlierAttempt[];
}

export type EarlierAttempt = Pick<TaskRecord, 'attempt' | 'host' | 'train_pid' | 'started' | 'ended' | 'exit_code' | 'signal'>;

/** The run's task record; null when it has none. A damaged one is a FormatError naming it (delete it to start the record anew). */
export async function readTaskRecord(runDir: string): Promise<TaskRecord | null> {
  const path = join(runDir, TASK_FILE);
  if (!existsSync(path)) return null;
  const record = await readJsonFile(path, 'a sweep task record', 2 ** 24);
  if (typeof record !== 'object' || record === null || Array.isArray(record) || typeof (record as TaskRecord).attempt !== 'number') {
    throw new FormatError(path, 'expected a task record (an object with attempt, host, started), written by alexnet sweep task; delete it to start the record anew');
  }
  return record as TaskRecord;
}

const writeTaskRecord = (runDir: string, record: TaskRecord) => writeFileAtomic(join(runDir, TASK_FILE), JSON.stringify(record, null, 2) + '\n');

function schedulerIds(env: NodeJS.ProcessEnv): SchedulerIds {
  const ids: SchedulerIds = {};
  if (env.SLURM_JOB_ID) ids.slurm_job = env.SLURM_JOB_ID;
  if (env.SLURM_ARRAY_JOB_ID) ids.slurm_array_job = env.SLURM_ARRAY_JOB_ID;
  if (env.JOB_COMPLETION_INDEX) ids.k8s_index = env.JOB_COMPLETION_INDEX;
  return ids;
}

/** The options of `args` that are not training settings (how to run, not what to learn). */
function runtimeOptions(args: string[]): string[] {
  return args.flatMap((a, i) => (a === '--backend' || a === '--threads' ? [a, args[i + 1]] : []));
}

/**
 * The train command line for `run`: a fresh run, or `--resume` of its newest checkpoint (with
 * the run's own settings, saved in the checkpoint; only backend and threads are given again).
 */
export function trainArgs(run: SweepRun, runDir: string): string[] {
  const checkpoints = checkpointDir(runDir);
  if (existsSync(join(checkpoints, 'latest.json'))) return ['train', '--resume', runDir, ...runtimeOptions(run.args), '--json'];
  // Checkpoint folders without a pointer: a first checkpoint cut short. --force sets them aside.
  return [...run.args, '--out', runDir, ...(existsSync(checkpoints) ? ['--force'] : [])];
}

/** Every attempt recorded in `record`, the latest included. */
const attemptsOf = (record: TaskRecord | null): EarlierAttempt[] => {
  if (!record) return [];
  const { attempt, host, train_pid, started, ended, exit_code, signal } = record;
  return [...(record.earlier ?? []), { attempt, host, train_pid, started, ended, exit_code, signal }];
};

/**
 * A lock left on another host by an earlier attempt of this task. A scheduler runs one
 * instance of an array task (or pod index) at a time, so when it starts this one the earlier
 * attempts are gone, but run_dir.ts cannot see a process on another host and would refuse the
 * lock. Run by hand (no scheduler), the lock is left for run_dir.ts to refuse.
 */
async function clearEarlierAttemptLock(runDir: string, attempts: EarlierAttempt[], ids: SchedulerIds, say: (line: string) => void): Promise<void> {
  if (Object.keys(ids).length === 0) return;
  const path = join(runDir, LOCK_FILE);
  const owner = (await readJsonFile(path, 'a run lock', 2 ** 12).catch(() => null)) as { pid?: number; host?: string } | null;
  if (!owner) return;
  if (owner.host !== hostname() && attempts.some((a) => a.host === owner.host && a.train_pid === owner.pid)) {
    await rm(path, { force: true });
    say(`${runDir}: removed the lock of an earlier attempt of this task (process ${owner.pid} on ${owner.host}), which the scheduler has ended`);
  }
}

/**
 * Runs task `index` of the sweep in `sweepDir` with `node cli`; resolves to the exit code to
 * leave with. `say` writes a line to the task's log.
 */
export async function runTask(sweepDir: string, index: number, node: string, cli: string, say: (line: string) => void): Promise<number> {
  const plan = await readPlan(sweepDir);
  const run = plan.runs[index];
  if (!run) throw new UsageError(`sweep task: index ${index} is out of range (the sweep in ${sweepDir} has runs 0-${plan.runs.length - 1})`);
  const runDir = runDirectory(sweepDir, run);
  await makeDirectories(runDir, `sweep task ${index}`);
  const previous = await readTaskRecord(runDir);
  if (previous?.result) {
    say(`${run.name}: already finished (test top-1 ${previous.result.test_top1}); nothing to do`);
    return 0;
  }
  const ids = schedulerIds(process.env);
  const earlier = attemptsOf(previous);
  await clearEarlierAttemptLock(runDir, earlier, ids, say);

  const args = trainArgs(run, runDir);
  const record: TaskRecord = {
    index, name: run.name, attempt: (previous?.attempt ?? 0) + 1, host: hostname(), scheduler: ids,
    argv: [node, cli, ...args], started: new Date().toISOString(), earlier,
  };
  say(`${run.name}: attempt ${record.attempt} on ${record.host}: ${args.join(' ')}`);
  const child = spawn(node, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  record.train_pid = child.pid;
  await writeTaskRecord(runDir, record);

  // Slurm (on timeout or cancel) and Kubernetes (on deletion) signal the task: pass it on,
  // so training stops and the attempt is recorded as stopped.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    process.stdout.write(`${line}\n`);
    try {
      const event = JSON.parse(line);
      if (event?.event === 'done') record.result = event;
    } catch {
      // Not a JSON line: passed on to the log only.
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  process.off('SIGTERM', forward);
  process.off('SIGINT', forward);

  Object.assign(record, { ended: new Date().toISOString(), exit_code: code, signal });
  if (code !== 0) delete record.result;
  await writeTaskRecord(runDir, record);
  say(`${run.name}: ${code === 0 ? 'finished' : signal ? `stopped by ${signal}` : `failed (exit ${code})`}`);
  return code ?? 1;
}
