// `alexnet sweep SPEC --out DIR` (expand a spec into runs; write a Slurm job array script or a
// Kubernetes Indexed Job; --submit hands the script to sbatch), `alexnet sweep submit DIR`,
// `alexnet sweep status DIR` and `alexnet sweep task DIR I` (what each array task runs). Wiring only: the work is in src/sweep/.
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { TrainingError, UsageError } from '../core/errors.js';
import { dataDirectory } from '../data/open.js';
import { makeDirectories, readInputFile, writeFileAtomic } from '../io/files.js';
import { checkOutputFolder } from '../io/outputs.js';
import { indexedJob, jobName } from '../sweep/k8s.js';
import { K8S_MANIFEST, readPlan, SLURM_SCRIPT, SWEEP_FILE, writePlan, type SweepPlan } from '../sweep/plan.js';
import { shellQuote, slurmScript, submit } from '../sweep/slurm.js';
import { expandRuns, parseSweepSpec, withAbsoluteData, type K8sOptions, type SlurmOptions } from '../sweep/spec.js';
import { formatStatus, sweepStatus } from '../sweep/status.js';
import { runTask } from '../sweep/task.js';
import { nonNegativeInt, notice, positiveInt } from './options.js';

/** A sweep spec is a few lines of JSON; a larger file is not one. */
const MAX_SPEC_BYTES = 2 ** 20;

/** The CLI entry that array tasks run, and the node that runs it: absolute, for shared storage. */
const CLI_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));

/** One word (no whitespace), for an option that becomes an #SBATCH line or a manifest field. */
function word(option: string) {
  return (value: string): string => {
    if (!/^\S+$/.test(value)) throw new UsageError(`${option}: expected one word without spaces, found "${value}"`);
    return value;
  };
}

interface SweepFlags {
  out?: string;
  emit: 'slurm' | 'k8s';
  submit?: boolean;
  partition?: string;
  time?: string;
  gres?: string;
  cpusPerTask?: number;
  mem?: string;
  account?: string;
  maxParallel?: number;
  image?: string;
  claim?: string;
  mount?: string;
  parallelism?: number;
  gpus?: number;
}

