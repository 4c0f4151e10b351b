// A sweep spec: a small JSON file naming the training settings shared by every run, the seeds
// (an ensemble's members) and a grid of hyperparameters, plus how to ask the scheduler (Slurm's
// sbatch options, or a Kubernetes Indexed Job's image and volume). It is checked strictly, each
// error naming the file, the field and what was expected, and expanded into one run per grid
// point and seed, in a fixed order, each an ordinary `alexnet train` command line.
import { FormatError } from '../core/errors.js';
import { parseJson } from '../core/json.js';
import { absoluteDataSpec, parseDataSpec } from '../data/open.js';
import { ARCHITECTURE_NAMES } from '../nn/architectures.js';
import { MAX_SEED } from '../rng/hash.js';
import { parseSchedule } from '../optim/schedule.js';

/** What a value of a `train` (or `grid`) field must be: mirrors the options of `alexnet train`. */
type Kind =
  | { type: 'positive-int' }
  | { type: 'non-negative-int'; max?: number }
  | { type: 'number'; min?: number; aboveZero?: boolean; below?: number }
  | { type: 'data' }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'schedule' }
  | { type: 'boolean' };

/** The `train` fields, named as the options of `alexnet train` without their dashes. */
const TRAIN_FIELDS: Record<string, Kind> = {
  arch: { type: 'choice', choices: ARCHITECTURE_NAMES },
  data: { type: 'data' },
  epochs: { type: 'positive-int' },
  batch: { type: 'positive-int' },
  lr: { type: 'number', aboveZero: true },
  'lr-schedule': { type: 'schedule' },
  momentum: { type: 'number', min: 0, below: 1 },
  'weight-decay': { type: 'number', min: 0 },
  'sgd-form': { type: 'choice', choices: ['paper', 'pytorch'] },
  init: { type: 'choice', choices: ['paper', 'he'] },
  'bias-init': { type: 'number' },
  'input-scale': { type: 'number', aboveZero: true },
  val: { type: 'positive-int' },
  limit: { type: 'positive-int' },
  seed: { type: 'non-negative-int', max: MAX_SEED },
  'checkpoint-every': { type: 'non-negative-int' },
  report: { type: 'boolean' },
  backend: { type: 'choice', choices: ['cpu', 'webgpu', 'auto'] },
  threads: { type: 'positive-int' },
};

/** Options of `alexnet train` that the sweep sets itself, with the reason given when a spec sets them. */
const SWEEP_OWNED: Record<string, string> = {
  out: 'each run is written to DIR/runs/NNN-... by the sweep',
  resume: 'a task resumes its own run directory when it holds a checkpoint',
  force: 'a sweep never starts over a run',
  json: 'tasks always log JSON lines',
  'log-steps': 'tasks log one line per epoch',
};

/** The most runs a sweep may have (a job array of 10,000 tasks is already beyond most clusters' MaxArraySize). */
export const MAX_SWEEP_RUNS = 10_000;

/** sbatch options a spec may set, as sbatch spells them. */
const SLURM_FIELDS: Record<string, 'word' | 'positive-int'> = {
  partition: 'word',
  time: 'word',
  gres: 'word',
  'cpus-per-task': 'positive-int',
  mem: 'word',
  account: 'word',
  qos: 'word',
  'job-name': 'word',
  'max-parallel': 'positive-int',
};

export type TrainValue = string | number | boolean;

export interface SlurmOptions {
  partition?: string;
  time?: string;
  gres?: string;
  'cpus-per-task'?: number;
  mem?: string;
  account?: string;
  qos?: string;
  'job-name'?: string;
  /** At most this many array tasks at once (`--array=0-N%K`). */
  'max-parallel'?: number;
  /** More sbatch options, each one word such as "--constraint=a100". */
  extra?: string[];
}

