// Slurm, the scheduler most clusters run: the job array script of a sweep (one array task per
// run, each `alexnet sweep task DIR $SLURM_ARRAY_TASK_ID`), submitting it with sbatch, and
// asking squeue (then sacct) what became of each task. Commands are run with argument arrays,
// never through a shell.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AlexNetError } from '../core/errors.js';
import type { SlurmOptions } from './spec.js';

/** A word quoted for bash: inside single quotes, each ' written as '\''. */
export const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * One #SBATCH argument as sbatch reads it back: in double quotes (which may hold spaces, ' and
 * #), with \ and " escaped by a backslash. A line break ends the line whatever its quoting, so
 * one (or any control character) is refused.
 */
export function sbatchArgument(option: string): string {
  if (/[\x00-\x1f\x7f]/.test(option)) throw new AlexNetError(`sbatch option ${JSON.stringify(option)}: contains a line break or control character, which an #SBATCH line cannot hold`);
  return `"${option.replace(/[\\"]/g, '\\$&')}"`;
}

export interface ScriptInput {
  /** Absolute paths: the sweep directory, the node binary and the CLI entry (main.js). */
  sweepDir: string;
  node: string;
  cli: string;
  runs: number;
  options: SlurmOptions;
}

/** The sbatch script: #SBATCH directives, then the task's one command. */
export function slurmScript(s: ScriptInput): string {
  const o = s.options;
  const width = Math.max(3, String(s.runs - 1).length);
  const directives = [
    `--job-name=${o['job-name'] ?? 'alexnet-sweep'}`,
    `--array=0-${s.runs - 1}${o['max-parallel'] ? `%${o['max-parallel']}` : ''}`,
    // One log per run (%a: the array index, zero-padded like the run's directory), appended to
    // by every attempt: a requeued task continues its log as it continues its run. In this
    // file name pattern a % of the path is written %%.
    `--output=${join(s.sweepDir, 'logs').replace(/%/g, '%%')}/%${width}a.out`,
    '--open-mode=append',
    '--requeue',
    `--chdir=${s.sweepDir}`,
    ...(['partition', 'time', 'gres', 'cpus-per-task', 'mem', 'account', 'qos'] as const).flatMap((k) => (o[k] === undefined ? [] : [`--${k}=${o[k]}`])),
    ...(o.extra ?? []),
  ];
  // A backslash anywhere in the log's file name turns off its % patterns (sbatch's rule).
  if (/[\\\x00-\x1f\x7f]/.test(s.sweepDir)) {
    throw new AlexNetError(
      `--out ${JSON.stringify(s.sweepDir)}: a backslash, line break or control character in the sweep directory's path cannot be written in the ` +
        "#SBATCH lines (sbatch would not find the directory or name each run's log); choose a path without one",
    );
  }
  return [
    '#!/bin/bash',
    '# Written by `alexnet sweep`: one array task per run of sweep.json. Each task trains its run',
    '# into runs/NNN-.../ (resuming it when it already holds a checkpoint, e.g. after a requeue).',
    ...directives.map((d) => `#SBATCH ${sbatchArgument(d)}`),
    'set -euo pipefail',
    `exec ${[s.node, s.cli, 'sweep', 'task', s.sweepDir].map(shellQuote).join(' ')} "$SLURM_ARRAY_TASK_ID"`,
    '',
  ].join('\n');
}

/** Runs a Slurm command; null when it is not installed. */
function slurmCommand(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } | null {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

/** Submits `script` with sbatch; returns the job id of the array. */
export function submit(script: string): string {
  const r = slurmCommand('sbatch', ['--parsable', script]);
  if (!r) throw new AlexNetError('sbatch not found: Slurm is not installed here (run the sweep from a cluster login node, or submit the script there)');
  if (r.status !== 0) throw new AlexNetError(`sbatch ${script} failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  // --parsable prints "jobid" or "jobid;cluster".
  const id = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new AlexNetError(`sbatch ${script}: expected a job id, found "${r.stdout.trim()}"`);
  return id;
}

/** Parses lines "JOB_TASK STATE" (squeue) or "JOB_TASK|STATE" (sacct) into task -> state. */
export function parseTaskStates(text: string, jobId: string): Map<number, string> {
  const states = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${jobId}_(\\d+)[ |](\\S+)`).exec(line.trim());
    if (m && !states.has(Number(m[1]))) states.set(Number(m[1]), m[2].toUpperCase());
  }
  return states;
}

export interface SlurmView {
  /** Array task index -> Slurm state (PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT...). */
  tasks: Map<number, string>;
  /** Why some or all tasks are missing (Slurm not installed, accounting disabled...). */
  note?: string;
}

/**
 * The state of each task of array `jobId`: squeue first (it keeps finished jobs for a few
 * minutes), then sacct for the rest where accounting is enabled. Null when Slurm is not here.
 */
export function queryArray(jobId: string): SlurmView | null {
  const queue = slurmCommand('squeue', ['--noheader', '--array', '--states=all', `--jobs=${jobId}`, '--format=%i %T']);
  if (!queue) return null;
  const tasks = queue.status === 0 ? parseTaskStates(queue.stdout, jobId) : new Map<number, string>();
  const acct = slurmCommand('sacct', ['--noheader', '--parsable2', '--allocations', `--jobs=${jobId}`, '--format=JobID,State']);
  let note: string | undefined;
  if (acct && acct.status === 0) {
    for (const [task, state] of parseTaskStates(acct.stdout, jobId)) if (!tasks.has(task)) tasks.set(task, state);
  } else if (tasks.size === 0) {
    const why = (r: { stderr: string } | null, missing: string) => (r ? r.stderr.trim().split('\n').at(-1) || 'no record' : missing);
    note = `job ${jobId} is in neither squeue (${queue.status === 0 ? 'no record' : why(queue, '')}) nor sacct (${why(acct, 'not installed')})`;
  }
  return { tasks, note };
}
