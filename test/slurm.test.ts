// alexnet sweep on a real (one-node) Slurm cluster, end to end: a 3-seed ensemble of the mini
// net on the bundled Fashion-MNIST subset, submitted as a job array with --submit, followed
// with `sweep status --json` until every run is done, then collected with `eval --ensemble`.
// Prints the members' and the ensemble's test top-1; the ensemble must not fall below the
// worst member (whether it beats the best one is printed, not required: 3 short runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

test('sweep --submit runs a 3-seed mini ensemble as a Slurm job array; eval --ensemble collects it', { skip, timeout: 20 * 60_000 }, async () => {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-slurm-'));
  const cluster = await startSlurmCluster(join(dir, 'cluster'));
  const alexnet = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: cluster.env });
  const out = join(dir, 'sweep');
  let jobId: string | undefined;
  try {
    const spec = join(dir, 'ensemble.json');
    writeFileSync(spec, JSON.stringify({
      train: { arch: 'mini', data: `fashion-mnist:${BUNDLED_FASHION_MNIST}`, epochs: 2, limit: 3000, val: 500, batch: 50, backend: 'cpu', threads: 1, report: false },
      seeds: [1, 2, 3],
      slurm: { 'cpus-per-task': 1, time: '20:00' },
    }));
    const made = alexnet('sweep', spec, '--out', out, '--submit');
    assert.equal(made.status, 0, `${made.stderr}\n${cluster.logs()}`);
    jobId = /submitted Slurm job (\d+)/.exec(made.stdout)?.[1];
    assert.ok(jobId, made.stdout);
    assert.equal(JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).slurm.job_id, jobId);
    console.log(`sweep submitted as Slurm job ${jobId} after ${((Date.now() - started) / 1000).toFixed(1)} s (cluster start included)`);

    // Follow it as a user would, until every run is done or failed (or 10 minutes pass).
    let status: { runs: { name: string; dir: string; state: string; test_top1: number | null; slurm_state?: string; note?: string }[] };
    const seen = new Set<string>();
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const r = alexnet('sweep', 'status', out, '--json');
      assert.equal(r.status, 0, r.stderr);
      status = JSON.parse(r.stdout);
      for (const run of status.runs) seen.add(run.state);
      if (status.runs.every((run) => run.state === 'done' || run.state === 'failed')) break;
      assert.ok(Date.now() < deadline, `the sweep did not finish in 10 minutes: ${r.stdout}\n${cluster.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    const logs = () => status.runs.map((run, i) => `--- ${run.name}\n${readFileSync(join(out, 'logs', `${String(i).padStart(3, '0')}.out`), 'utf8').slice(-2000)}`).join('\n');
    assert.deepEqual(status.runs.map((run) => run.state), ['done', 'done', 'done'], `${JSON.stringify(status.runs)}\n${logs()}`);
    assert.ok(seen.has('running') || seen.has('pending'), `status never saw a run before it finished: ${[...seen]}`);
    assert.deepEqual(status.runs.map((run) => run.name), ['000-seed1', '001-seed2', '002-seed3']);
    const sweepSeconds = (Date.now() - started) / 1000;

    const members = status.runs.map((run) => run.test_top1!);
    for (const top1 of members) assert.ok(top1 > 0.3, `a member reached only ${top1} test top-1`);
    const evaluated = alexnet('eval', '--ensemble', ...status.runs.map((run) => run.dir), '--backend', 'cpu', '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const ensemble = JSON.parse(evaluated.stdout);
    assert.equal(ensemble.models, 3);
    assert.equal(ensemble.n, 1000);
    const best = Math.max(...members);
    const worst = Math.min(...members);
    console.log(
      `members' test top-1 ${members.map((m) => (m * 100).toFixed(2)).join(', ')}%; ensemble ${(ensemble.top1 * 100).toFixed(2)}% ` +
        `(${ensemble.top1 > best ? 'beats' : ensemble.top1 === best ? 'equals' : 'falls short of'} the best member by ${(Math.abs(ensemble.top1 - best) * 100).toFixed(2)} points); ` +
        `sweep ${sweepSeconds.toFixed(1)} s, with eval ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.ok(ensemble.top1 >= worst, `the ensemble (${ensemble.top1}) is worse than its worst member (${worst})`);

    // Submitted again (as after some tasks failed), the finished runs are left as they are.
    const again = alexnet('sweep', 'submit', out);
    assert.equal(again.status, 0, again.stderr);
    const second = /submitted Slurm job (\d+)/.exec(again.stdout)?.[1];
    assert.ok(second && second !== jobId, again.stdout);
    jobId = second;
    for (;;) {
      const s = JSON.parse(alexnet('sweep', 'status', out, '--json').stdout);
      if (s.runs.every((run: { slurm_state?: string }) => run.slurm_state === 'COMPLETED')) {
        assert.deepEqual(s.runs.map((run: { state: string; test_top1: number }) => [run.state, run.test_top1]), status.runs.map((run) => ['done', run.test_top1]));
        break;
      }
      assert.ok(Date.now() < deadline, `the second submission did not finish: ${JSON.stringify(s)}\n${cluster.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    for (let i = 0; i < 3; i++) assert.match(readFileSync(join(out, 'logs', `00${i}.out`), 'utf8'), /already finished \(test top-1/);
  } finally {
    if (jobId) spawnSync(findBinary('scancel')!, [jobId], { env: cluster.env });
    await cluster.stop();
  }
});