/** The spec's scheduler options with the command line's on top. */
function slurmOptions(spec: SlurmOptions, o: SweepFlags): SlurmOptions {
  const flags: SlurmOptions = { partition: o.partition, time: o.time, gres: o.gres, 'cpus-per-task': o.cpusPerTask, mem: o.mem, account: o.account, 'max-parallel': o.maxParallel };
  return { ...spec, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
}

function k8sOptions(spec: K8sOptions, o: SweepFlags): K8sOptions {
  const flags: K8sOptions = { image: o.image, claim: o.claim, mount: o.mount, parallelism: o.parallelism, gpus: o.gpus };
  return { ...spec, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
}

/** Hands the sweep's script to sbatch and records the job id in sweep.json; says so in a line. */
async function submitSweep(dir: string, plan: SweepPlan): Promise<string> {
  if (!plan.slurm) throw new UsageError(`${dir}: this sweep was written for Kubernetes (--emit k8s); apply ${K8S_MANIFEST} with kubectl apply -f`);
  plan.slurm.job_id = submit(join(dir, plan.slurm.script));
  plan.slurm.submitted = new Date().toISOString();
  await writePlan(dir, plan);
  return `submitted Slurm job ${plan.slurm.job_id} (array 0-${plan.runs.length - 1})`;
}

async function writeSweep(specFile: string, o: SweepFlags): Promise<void> {
  if (!o.out) throw new UsageError('sweep: give --out DIR, the sweep directory (on storage every node of the cluster sees)');
  if (o.submit && o.emit !== 'slurm') throw new UsageError('sweep: --submit hands the script to sbatch; for Kubernetes, apply the manifest with kubectl apply -f');
  const text = new TextDecoder().decode(await readInputFile(specFile, 'a sweep spec (JSON)', MAX_SPEC_BYTES));
  const spec = withAbsoluteData(parseSweepSpec(text, specFile), dirname(resolve(specFile)));
  const runs = expandRuns(spec);
  const dir = resolve(o.out);
  if (existsSync(join(dir, SWEEP_FILE))) {
    throw new UsageError(`--out ${dir} already holds a sweep (${SWEEP_FILE}): see it with alexnet sweep status ${dir}, or choose another --out`);
  }
  const specs = new Set([spec.train.data ?? [], ...spec.grid.filter(([key]) => key === 'data').map(([, values]) => values)].flat().map(String));
  const folders = await Promise.all([...specs].map(async (d) => ({ path: await dataDirectory(d), what: `the data set ${d}` })));
  await checkOutputFolder('--out', dir, 'sweep', { folders });
  const plan: SweepPlan = {
    version: 1, spec: resolve(specFile), created: new Date().toISOString(), emit: o.emit,
    runs: runs.map((r) => ({ ...r, out: `runs/${r.name}` })),
  };
  // The script or manifest is made (and any fault in the options found) before anything is written.
  let file: string;
  let contents: string;
  if (o.emit === 'slurm') {
    const options = slurmOptions(spec.slurm, o);
    file = join(dir, SLURM_SCRIPT);
    contents = slurmScript({ sweepDir: dir, node: process.execPath, cli: CLI_ENTRY, runs: runs.length, options });
    plan.slurm = { script: SLURM_SCRIPT, options };
  } else {
    const options = k8sOptions(spec.k8s, o);
    file = join(dir, K8S_MANIFEST);
    contents = JSON.stringify(indexedJob({ name: jobName(basename(dir)), runs: runs.length, options }), null, 2) + '\n';
    plan.k8s = { manifest: K8S_MANIFEST, options };
  }
  await makeDirectories(join(dir, 'runs'), `--out ${dir}`);
  await makeDirectories(join(dir, 'logs'), `--out ${dir}`);
  await writeFileAtomic(file, contents, { mode: o.emit === 'slurm' ? 0o755 : 0o644 });
  await writePlan(dir, plan);
  const written = [join(dir, SWEEP_FILE), file];

  const lines = [`${runs.length} runs: ${runs.map((r) => r.name).join(', ')}`, ...written.map((w) => `wrote ${w}`)];
  if (o.emit === 'slurm' && o.submit) {
    lines.push(await submitSweep(dir, plan));
  } else if (o.emit === 'slurm') {
    lines.push(`submit it: alexnet sweep submit ${shellQuote(dir)}   (sbatch ${shellQuote(join(dir, SLURM_SCRIPT))}, with the job id recorded for sweep status)`);
  } else {
    lines.push(`start it: kubectl apply -f ${shellQuote(join(dir, K8S_MANIFEST))}   (the claim must hold this directory at the pods' mount path)`);
  }
  lines.push(`follow it: alexnet sweep status ${shellQuote(dir)}`);
  console.log(lines.join('\n'));
}

export function registerSweepCommands(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('many runs (an ensemble by seed, a grid of settings) as a Slurm job array or a Kubernetes Indexed Job')
    .argument('<spec>', 'sweep spec (JSON): {"train": {...}, "seeds": [...], "grid": {...}, "slurm": {...}, "k8s": {...}}; see docs/scale.md')
    .option('--out <dir>', 'the sweep directory: sweep.json, the script or manifest, runs/, logs/')
    .addOption(new Option('--emit <kind>', 'slurm: a job array script; k8s: an Indexed Job manifest').choices(['slurm', 'k8s']).default('slurm'))
    .option('--submit', 'submit the script with sbatch and record the job id')
    .option('--partition <name>', 'sbatch --partition', word('--partition'))
    .option('--time <limit>', 'sbatch --time, per run (e.g. 2:00:00)', word('--time'))
    .option('--gres <spec>', 'sbatch --gres, per run (e.g. gpu:1)', word('--gres'))
    .option('--cpus-per-task <n>', 'sbatch --cpus-per-task', positiveInt('--cpus-per-task'))
    .option('--mem <size>', 'sbatch --mem, per run (e.g. 16G)', word('--mem'))
    .option('--account <name>', 'sbatch --account', word('--account'))
    .option('--max-parallel <n>', 'at most this many array tasks at once', positiveInt('--max-parallel'))
    .option('--image <image>', 'k8s: container image with node and alexnet on its PATH', word('--image'))
    .option('--claim <name>', 'k8s: PersistentVolumeClaim holding the sweep directory', word('--claim'))
    .option('--mount <path>', 'k8s: where pods mount the claim (default /sweep)', word('--mount'))
    .option('--parallelism <n>', 'k8s: pods at once (default: every run)', positiveInt('--parallelism'))
    .option('--gpus <n>', 'k8s: nvidia.com/gpu per pod', positiveInt('--gpus'))
    .action((specFile: string, o: SweepFlags) => writeSweep(specFile, o));

  sweep
    .command('status')
    .description('each run: pending, running, done or failed, its epochs and test top-1 (from its directory, and Slurm when it can be asked)')
    .argument('<dir>', 'a sweep directory')
    .option('--json', 'one JSON object')
    .action(async (dir: string, o: { json?: boolean }) => {
      const status = await sweepStatus(resolve(dir));
      console.log(o.json ? JSON.stringify(status) : formatStatus(status));
    });

  sweep
    .command('submit')
    .description('submit a sweep written without --submit (or again: finished runs are left alone, the others resume) and record its job id')
    .argument('<dir>', 'a sweep directory written for Slurm')
    .action(async (dir: string) => console.log(await submitSweep(resolve(dir), await readPlan(resolve(dir)))));

  sweep
    .command('task')
    .description("run one run of a sweep (what each array task or pod runs): train into its directory, resuming it if it holds a checkpoint")
    .argument('<dir>', 'the sweep directory')
    .argument('<index>', 'the run: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX', nonNegativeInt('<index>'))
    .action(async (dir: string, index: number) => {
      const code = await runTask(resolve(dir), index, process.execPath, CLI_ENTRY, notice);
      if (code !== 0) throw new TrainingError(`sweep task ${index}: training did not finish (exit ${code}); its run directory is kept, and the task resumes it when run again`);
    });
}
