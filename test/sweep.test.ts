// alexnet sweep without a cluster: the spec's checks (each bad spec names the file and the
// field), its expansion into runs, the Slurm script and the Kubernetes Indexed Job it writes,
// how status decides a run's state, and one array task run by hand (train, then a rerun that
// finds the run done, then a task that resumes a run from its checkpoint), and the sweep report's
// ensemble figure against the members' softmax averaged here.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../src/core/errors.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { indexedJob, jobName } from '../src/sweep/k8s.js';
import { parseTaskStates, slurmScript } from '../src/sweep/slurm.js';
import { absoluteDataSpec } from '../src/data/open.js';
import { expandRuns, parseSweepSpec } from '../src/sweep/spec.js';
import { decideState } from '../src/sweep/status.js';
import { trainArgs, type TaskRecord } from '../src/sweep/task.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadTrainedModel } from '../src/eval/models.js';
import { ensemblePicks, testLogits } from './ensemble_check.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alexnet-sweep-'));
const alexnet = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
const spec = (json: unknown) => parseSweepSpec(JSON.stringify(json), 'sweep.json');

test('a seeds-by-grid spec expands to one run per grid point and seed, in a fixed order', () => {
  const runs = expandRuns(spec({ train: { arch: 'mini', data: 'fashion-mnist', epochs: 1, report: false }, seeds: [1, 2], grid: { lr: [0.01, 0.02], batch: [32, 64] } }));
  assert.equal(runs.length, 8);
  assert.deepEqual(runs.map((r) => r.name).slice(0, 3), ['000-lr0.01-batch32-seed1', '001-lr0.01-batch32-seed2', '002-lr0.01-batch64-seed1']);
  assert.equal(runs[7].name, '007-lr0.02-batch64-seed2');
  assert.deepEqual(runs[3].args, ['train', '--arch', 'mini', '--data', 'fashion-mnist', '--epochs', '1', '--no-report', '--lr', '0.01', '--batch', '64', '--seed', '2', '--json']);
  assert.deepEqual(runs[3].point, { lr: 0.01, batch: 64 });
  // A minimum is allowed itself: 0 for momentum and weight decay (the rate must be above 0).
  const zeros = expandRuns(spec({ train: { data: 'fashion-mnist', lr: 0.01, momentum: 0 }, grid: { 'weight-decay': [0, 5e-4] } }));
  assert.deepEqual(zeros.map((r) => r.point), [{ 'weight-decay': 0 }, { 'weight-decay': 5e-4 }]);
  const value = (args: string[], flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : 'missing');
  assert.deepEqual(['--lr', '--momentum', '--weight-decay'].map((f) => value(zeros[0].args, f)), ['0.01', '0', '0']);
  // Without seeds: one run, with train.seed (or 1).
  assert.deepEqual(expandRuns(spec({ train: { data: 'fashion-mnist', seed: 7 } })).map((r) => [r.name, r.seed]), [['000-seed7', 7]]);
  assert.equal(absoluteDataSpec('fashion-mnist:sub/set', '/base'), 'fashion-mnist:/base/sub/set');
  assert.equal(absoluteDataSpec('cache:/abs', '/base'), 'cache:/abs');
  assert.equal(absoluteDataSpec('fashion-mnist', '/base'), 'fashion-mnist');
});

