// The run directory is the user's: a resumed copy never writes to its origin, a new run never
// starts over an existing one (nor deletes it), two processes never write one run, and an
// --out that cannot hold a run fails before any training.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { checkpointDir, latestCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { LOCK_FILE } from '../src/train/run_dir.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'alexnet-rundir-'));
// Two steps an epoch on 100 bundled images: each run takes about a second.
const TINY = ['--arch', 'mini', '--data', `fashion-mnist:${BUNDLED_FASHION_MNIST}`, '--limit', '120', '--val', '20', '--batch', '50',
  '--backend', 'cpu', '--no-report', '--json'];

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The directory listing of a run's checkpoints and its pointer's text: what must not change. */
function snapshot(run: string) {
  const dir = checkpointDir(run);
  return { entries: readdirSync(dir).sort(), pointer: readFileSync(join(dir, 'latest.json'), 'utf8') };
}

async function newestStep(run: string): Promise<number> {
  return (await loadCheckpoint(await latestCheckpoint(checkpointDir(run)))).state.step;
}

test('--resume of a copied run writes into the copy, and --resume X --out Y into Y; the origin is untouched', async () => {
  const origin = join(root, 'origin');
  assert.equal(alexnet('train', ...TINY, '--epochs', '1', '--out', origin).code, 0);
  const before = snapshot(origin);
  const copy = join(root, 'copy');
  cpSync(origin, copy, { recursive: true });

  const resumed = alexnet('train', '--resume', copy, '--epochs', '2', '--no-report', '--backend', 'cpu');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(snapshot(origin), before, 'the original run changed');
  assert.equal(await newestStep(copy), 4);

  const forked = join(root, 'forked');
  const r = alexnet('train', '--resume', origin, '--out', forked, '--epochs', '2', '--no-report', '--backend', 'cpu');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(snapshot(origin), before, 'the resumed run changed');
  assert.equal(await newestStep(forked), 4);
  assert.equal(JSON.parse(readFileSync(join(await latestCheckpoint(checkpointDir(forked)), 'state.json'), 'utf8')).config.out, forked);
});

test('train --out on an existing run refuses, naming --resume and --force; --force moves the old checkpoints aside', async () => {
  const run = join(root, 'existing');
  assert.equal(alexnet('train', ...TINY, '--epochs', '1', '--out', run).code, 0);
  const before = snapshot(run);
  const again = alexnet('train', ...TINY, '--epochs', '1', '--seed', '5', '--out', run);
  assert.equal(again.code, 1);
  assert.equal(again.stdout, '', 'nothing should have started');
  assert.match(again.stderr.trim(), /^alexnet: .*existing already holds a run \(a checkpoint at step 2\): continue it with --resume .* or start a new run there with --force/);
  assert.deepEqual(snapshot(run), before);
  assert.ok(!existsSync(join(run, LOCK_FILE)), 'the refused run left its lock behind');

  const forced = alexnet('train', ...TINY, '--epochs', '1', '--seed', '5', '--out', run, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.doesNotMatch(forced.stderr, /took over the lock/, 'a lock was left for --force to take over');
  assert.match(forced.stderr, /--force: the earlier run's checkpoints in .* were moved to .*checkpoints\.replaced-/);
  const aside = readdirSync(run).find((n) => n.startsWith('checkpoints.replaced-'))!;
  assert.deepEqual(readdirSync(join(run, aside)).sort(), before.entries, 'the old checkpoints were kept');
});

test('checkpoint folders without latest.json (a first checkpoint cut short) are a run: a fresh train refuses and keeps them', () => {
  const run = join(root, 'no-pointer');
  assert.equal(alexnet('train', ...TINY, '--epochs', '1', '--out', run).code, 0);
  const dir = checkpointDir(run);
  rmSync(join(dir, 'latest.json'));
  const folders = readdirSync(dir).sort();
  assert.ok(folders.length > 0 && folders.every((f) => f.startsWith('ckpt-')), folders.join(' '));
  const states = folders.map((f) => readFileSync(join(dir, f, 'state.json'), 'utf8'));
  const again = alexnet('train', ...TINY, '--epochs', '1', '--seed', '5', '--out', run);
  assert.equal(again.code, 1, again.stderr);
  assert.equal(again.stdout, '', 'nothing should have started');
  const count = `${folders.length} checkpoint folder${folders.length > 1 ? 's' : ''}`;
  assert.match(again.stderr.trim(), new RegExp(`^alexnet: .*no-pointer already holds a run \\(${count}\\): continue it with --resume .* or start a new run there with --force`));
  assert.deepEqual(readdirSync(dir).sort(), folders);
  folders.forEach((f, i) => assert.equal(readFileSync(join(dir, f, 'state.json'), 'utf8'), states[i], `${f} was replaced`));
  assert.ok(!existsSync(join(run, LOCK_FILE)), 'the refused run left its lock behind');
});

test('a second train on a locked run directory is refused; a dead owner\'s lock is taken over and said', async () => {
  const run = join(root, 'locked');
  // A run long enough to be caught holding its lock.
  const first = spawn(process.execPath, [MAIN, 'train', ...TINY, '--epochs', '500', '--out', run]);
  const lock = join(run, LOCK_FILE);
  // Caught after its first epoch's checkpoint, so that there is a run to resume.
  await new Promise<void>((resolve) => createInterface({ input: first.stdout }).on('line', (line) => JSON.parse(line).event === 'epoch' && resolve()));
  assert.ok(existsSync(lock), 'the running trainer holds a lock file');
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).pid, first.pid);

  const second = alexnet('train', '--resume', run, '--epochs', '501', '--no-report', '--backend', 'cpu');
  assert.equal(second.code, 1);
  assert.match(second.stderr.trim(), new RegExp(`^alexnet: .*locked is in use by training process ${first.pid} \\(since .*\\): wait for it, or stop it first; if process ${first.pid} is no alexnet process \\(process ids are reused\\), delete .*run\\.lock to take the run over$`));

  first.kill('SIGKILL');
  await new Promise((resolve) => first.on('exit', resolve));
  assert.ok(existsSync(lock), 'a killed process leaves its lock behind');
  const third = alexnet('train', '--resume', run, '--epochs', String((await newestStep(run)) / 2 + 1), '--no-report', '--backend', 'cpu');
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, new RegExp(`took over the lock of process ${first.pid}, which no longer runs`));
  assert.ok(!existsSync(lock), 'the lock is released at the end');
});

test('an --out that is a file, or under a file, fails in one line before training starts', () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'not a directory');
  const onFile = alexnet('train', ...TINY, '--epochs', '1', '--out', file);
  assert.equal(onFile.code, 1);
  assert.equal(onFile.stdout, '');
  assert.equal(onFile.stderr.trim(), `alexnet: --out ${file}: is a file, expected a directory for the run`);
  const under = alexnet('train', ...TINY, '--epochs', '1', '--out', join(file, 'run'));
  assert.equal(under.code, 1);
  assert.equal(under.stdout, '');
  assert.match(under.stderr.trim(), /^alexnet: --out .*a-file\/run: .*\/a-file is a file, expected a folder$/);
});