export interface K8sOptions {
  /** A container image with node and the alexnet command on its PATH. */
  image?: string;
  /** The PersistentVolumeClaim holding the sweep directory (shared by every pod). */
  claim?: string;
  /** Where the claim is mounted in each pod: the sweep directory as the pods see it. */
  mount?: string;
  /** Pods at once (the Job's parallelism); default: every run. */
  parallelism?: number;
  /** nvidia.com/gpu per pod; none when absent. */
  gpus?: number;
  namespace?: string;
}

export interface SweepSpec {
  /** The spec file, as given: named in errors and recorded in sweep.json. */
  file: string;
  train: Record<string, TrainValue>;
  seeds: number[];
  /** Each field's values, in the order the file lists the fields. */
  grid: [string, TrainValue[]][];
  slurm: SlurmOptions;
  k8s: K8sOptions;
}

/** One run of a sweep: the `alexnet train` arguments apart from --out. */
export interface PlannedRun {
  index: number;
  /** NNN-<grid values>-seedS: the run directory under DIR/runs/. */
  name: string;
  seed: number;
  /** This run's grid values (empty without a grid). */
  point: Record<string, TrainValue>;
  args: string[];
}

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `"${v}"` : typeof v === 'object' ? 'an object' : String(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class SpecReader {
  constructor(readonly file: string) {}

  fail(field: string, fault: string): never {
    throw new FormatError(this.file, `${field}: ${fault}`);
  }

  /** Refuses fields other than `allowed` in the object at `field`. */
  onlyKnown(field: string, value: Record<string, unknown>, allowed: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(field ? `${field}.${key}` : key, `unknown field (expected one of ${allowed.join(', ')})`);
    }
  }

  object(field: string, value: unknown): Record<string, unknown> {
    if (!isObject(value)) this.fail(field, `expected an object, found ${describe(value)}`);
    return value;
  }

  nonEmptyArray(field: string, value: unknown): unknown[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(field, `expected a non-empty array, found ${describe(value)}`);
    return value;
  }

  /** A value of the `train` field `key`, checked as `alexnet train` would check its option. */
  trainValue(field: string, key: string, value: unknown): TrainValue {
    const kind = TRAIN_FIELDS[key];
    const expect = (what: string): never => this.fail(field, `expected ${what}, found ${describe(value)}`);
    switch (kind.type) {
      case 'positive-int':
        return Number.isInteger(value) && (value as number) >= 1 ? (value as number) : expect('a positive integer');
      case 'non-negative-int':
        if (kind.max !== undefined) return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= kind.max ? (value as number) : expect(`an integer from 0 to ${kind.max}`);
        return Number.isInteger(value) && (value as number) >= 0 ? (value as number) : expect('an integer >= 0');
      case 'number': {
        const ok = typeof value === 'number' && Number.isFinite(value) && value >= (kind.min ?? -Infinity) && (!kind.aboveZero || value > 0) && value < (kind.below ?? Infinity);
        if (ok) return value;
        return expect(kind.below !== undefined ? `a number from ${kind.min} up to (not including) ${kind.below}` : kind.aboveZero ? 'a number > 0' : kind.min !== undefined ? `a number >= ${kind.min}` : 'a number');
      }
      case 'data':
        if (typeof value !== 'string') expect('a data spec such as "fashion-mnist" or "cache:/shared/imagenet"');
        try {
          parseDataSpec(value as string);
        } catch (err) {
          this.fail(field, (err as Error).message);
        }
        return value as string;
      case 'choice':
        return typeof value === 'string' && kind.choices.includes(value) ? value : expect(`one of ${kind.choices.join(', ')}`);
      case 'schedule':
        if (typeof value !== 'string') expect('a string such as "cosine" or "step:30"');
        try {
          parseSchedule(value as string);
        } catch (err) {
          this.fail(field, (err as Error).message.replace(/^--lr-schedule: /, ''));
        }
        return value as string;
      case 'boolean':
        return typeof value === 'boolean' ? value : expect('true or false');
    }
  }

  trainKey(field: string, key: string): void {
    if (key in SWEEP_OWNED) this.fail(field, `set by the sweep, not the spec (${SWEEP_OWNED[key]})`);
    if (!(key in TRAIN_FIELDS)) this.fail(field, `unknown option of alexnet train (expected one of ${Object.keys(TRAIN_FIELDS).join(', ')})`);
  }

  /** One word for an #SBATCH line or a manifest: no whitespace, which could start another directive. */
  word(field: string, value: unknown): string {
    if (typeof value !== 'string' || !/^\S+$/.test(value)) this.fail(field, `expected one word without spaces, found ${describe(value)}`);
    return value;
  }

  positiveInt(field: string, value: unknown): number {
    if (!Number.isInteger(value) || (value as number) < 1) this.fail(field, `expected a positive integer, found ${describe(value)}`);
    return value as number;
  }
}