test('bad specs are refused naming the file, the field and what was expected', () => {
  const refused = (json: unknown, field: string, fault: RegExp) =>
    assert.throws(() => spec(json), (err: Error) => {
      assert.ok(err instanceof FormatError, err.message);
      assert.ok(err.message.startsWith(`sweep.json: ${field}: `), err.message);
      assert.match(err.message, fault);
      return true;
    });
  const data = { data: 'fashion-mnist' };
  assert.throws(() => parseSweepSpec('{"train": ', 'sweep.json'), /^FormatError: sweep.json: not valid JSON/);
  refused([], 'the top level', /expected an object, found an array/);
  refused({ train: data, seed: [1] }, 'seed', /unknown field \(expected one of train, seeds, grid, slurm, k8s\)/);
  refused({ train: { arch: 'mini' } }, 'train.data', /missing/);
  refused({ train: { ...data, epochs: 0 } }, 'train.epochs', /expected a positive integer, found 0/);
  refused({ train: { ...data, epochs: '2' } }, 'train.epochs', /expected a positive integer, found "2"/);
  refused({ train: { ...data, arch: 'vgg' } }, 'train.arch', /expected one of paper, caffe, torchvision, d2l, mini, found "vgg"/);
  refused({ train: { ...data, 'lr-schedule': 'cosine:3' } }, 'train.lr-schedule', /"cosine" takes no argument/);
  refused({ train: { ...data, lr: -1 } }, 'train.lr', /expected a number > 0, found -1/);
  refused({ train: { ...data, lr: 0 } }, 'train.lr', /expected a number > 0, found 0/);
  refused({ train: { ...data, out: 'x' } }, 'train.out', /set by the sweep/);
  refused({ train: { ...data, dropout: 0.5 } }, 'train.dropout', /unknown option of alexnet train/);
  refused({ train: { ...data, seed: 1 }, seeds: [2] }, 'seeds', /not both/);
  refused({ train: data, seeds: [] }, 'seeds', /expected a non-empty array/);
  refused({ train: data, seeds: [1, 2, 1] }, 'seeds', /seed 1 appears twice/);
  refused({ train: data, seeds: [1.5] }, 'seeds[0]', /expected an integer from 0 to 4294967295, found 1.5/);
  refused({ train: { ...data, momentum: 1 } }, 'train.momentum', /expected a number from 0 up to \(not including\) 1, found 1/);
  refused({ train: { ...data, lr: 0.01 }, grid: { lr: [0.1] } }, 'grid.lr', /also set in train.lr/);
  refused({ train: data, grid: { batch: [32, 'big'] } }, 'grid.batch[1]', /expected a positive integer, found "big"/);
  refused({ train: data, grid: {} }, 'grid', /at least one field/);
  refused({ train: data, slurm: { partition: 'gpu\n#SBATCH --x' } }, 'slurm.partition', /one word without spaces/);
  refused({ train: data, slurm: { extra: ['--array=0-9'] } }, 'slurm.extra[0]', /not --array/);
  refused({ train: data, slurm: { nodes: 2 } }, 'slurm.nodes', /unknown field/);
  refused({ train: data, k8s: { mount: 'rel' } }, 'k8s.mount', /absolute path/);
});

