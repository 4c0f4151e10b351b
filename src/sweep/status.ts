// `alexnet sweep status`: where each run of a sweep stands, from its run directory (task.json
// written by the task, the newest checkpoint's epochs) and, when the sweep was submitted to
// Slurm and Slurm's commands are here, from squeue and sacct. A run is pending (not started, or
// waiting in the queue), running, done (its test top-1 recorded) or failed (with the reason).
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CHECKPOINT_POINTER, checkpointDir, latestCheckpoint, readCheckpointState } from '../train/checkpoint.js';
import { processAlive } from '../train/run_dir.js';
import { readPlan, runDirectory, type SweepPlan } from './plan.js';
import { queryArray, type SlurmView } from './slurm.js';
import { readTaskRecord, type TaskRecord } from './task.js';
import type { TrainValue } from './spec.js';

export type RunState = 'pending' | 'running' | 'done' | 'failed';

export interface RunStatus {
  index: number;
  name: string;
  dir: string;
  seed: number;
  point: Record<string, TrainValue>;
  state: RunState;
  /** Epochs in the newest checkpoint, of the run's total. */
  epochs_done: number;
  epochs: number | null;
  test_top1: number | null;
  attempts: number;
  slurm_state?: string;
  /** Why a run failed, or what else to know. */
  note?: string;
}

export interface SweepStatus {
  dir: string;
  runs: RunStatus[];
  counts: Record<RunState, number>;
  slurm?: { job_id: string; note?: string };
}

const PENDING = ['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'CONFIGURING', 'RESV_DEL_HOLD', 'SUSPENDED'];
const RUNNING = ['RUNNING', 'COMPLETING', 'STAGE_OUT', 'SIGNALING', 'RESIZING'];

/** Epochs of the newest checkpoint and the run's total, from its state.json (tensors unread). */
async function checkpointEpochs(runDir: string): Promise<{ done: number; total: number | null }> {
  // A running task replaces its checkpoint while this reads: a checkpoint gone before its state
  // was read is looked for again; a damaged state.json is an error naming it.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!existsSync(join(checkpointDir(runDir), CHECKPOINT_POINTER))) break;
    const checkpoint = await latestCheckpoint(checkpointDir(runDir));
    if (!existsSync(join(checkpoint, 'state.json'))) continue;
    const state = await readCheckpointState<{ epochs?: number }, { epochs?: unknown[] }>(checkpoint);
    return { done: state.history?.epochs?.length ?? 0, total: state.config?.epochs ?? null };
  }
  return { done: 0, total: null };
}

/** The state of one run from its task record and Slurm's word for its array task. */
export function decideState(record: TaskRecord | null, slurm: string | undefined, log: string): { state: RunState; note?: string } {
  if (record?.result) return { state: 'done' };
  if (slurm && PENDING.includes(slurm)) return { state: 'pending' };
  if (slurm && RUNNING.includes(slurm)) return { state: 'running' };
  if (record?.ended) {
    return { state: 'failed', note: `${record.signal ? `stopped by ${record.signal}` : `train exited with code ${record.exit_code}`}; see ${log}` };
  }
  if (slurm) return { state: 'failed', note: `Slurm says ${slurm} and the run recorded no result; see ${log}` };
  if (record) {
    // Started, not ended, and no scheduler to ask: a process on this host can be checked.
    if (record.host === hostname() && record.train_pid !== undefined && !processAlive(record.train_pid)) {
      return { state: 'failed', note: `its training process ${record.train_pid} is gone without recording an end; see ${log}` };
    }
    return { state: 'running' };
  }
  return { state: 'pending' };
}

function expectedEpochs(plan: SweepPlan, index: number): number | null {
  const args = plan.runs[index].args;
  const at = args.indexOf('--epochs');
  return at >= 0 ? Number(args[at + 1]) : null;
}

export async function sweepStatus(sweepDir: string, query: (jobId: string) => SlurmView | null = queryArray): Promise<SweepStatus> {
  const plan = await readPlan(sweepDir);
  const jobId = plan.slurm?.job_id;
  const view = jobId ? query(jobId) : null;
  const width = Math.max(3, String(plan.runs.length - 1).length);
  const runs: RunStatus[] = [];
  for (const run of plan.runs) {
    const dir = runDirectory(sweepDir, run);
    const record = await readTaskRecord(dir);
    const epochs = await checkpointEpochs(dir);
    const slurm = view?.tasks.get(run.index);
    const log = jobId ? join(sweepDir, 'logs', `${String(run.index).padStart(width, '0')}.out`) : `the task's output`;
    const { state, note } = decideState(record, slurm, log);
    runs.push({
      index: run.index, name: run.name, dir, seed: run.seed, point: run.point, state,
      epochs_done: epochs.done, epochs: epochs.total ?? expectedEpochs(plan, run.index),
      test_top1: record?.result?.test_top1 ?? null, attempts: record?.attempt ?? 0,
      ...(slurm ? { slurm_state: slurm } : {}), ...(note ? { note } : {}),
    });
  }
  const counts: Record<RunState, number> = { pending: 0, running: 0, done: 0, failed: 0 };
  for (const r of runs) counts[r.state]++;
  return {
    dir: sweepDir, runs, counts,
    ...(jobId ? { slurm: { job_id: jobId, ...(view === null ? { note: 'Slurm commands are not installed here: states come from the run directories only' } : view.note ? { note: view.note } : {}) } } : {}),
  };
}

/** The status as lines for a terminal. */
export function formatStatus(s: SweepStatus): string {
  const lines = [
    `${s.dir}: ${s.runs.length} runs: ${s.counts.done} done, ${s.counts.running} running, ${s.counts.pending} pending, ${s.counts.failed} failed` +
      (s.slurm ? ` (Slurm job ${s.slurm.job_id})` : ''),
  ];
  if (s.slurm?.note) lines.push(`  note: ${s.slurm.note}`);
  for (const r of s.runs) {
    const epochs = `${r.epochs_done}/${r.epochs ?? '?'} epochs`;
    const top1 = r.test_top1 === null ? '' : `  test top-1 ${(r.test_top1 * 100).toFixed(2)}%`;
    lines.push(`  ${r.name.padEnd(28)} ${r.state.padEnd(8)} ${epochs}${top1}${r.note ? `  (${r.note})` : ''}`);
  }
  if (s.counts.done > 1) lines.push(`collect: alexnet eval --ensemble ${join(s.dir, 'runs')}/*`);
  return lines.join('\n');
}
