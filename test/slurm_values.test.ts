// Values a Slurm script cannot hold as they are, through a real sbatch (the one-node cluster of
// slurm_cluster.ts): a sweep directory with spaces, quotes, '#' and '%' in its path, and a job
// name with a quote and a '%', are quoted (and '%' doubled in the log's file name pattern) so
// that sbatch reads back exactly what was meant: the task runs in that directory and writes its
// log there. (Before: the whitespace was refused, a quote was eaten by sbatch's parser, and a
// '%j' in the path became the job id.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { skipUnless } from './helpers.js';
import { findBinary, missingSlurmBinaries, startSlurmCluster } from './slurm_cluster.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const missing = missingSlurmBinaries();
const skip =
  skipUnless(missing.length === 0, 'Slurm', `${missing.join(', ')} not found (apt-get install slurm-wlm munge)`) ||
  skipUnless(process.getuid?.() === 0, 'Slurm', 'the one-node Slurm cluster needs root (slurmd runs jobs as their user)');

test("a sweep whose path and job name hold spaces, quotes, '#' and '%' runs under sbatch as meant", { skip, timeout: 10 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-slurm-values-'));
  const cluster = await startSlurmCluster(join(dir, 'cluster'));
  const alexnet = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: cluster.env });
  const out = join(dir, `it's a "sweep" #1 100%j`);
  const jobName = 'odd"name%x';
  let jobId: string | undefined;
  try {
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({
      train: { arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 1, limit: 120, val: 20, batch: 50, backend: 'cpu', threads: 1, report: false },
      seeds: [1],
      slurm: { 'job-name': jobName, 'cpus-per-task': 1, time: '10:00' },
    }));
    const made = alexnet('sweep', spec, '--out', out, '--submit');
    assert.equal(made.status, 0, `${made.stderr}\n${cluster.logs()}`);
    jobId = /submitted Slurm job (\d+)/.exec(made.stdout)?.[1];
    assert.ok(jobId, made.stdout);
    const job = spawnSync(findBinary('scontrol')!, ['show', 'job', jobId], { encoding: 'utf8', env: cluster.env }).stdout;
    assert.ok(job.includes(`JobName=${jobName}`), job);
    assert.ok(job.includes(`WorkDir=${out}`), job);

    const deadline = Date.now() + 5 * 60_000;
    let state = '';
    while (Date.now() < deadline) {
      const r = alexnet('sweep', 'status', out, '--json');
      assert.equal(r.status, 0, r.stderr);
      state = JSON.parse(r.stdout).runs[0].state;
      if (state === 'done' || state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    const log = join(out, 'logs', '000.out');
    assert.ok(existsSync(log), `no log at ${log}\n${cluster.logs()}`);
    assert.equal(state, 'done', readFileSync(log, 'utf8').slice(-2000));
    assert.match(readFileSync(log, 'utf8'), /000-seed1: finished/);
  } finally {
    if (jobId) spawnSync(findBinary('scancel')!, [jobId], { env: cluster.env });
    await cluster.stop();
  }
});