test('the Slurm script: one array task per run, per-run logs, requeue, the options, and the task command', () => {
  const text = slurmScript({
    sweepDir: '/shared/sw', node: '/usr/bin/node', cli: "/opt/it's/main.js", runs: 12,
    options: { partition: 'gpu', gres: 'gpu:1', time: '2:00:00', 'cpus-per-task': 8, 'max-parallel': 4, extra: ['--constraint=h100'] },
  });
  // Each directive is one double-quoted argument, \ and " escaped (as sbatch reads them).
  const directives = text.split('\n').filter((l) => l.startsWith('#SBATCH ')).map((l) => l.slice(8));
  for (const d of directives) assert.match(d, /^"([^"\\]|\\.)*"$/, d);
  assert.ok(text.startsWith('#!/bin/bash\n'));
  for (const d of ['--array=0-11%4', '--output=/shared/sw/logs/%3a.out', '--open-mode=append', '--requeue', '--chdir=/shared/sw', '--partition=gpu', '--gres=gpu:1', '--time=2:00:00', '--cpus-per-task=8', '--constraint=h100']) {
    assert.ok(directives.includes(`"${d}"`), `missing #SBATCH "${d}" in:\n${text}`);
  }
  assert.match(text, /\nexec '\/usr\/bin\/node' '\/opt\/it'\\''s\/main.js' 'sweep' 'task' '\/shared\/sw' "\$SLURM_ARRAY_TASK_ID"\n$/);
  // Spaces, quotes, # and % in the sweep's path are quoted (and % doubled in the log's name pattern); a line break cannot be.
  const odd = slurmScript({ sweepDir: `/a b/it's "x" #1 %j`, node: 'n', cli: 'c', runs: 1, options: { 'job-name': 'a"b' } });
  assert.ok(odd.includes(`#SBATCH "--output=/a b/it's \\"x\\" #1 %%j/logs/%3a.out"\n`), odd);
  assert.ok(odd.includes(`#SBATCH "--chdir=/a b/it's \\"x\\" #1 %j"\n`), odd);
  assert.ok(odd.includes(`#SBATCH "--job-name=a\\"b"\n`), odd);
  assert.throws(() => slurmScript({ sweepDir: '/a\nb', node: 'n', cli: 'c', runs: 1, options: {} }), /^AlexNetError: --out "\/a\\nb": a backslash, line break or control character in the sweep directory's path cannot be written/);
  assert.throws(() => slurmScript({ sweepDir: '/a', node: 'n', cli: 'c', runs: 1, options: { 'job-name': 'a\u0007b' } }), /sbatch option "--job-name=a\\u0007b": contains a line break or control character, which an #SBATCH line cannot hold/);
});

test('the Kubernetes Indexed Job: N completions, the index picks the run, the claim is mounted', () => {
  const job = JSON.parse(JSON.stringify(indexedJob({ name: jobName('My Sweep!'), runs: 5, options: { image: 'reg/alexnet:1', claim: 'shared', parallelism: 2, gpus: 1 } })));
  assert.equal(job.apiVersion, 'batch/v1');
  assert.equal(job.kind, 'Job');
  assert.equal(job.metadata.name, 'alexnet-sweep-my-sweep');
  assert.match(job.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.equal(job.spec.completionMode, 'Indexed');
  assert.equal(job.spec.completions, 5);
  assert.equal(job.spec.parallelism, 2);
  const pod = job.spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never');
  const [c] = pod.containers;
  assert.deepEqual(c.command, ['alexnet', 'sweep', 'task', '/sweep', '$(JOB_COMPLETION_INDEX)']);
  assert.deepEqual(c.env, [{ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }]);
  assert.deepEqual(c.volumeMounts, [{ name: 'sweep', mountPath: '/sweep' }]);
  assert.deepEqual(pod.volumes, [{ name: 'sweep', persistentVolumeClaim: { claimName: 'shared' } }]);
  assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
  assert.throws(() => indexedJob({ name: 'x', runs: 1, options: { image: 'i' } }), /needs k8s.claim in the spec or --claim/);
});

test('status: Slurm states and task records decide pending, running, done and failed', () => {
  assert.deepEqual([...parseTaskStates('41_0 COMPLETED\n41_2 PENDING\n42_1 RUNNING\n', '41')], [[0, 'COMPLETED'], [2, 'PENDING']]);
  assert.deepEqual([...parseTaskStates('41_1|CANCELLED by 0\n41_[2-3]|PENDING\n', '41')], [[1, 'CANCELLED']]);
  const started: TaskRecord = { index: 0, name: 'r', attempt: 1, host: 'elsewhere', train_pid: 1, scheduler: {}, argv: [], started: 'now', earlier: [] };
  const result = { test_top1: 0.8, test_top5: 1, test_n: 10, seconds: 1, checkpoint: 'c' };
  assert.equal(decideState(null, undefined, 'log').state, 'pending');
  assert.equal(decideState(null, 'PENDING', 'log').state, 'pending');
  assert.equal(decideState(started, 'RUNNING', 'log').state, 'running');
  assert.equal(decideState(started, undefined, 'log').state, 'running');
  assert.equal(decideState({ ...started, result }, 'COMPLETED', 'log').state, 'done');
  assert.deepEqual(decideState({ ...started, ended: 'then', exit_code: 1, signal: null }, 'FAILED', 'log'), { state: 'failed', note: 'train exited with code 1; see log' });
  assert.equal(decideState(null, 'TIMEOUT', 'log').state, 'failed');
  // A requeued task waits again: pending, though its last attempt failed or was stopped.
  const stopped = { ...started, ended: 'then', exit_code: null, signal: 'SIGTERM' };
  assert.equal(decideState({ ...started, ended: 'then', exit_code: 1, signal: null }, 'PENDING', 'log').state, 'pending');
  for (const slurm of ['REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED']) assert.equal(decideState(stopped, slurm, 'log').state, 'pending', slurm);
  assert.equal(decideState(null, 'REQUEUED', 'log').state, 'pending');
});

test('a task trains its run; run again it finds it done; a task resumes a run that holds a checkpoint', async () => {
  const specFile = join(dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify({
    train: { arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 1, limit: 120, val: 20, batch: 40, backend: 'cpu', threads: 1, report: false },
    seeds: [3, 4],
  }));
  const out = join(dir, 'sw');
  const made = alexnet('sweep', specFile, '--out', out);
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, /2 runs: 000-seed3, 001-seed4/);
  assert.match(made.stdout, /submit it: alexnet sweep submit '.*sw' +\(sbatch '.*sweep.sbatch'/);
  assert.match(alexnet('sweep', specFile, '--out', out).stderr, /already holds a sweep/);
  const plan = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.deepEqual(plan.runs.map((r: { out: string }) => r.out), ['runs/000-seed3', 'runs/001-seed4']);

  const first = alexnet('sweep', 'task', out, '1');
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /"event":"done"/);
  const status = JSON.parse(alexnet('sweep', 'status', out, '--json').stdout);
  assert.deepEqual(status.runs.map((r: { state: string }) => r.state), ['pending', 'done']);
  assert.equal(status.runs[1].epochs_done, 1);
  assert.ok(status.runs[1].test_top1 > 0, JSON.stringify(status.runs[1]));
  assert.match(alexnet('sweep', 'task', out, '1').stderr, /already finished/);
  assert.match(alexnet('sweep', 'task', out, '2').stderr, /index 2 is out of range \(the sweep in .* has runs 0-1\)/);

  // A task that stopped after its last checkpoint but before recording its end: run again,
  // it resumes the checkpoint (no new training steps) rather than starting over.
  const record = join(out, 'runs/001-seed4/task.json');
  const before = JSON.parse(readFileSync(record, 'utf8'));
  writeFileSync(record, JSON.stringify({ ...before, result: undefined, ended: undefined }));
  const again = alexnet('sweep', 'task', out, '1');
  assert.equal(again.status, 0, again.stderr);
  const after = JSON.parse(readFileSync(record, 'utf8'));
  assert.equal(after.attempt, 2);
  assert.deepEqual(after.argv.slice(2, 5), ['train', '--resume', join(out, 'runs/001-seed4')]);
  assert.equal(after.result.test_top1, before.result.test_top1);
  assert.match(again.stdout, /"resumed_from_step":[1-9]/);

  // The other member, then the sweep's report: both members, and their ensemble beside them.
  assert.equal(alexnet('sweep', 'task', out, '0').status, 0);
  const done = JSON.parse(alexnet('sweep', 'status', out, '--json').stdout);
  const report = alexnet('report', out, '--backend', 'cpu', '--threads', '1');
  assert.equal(report.status, 0, report.stderr);
  assert.equal(report.stdout.trim(), join(out, 'report.html'));
  // The ensemble's figure, worked out apart from eval's code: each member's logits from its own
  // Net, their softmax averaged here (ensemble_check.ts).
  const members = await Promise.all(['000-seed3', '001-seed4'].map((name) => loadTrainedModel(join(out, 'runs', name))));
  const logits = [];
  for (const m of members) logits.push(await testLogits(m, m.model.data, new CpuBackend()));
  const picks = ensemblePicks(logits);
  // Images whose averaged softmax ties within float32 rounding may go either way.
  const ties = picks.margin.filter((m) => m <= 1e-5).length;
  console.log(`sweep ensemble: softmax and logit averaging pick different classes for ${picks.bySoftmax.filter((c, i) => c !== picks.byLogits[i]).length} images`);
  const ensemble = JSON.parse(alexnet('eval', '--ensemble', join(out, 'runs/000-seed3'), join(out, 'runs/001-seed4'), '--backend', 'cpu', '--json').stdout);
  assert.ok(Math.abs(ensemble.top1 - picks.top1) <= ties / picks.margin.length, `eval --ensemble: top-1 ${ensemble.top1}; the members' softmax averaged: ${picks.top1}`);
  const expected = ensemble.top1;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  assert.match(report.stderr, new RegExp(`all seeds: 2 members, best ${pct(Math.max(...done.runs.map((r: { test_top1: number }) => r.test_top1)))}, ensemble ${pct(expected)}`));
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, new RegExp(`<td><b>${pct(expected)}</b></td>`));
  for (const r of done.runs) assert.match(html, new RegExp(`${r.name}</td><td>${r.seed}</td><td>done</td><td>1/1</td><td>${pct(r.test_top1)}</td>`));
});

test('trainArgs: a fresh run, or --resume keeping only backend and threads', () => {
  const run = { index: 0, name: 'r', seed: 1, point: {}, out: 'runs/r', args: ['train', '--lr', '0.1', '--backend', 'cpu', '--threads', '2', '--json'] };
  const runDir = join(dir, 'args-run');
  assert.deepEqual(trainArgs(run, runDir), [...run.args, '--out', runDir]);
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  assert.deepEqual(trainArgs(run, runDir), [...run.args, '--out', runDir, '--force']);
  writeFileSync(join(runDir, 'checkpoints/latest.json'), '{"checkpoint":"ckpt-00000003"}');
  assert.deepEqual(trainArgs(run, runDir), ['train', '--resume', runDir, '--backend', 'cpu', '--threads', '2', '--json']);
});

/** A sweep of `runs` seeds of the mini net on the bundled subset, written to a new directory. */
function smallSweep(name: string, train: object, seeds: number[], ...flags: string[]): string {
  const specFile = join(dir, `${name}.json`);
  writeFileSync(specFile, JSON.stringify({ train: { arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, backend: 'cpu', threads: 1, report: false, ...train }, seeds }));
  const out = join(dir, name);
  const r = alexnet('sweep', specFile, '--out', out, ...flags);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

test('a task stopped by SIGTERM (a Slurm timeout, a pod deleted) is recorded as stopped, and resumes from its checkpoint', async () => {
  const out = smallSweep('stopped', { epochs: 1, limit: 2200, val: 200, batch: 20, 'checkpoint-every': 5 }, [1]);
  const runDir = join(out, 'runs/000-seed1');
  const task = spawn(process.execPath, [MAIN, 'sweep', 'task', out, '0'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => task.on('close', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(runDir, 'checkpoints/latest.json'))) {
    assert.ok(Date.now() < deadline, 'no checkpoint within a minute');
    await new Promise((r) => setTimeout(r, 100));
  }
  task.kill('SIGTERM');
  assert.equal(await exited, 1);
  const stopped = JSON.parse(readFileSync(join(runDir, 'task.json'), 'utf8'));
  assert.equal(stopped.signal, 'SIGTERM');
  assert.equal(stopped.result, undefined);
  const status = JSON.parse(alexnet('sweep', 'status', out, '--json').stdout);
  assert.equal(status.runs[0].state, 'failed');
  assert.match(status.runs[0].note, /stopped by SIGTERM/);

  const again = alexnet('sweep', 'task', out, '0');
  assert.equal(again.status, 0, again.stderr);
  const step = Number(/"resumed_from_step":(\d+)/.exec(again.stdout)?.[1]);
  assert.ok(step >= 5 && step < 100, `resumed from step ${step}`);
  const done = JSON.parse(readFileSync(join(runDir, 'task.json'), 'utf8'));
  assert.equal(done.attempt, 2);
  assert.equal(done.earlier[0].signal, 'SIGTERM');
  assert.ok(done.result.test_top1 > 0);
});

test("an earlier attempt's lock on another node is removed under a scheduler, and refused by hand", () => {
  const out = smallSweep('requeued', { epochs: 1, limit: 120, val: 20, batch: 40 }, [1]);
  const runDir = join(out, 'runs/000-seed1');
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'run.lock'), JSON.stringify({ pid: 4242, host: 'node-b', started: '2026-12-01T00:00:00Z' }));
  writeFileSync(join(runDir, 'task.json'), JSON.stringify({ index: 0, name: '000-seed1', attempt: 1, host: 'node-b', train_pid: 4242, scheduler: { slurm_array_job: '7' }, argv: [], started: '2026-12-01T00:00:00Z', earlier: [] }));
  const byHand = alexnet('sweep', 'task', out, '0');
  assert.notEqual(byHand.status, 0);
  assert.match(byHand.stderr, /in use by process 4242 on host node-b/);
  // Under a scheduler, a lock of another process (not an earlier attempt of this task: another
  // job writing this run by mistake, or a process on another node) is no attempt's to remove.
  const scheduler = { ...process.env, SLURM_JOB_ID: '9', SLURM_ARRAY_JOB_ID: '7' };
  const foreign = JSON.stringify({ pid: 5151, host: 'node-c', started: '2026-12-01T00:00:00Z' });
  const task = readFileSync(join(runDir, 'task.json'), 'utf8');
  writeFileSync(join(runDir, 'run.lock'), foreign);
  const refused = spawnSync(process.execPath, [MAIN, 'sweep', 'task', out, '0'], { encoding: 'utf8', env: scheduler });
  assert.notEqual(refused.status, 0, refused.stderr);
  assert.match(refused.stderr, /in use by process 5151 on host node-c/);
  assert.doesNotMatch(refused.stderr, /removed the lock/);
  assert.equal(readFileSync(join(runDir, 'run.lock'), 'utf8'), foreign, 'the lock of process 5151 on node-c was removed');
  // The same pid on another host, or another pid on the earlier attempt's host: not that attempt either.
  for (const owner of [{ pid: 4242, host: 'node-c' }, { pid: 4243, host: 'node-b' }]) {
    const lock = JSON.stringify({ ...owner, started: '2026-12-01T00:00:00Z' });
    writeFileSync(join(runDir, 'run.lock'), lock);
    writeFileSync(join(runDir, 'task.json'), task);
    const r = spawnSync(process.execPath, [MAIN, 'sweep', 'task', out, '0'], { encoding: 'utf8', env: scheduler });
    assert.notEqual(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(runDir, 'run.lock'), 'utf8'), lock, `the lock of process ${owner.pid} on ${owner.host} was removed`);
  }
  writeFileSync(join(runDir, 'run.lock'), JSON.stringify({ pid: 4242, host: 'node-b', started: '2026-12-01T00:00:00Z' }));
  writeFileSync(join(runDir, 'task.json'), task);
  const requeued = spawnSync(process.execPath, [MAIN, 'sweep', 'task', out, '0'], { encoding: 'utf8', env: { ...process.env, SLURM_JOB_ID: '9', SLURM_ARRAY_JOB_ID: '7' } });
  assert.equal(requeued.status, 0, requeued.stderr);
  assert.match(requeued.stderr, /removed the lock of an earlier attempt of this task \(process 4242 on node-b\)/);
  const record = JSON.parse(readFileSync(join(runDir, 'task.json'), 'utf8'));
  assert.deepEqual(record.earlier.map((a: { host: string }) => a.host), ['node-b', hostname()]);
  assert.deepEqual(record.scheduler, { slurm_job: '9', slurm_array_job: '7' });
});