function readSlurm(r: SpecReader, value: unknown): SlurmOptions {
  const o = r.object('slurm', value);
  r.onlyKnown('slurm', o, [...Object.keys(SLURM_FIELDS), 'extra']);
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(SLURM_FIELDS)) {
    if (o[key] === undefined) continue;
    out[key] = kind === 'word' ? r.word(`slurm.${key}`, o[key]) : r.positiveInt(`slurm.${key}`, o[key]);
  }
  if (o.extra !== undefined) {
    if (!Array.isArray(o.extra)) r.fail('slurm.extra', `expected an array of sbatch options such as "--constraint=a100", found ${describe(o.extra)}`);
    out.extra = o.extra.map((v, i) => {
      const word = r.word(`slurm.extra[${i}]`, v);
      if (!word.startsWith('--') || word.startsWith('--array')) r.fail(`slurm.extra[${i}]`, `expected an sbatch option such as "--constraint=a100" (not --array, which the sweep sets), found "${word}"`);
      return word;
    });
  }
  return out as SlurmOptions;
}

function readK8s(r: SpecReader, value: unknown): K8sOptions {
  const o = r.object('k8s', value);
  r.onlyKnown('k8s', o, ['image', 'claim', 'mount', 'parallelism', 'gpus', 'namespace']);
  const out: K8sOptions = {};
  for (const key of ['image', 'claim', 'namespace'] as const) if (o[key] !== undefined) out[key] = r.word(`k8s.${key}`, o[key]);
  if (o.mount !== undefined) {
    out.mount = r.word('k8s.mount', o.mount);
    if (!out.mount.startsWith('/')) r.fail('k8s.mount', `expected an absolute path in the pod, found "${out.mount}"`);
  }
  for (const key of ['parallelism', 'gpus'] as const) if (o[key] !== undefined) out[key] = r.positiveInt(`k8s.${key}`, o[key]);
  return out;
}

