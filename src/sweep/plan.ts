// DIR/sweep.json: what `alexnet sweep` expanded a spec into (every run, its directory and its
// `alexnet train` arguments) and how it was handed to the scheduler (the script or manifest
// written, the Slurm job id once submitted). Array tasks read it to find their run; `sweep
// status` reads it to know what to look at. Run directories are relative to DIR, so a sweep
// directory on shared storage works wherever it is mounted (a Kubernetes pod mounts it elsewhere).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UsageError } from '../core/errors.js';
import { readJsonFile, writeFileAtomic } from '../io/files.js';
import type { K8sOptions, PlannedRun, SlurmOptions } from './spec.js';

export const SWEEP_FILE = 'sweep.json';
export const SLURM_SCRIPT = 'sweep.sbatch';
export const K8S_MANIFEST = 'sweep-job.json';

export interface SweepRun extends PlannedRun {
  /** The run directory, relative to the sweep directory: runs/<name>. */
  out: string;
}

export interface SweepPlan {
  version: 1;
  /** The spec file it was made from (absolute) and when. */
  spec: string;
  created: string;
  emit: 'slurm' | 'k8s';
  runs: SweepRun[];
  slurm?: {
    script: string;
    options: SlurmOptions;
    /** sbatch's job id of the array, once submitted with --submit. */
    job_id?: string;
    submitted?: string;
  };
  k8s?: { manifest: string; options: K8sOptions };
}

export const runDirectory = (sweepDir: string, run: SweepRun) => join(sweepDir, run.out);

export async function writePlan(sweepDir: string, plan: SweepPlan): Promise<void> {
  await writeFileAtomic(join(sweepDir, SWEEP_FILE), JSON.stringify(plan, null, 2) + '\n');
}

/** The plan of the sweep directory `dir`, or an error saying it is not one. */
export async function readPlan(dir: string): Promise<SweepPlan> {
  const path = join(dir, SWEEP_FILE);
  if (!existsSync(path)) throw new UsageError(`${dir}: not a sweep directory (no ${SWEEP_FILE}; \`alexnet sweep SPEC --out ${dir}\` writes one)`);
  const plan = (await readJsonFile(path, 'a sweep plan', 2 ** 28)) as SweepPlan | null;
  if (plan?.version !== 1 || !Array.isArray(plan.runs)) throw new FormatError(path, 'expected a sweep plan (version 1, with runs), written by alexnet sweep');
  plan.runs.forEach((run, i) => {
    const ok = run?.index === i && typeof run.name === 'string' && /^runs\/[A-Za-z0-9._-]+$/.test(run.out) && Array.isArray(run.args) && run.args.every((a) => typeof a === 'string');
    if (!ok) throw new FormatError(path, `runs[${i}]: expected {index: ${i}, name, out: "runs/NAME", args: [strings]}`);
  });
  return plan;
}