test('sweep --emit k8s writes the Indexed Job for the spec; bad invocations say what is wrong', () => {
  const out = smallSweep('k8s', { epochs: 1 }, [1, 2, 3], '--emit', 'k8s', '--image', 'reg/alexnet:1', '--claim', 'sweeps', '--parallelism', '2');
  assert.ok(!existsSync(join(out, 'sweep.sbatch')));
  const job = JSON.parse(readFileSync(join(out, 'sweep-job.json'), 'utf8'));
  assert.equal(job.spec.completions, 3);
  assert.equal(job.spec.parallelism, 2);
  assert.equal(job.metadata.name, 'alexnet-sweep-k8s');
  const plan = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.equal(plan.emit, 'k8s');
  assert.deepEqual(plan.k8s.options, { image: 'reg/alexnet:1', claim: 'sweeps', parallelism: 2 });

  const specFile = join(dir, 'k8s.json');
  assert.match(alexnet('sweep', specFile).stderr, /sweep: give --out DIR/);
  assert.match(alexnet('sweep', join(dir, 'absent.json'), '--out', join(dir, 'x')).stderr, /absent.json: file not found$/m);
  assert.match(alexnet('sweep', specFile, '--out', join(dir, 'y'), '--emit', 'k8s').stderr, /--emit k8s needs k8s.image in the spec or --image and k8s.claim/);
  assert.ok(!existsSync(join(dir, 'y')), 'a refused sweep writes nothing');
  assert.match(alexnet('sweep', specFile, '--out', join(dir, 'z'), '--emit', 'k8s', '--submit').stderr, /--submit hands the script to sbatch/);
  assert.match(alexnet('sweep', 'status', join(dir, 'absent')).stderr, /not a sweep directory/);
  assert.match(alexnet('sweep', 'submit', out).stderr, /written for Kubernetes \(--emit k8s\); apply sweep-job.json/);
});