/** Parses and checks the text of the spec file `file`. */
export function parseSweepSpec(text: string, file: string): SweepSpec {
  const r = new SpecReader(file);
  const json = parseJson(text, file);
  const top = r.object('the top level', json);
  r.onlyKnown('', top, ['train', 'seeds', 'grid', 'slurm', 'k8s']);

  const train: Record<string, TrainValue> = {};
  for (const [key, value] of Object.entries(r.object('train', top.train))) {
    r.trainKey(`train.${key}`, key);
    train[key] = r.trainValue(`train.${key}`, key, value);
  }

  let seeds = [typeof train.seed === 'number' ? train.seed : 1];
  if (top.seeds !== undefined) {
    if (train.seed !== undefined) r.fail('seeds', 'give the seed in "seeds" or in "train.seed", not both');
    seeds = r.nonEmptyArray('seeds', top.seeds).map((s, i) => r.trainValue(`seeds[${i}]`, 'seed', s) as number);
    const repeated = seeds.find((s, i) => seeds.indexOf(s) !== i);
    if (repeated !== undefined) r.fail('seeds', `seed ${repeated} appears twice (its runs would be identical)`);
  }
  delete train.seed;

  const grid: [string, TrainValue[]][] = [];
  if (top.grid !== undefined) {
    const g = r.object('grid', top.grid);
    if (Object.keys(g).length === 0) r.fail('grid', 'expected at least one field, e.g. {"lr": [0.01, 0.02]}');
    for (const [key, values] of Object.entries(g)) {
      r.trainKey(`grid.${key}`, key);
      if (key === 'seed') r.fail('grid.seed', 'list seeds in "seeds"');
      if (train[key] !== undefined) r.fail(`grid.${key}`, `also set in train.${key}; give it in one place`);
      const list = r.nonEmptyArray(`grid.${key}`, values).map((v, i) => r.trainValue(`grid.${key}[${i}]`, key, v));
      grid.push([key, list]);
    }
  }
  if (train.data === undefined && !grid.some(([key]) => key === 'data')) r.fail('train.data', 'missing: name the data set, e.g. "fashion-mnist" or "cache:/shared/imagenet"');
  // Counted before anything is expanded: 10^10 runs took 5 GB, then crashed the heap.
  const runs = grid.reduce((n, [, values]) => n * values.length, seeds.length);
  if (runs > MAX_SWEEP_RUNS) {
    const factors = [...grid.map(([key, values]) => `${values.length} ${key}`), `${seeds.length} seed${seeds.length > 1 ? 's' : ''}`];
    r.fail('grid', `makes ${runs.toLocaleString('en-US')} runs (${factors.join(' x ')}), more than the ${MAX_SWEEP_RUNS.toLocaleString('en-US')} a sweep may have`);
  }
  return {
    file, train, seeds, grid,
    slurm: top.slurm === undefined ? {} : readSlurm(r, top.slurm),
    k8s: top.k8s === undefined ? {} : readK8s(r, top.k8s),
  };
}

/**
 * The spec with every data directory (in train and in the grid) absolute against `base`, the spec
 * file's directory: tasks run elsewhere (Slurm starts them in the sweep directory).
 */
export function withAbsoluteData(spec: SweepSpec, base: string): SweepSpec {
  const train = typeof spec.train.data === 'string' ? { ...spec.train, data: absoluteDataSpec(spec.train.data, base) } : spec.train;
  const grid = spec.grid.map(([key, values]): [string, TrainValue[]] => [key, key === 'data' ? values.map((v) => absoluteDataSpec(String(v), base)) : values]);
  return { ...spec, train, grid };
}

/** `alexnet train` arguments for the fields of `values`, in their order. */
function trainArgs(values: Record<string, TrainValue>): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    // The one boolean, report, is on by default: only its negation is an option of train.
    if (typeof value === 'boolean') return value ? [] : [`--no-${key}`];
    return [`--${key}`, String(value)];
  });
}

/** A value as it appears in a run's directory name: letters, digits, '.', '_' and '-' only. */
function nameValue(value: TrainValue): string {
  return String(value).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 24);
}

/**
 * The runs of a spec: every grid point (the last grid field varying fastest) times every seed
 * (the fastest of all), numbered from 0 in that order.
 */
export function expandRuns(spec: SweepSpec): PlannedRun[] {
  let points: Record<string, TrainValue>[] = [{}];
  for (const [key, values] of spec.grid) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  const total = points.length * spec.seeds.length;
  const width = Math.max(3, String(total - 1).length);
  const runs: PlannedRun[] = [];
  for (const point of points) {
    for (const seed of spec.seeds) {
      const index = runs.length;
      const parts = [String(index).padStart(width, '0'), ...Object.entries(point).map(([k, v]) => `${k}${nameValue(v)}`), `seed${seed}`];
      runs.push({ index, name: parts.join('-'), seed, point, args: ['train', ...trainArgs({ ...spec.train, ...point, seed }), '--json'] });
    }
  }
  return runs;
}
