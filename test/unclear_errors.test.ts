// Errors made clear, round 3: each is one whole line on stderr that names the file or the
// option, with the right exit code, said before any work. Damaged or deeply nested JSON
// anywhere it is read; non-finite training that names what went non-finite and the option
// behind it; options that were silently ignored; locks left by a restarted container, another
// host or a directory; sweep specs that tasks could not run; weights whose classes --data names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGpuBackend, probeAdapter } from '../src/backend/webgpu/dawn.js';
import { TILES } from '../src/backend/webgpu/gemm.js';
import { tuneOnFirstUse } from '../src/backend/webgpu/tile_cache.js';
import { FormatError } from '../src/core/errors.js';
import { BUNDLED_FASHION_MNIST } from '../src/data/source.js';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';
import { checkpointDir, latestCheckpoint } from '../src/train/checkpoint.js';
import { NO_WEBGPU, skipUnless } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = realpathSync(mkdtempSync(join(tmpdir(), 'alexnet-unclear-')));
const DATA = `fashion-mnist:${BUNDLED_FASHION_MNIST}`;
const TINY = ['--arch', 'mini', '--data', DATA, '--limit', '120', '--val', '20', '--batch', '50', '--backend', 'cpu', '--no-report', '--json'];

function alexnet(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit `code` and stderr exactly one line: `line`, or one matching it (a RegExp for the whole line). */
function assertLine(r: ReturnType<typeof alexnet>, code: number, line: string | RegExp) {
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 2, `stderr is not one line: ${r.stderr}`);
  if (typeof line === 'string') assert.equal(lines[0], line);
  else assert.match(lines[0], line);
  assert.equal(r.code, code, r.stderr);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

const run = join(dir, 'run');
assert.equal(alexnet(['train', ...TINY, '--epochs', '1', '--out', run]).code, 0);

test('deeply nested or damaged JSON (state.json, latest.json, a cache index, task.json, sweep.json) is one line naming the file', async () => {
  const copy = join(dir, 'nested-state');
  cpSync(run, copy, { recursive: true });
  const state = join(await latestCheckpoint(checkpointDir(copy)), 'state.json');
  writeFileSync(state, `{"config": ${deep(200_000)}}`);
  const nested = (file: string, at: number) => `alexnet: ${file}: JSON nested more than 32 levels deep (at character ${at}), deeper than any file alexnet reads`;
  assertLine(alexnet(['eval', '--checkpoint', copy, '--backend', 'cpu']), 1, nested(state, 42));
  assertLine(alexnet(['train', '--resume', copy, '--epochs', '2', '--backend', 'cpu']), 1, nested(state, 42));

  const pointer = join(checkpointDir(copy), 'latest.json');
  writeFileSync(pointer, '{"checkpoint": "ckpt-0');
  assertLine(alexnet(['eval', '--checkpoint', copy, '--backend', 'cpu']), 1, new RegExp(`^alexnet: ${escape(pointer)}: not valid JSON \\(.+\\)$`));

  const cache = join(dir, 'cache');
  mkdirSync(cache);
  writeFileSync(join(cache, 'index.json'), deep(100));
  assertLine(alexnet(['data', 'inspect', `cache:${cache}`]), 1, nested(join(cache, 'index.json'), 32));

  const spec = join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ train: { arch: 'mini', data: DATA, epochs: 1, backend: 'cpu' }, seeds: [1] }));
  const sweep = join(dir, 'sweep');
  assert.equal(alexnet(['sweep', spec, '--out', sweep]).code, 0);
  const task = join(sweep, 'runs', '000-seed1', 'task.json');
  mkdirSync(join(sweep, 'runs', '000-seed1'), { recursive: true });
  writeFileSync(task, `{"attempt": ${deep(50)}}`);
  assertLine(alexnet(['sweep', 'status', sweep]), 1, nested(task, 43));
  writeFileSync(task, '[1]');
  assertLine(alexnet(['sweep', 'status', sweep]), 1, `alexnet: ${task}: expected a task record (an object with attempt, host, started), written by alexnet sweep task; delete it to start the record anew`);
  writeFileSync(join(sweep, 'sweep.json'), deep(40));
  assertLine(alexnet(['sweep', 'status', sweep]), 1, nested(join(sweep, 'sweep.json'), 32));
});

test('a 40 MB safetensors header is refused by its size, and a deeply nested one before it is parsed', () => {
  const file = (header: string) => {
    const json = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + json.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    return bytes;
  };
  // Before: 40 s and 2 GB of JSON.parse, then an error about a tensor's shape.
  const big = join(dir, 'big.safetensors');
  writeFileSync(big, file(`{"w":{"dtype":"F32","shape":${deep(20 * 2 ** 20)},"data_offsets":[0,0]}}`));
  assertLine(alexnet(['eval', '--arch', 'mini', '--weights', big, '--data', DATA, '--backend', 'cpu']), 1,
    `alexnet: ${big}: header length ${40 * 2 ** 20 + 51} exceeds the ${16 * 2 ** 20}-byte limit`);
  assert.throws(() => parseSafetensors(file(`{"w":{"dtype":"F32","shape":${deep(4 * 2 ** 20)},"data_offsets":[0,0]}}`), 'nested.safetensors'),
    (e: Error) => e instanceof FormatError && e.message === 'nested.safetensors: JSON nested more than 8 levels deep (at character 34), deeper than any file alexnet reads');
});

const gpuSkip = skipUnless((await probeAdapter()) !== null, 'WebGPU', NO_WEBGPU);

test('a deeply nested GEMM tile cache is said in one line and rewritten', { skip: gpuSkip }, async () => {
  const path = join(dir, 'gemm-tiles.json');
  writeFileSync(path, deep(1000));
  const gpu = (await createWebGpuBackend({ autotune: true }))!;
  const net = new Net(gpu, architecture('mini'), 2);
  net.initialize({ scheme: 'he', seed: 4 });
  const notices: string[] = [];
  await tuneOnFirstUse(gpu, async () => (net.forward(2, 'train', 1, 0), net.backward()), { notice: (l) => notices.push(l), path, candidates: [TILES.square] });
  assert.equal(notices[0], `GEMM tile cache ignored: ${path}: JSON nested more than 32 levels deep (at character 32), deeper than any file alexnet reads; it is rewritten after tuning`);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).format, 'alexnet-ts gemm tiles 1');
  gpu.dispose();
});

test('non-finite training names what went non-finite, the likely option, and whether a checkpoint exists', () => {
  const out = (name: string) => join(dir, name);
  // --bias-init beyond float32: the initial weights are infinite; not the rate's fault, and no checkpoint yet.
  assertLine(alexnet(['train', ...TINY, '--epochs', '1', '--bias-init', '1e300', '--out', out('bias')]), 1,
    new RegExp(`^alexnet: loss became NaN at epoch 1, step 1; stopped without applying that step, and no checkpoint was written yet under ${escape(checkpointDir(out('bias')))}: ` +
      'the initial weights are not finite: conv\\d\\.bias holds (\\d+) non-finite values of \\1 \\(Infinity\\): --bias-init 1e\\+300 is beyond float32\'s range \\(about 3\\.4e38\\)$'));
  // A huge input scale: finite weights, the first forward pass overflows.
  assertLine(alexnet(['train', ...TINY, '--epochs', '1', '--input-scale', '1e37', '--out', out('scale')]), 1,
    `alexnet: loss became NaN at epoch 1, step 1; stopped without applying that step, and no checkpoint was written yet under ${checkpointDir(out('scale'))}: ` +
      'the weights are finite, so the first forward pass overflowed: check --input-scale 1e+37');
  // A huge learning rate, after a checkpoint: the update's fault.
  assertLine(alexnet(['train', ...TINY, '--epochs', '3', '--checkpoint-every', '1', '--lr', '1e12', '--lr-schedule', 'constant', '--out', out('rate')]), 1,
    new RegExp(`^alexnet: loss became (NaN|Infinity) at epoch 1, step 2; stopped without applying that step, and the last checkpoint under ${escape(checkpointDir(out('rate')))} is intact: ` +
      `(the weights are finite, but the forward pass overflowed|the last update made a weight non-finite: \\S+ holds \\d+ non-finite values? of \\d+ \\(\\S+\\)): lower the learning rate \\(--lr 1000000000000; this step's rate was 1000000000000\\)$`));
});

test('options that were silently ignored are refused or said: --val with a val split, --momentum outside [0, 1), --resume of a multi-device run', async () => {
  // An ImageNet layout with its own val/ split: --val held nothing out, silently.
  const imagenet = join(dir, 'imagenet');
  for (const split of ['train', 'val']) {
    for (const [k, wnid] of ['n01', 'n02'].entries()) {
      mkdirSync(join(imagenet, split, wnid), { recursive: true });
      for (let i = 0; i < 3; i++) await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90 * k, g: 40 * i, b: 9 } } }).png().toFile(join(imagenet, split, wnid, `${i}.png`));
    }
  }
  const spec = `imagenet:${imagenet}`;
  const val = alexnet(['train', '--arch', 'mini', '--data', spec, '--val', '2', '--batch', '2', '--epochs', '1', '--backend', 'cpu', '--out', join(dir, 'val')]);
  assert.equal(val.stderr.split('\n').at(-2), `alexnet: --val 2: ${spec} has a validation split of its own (6 images), so no training images are held out; leave --val out`);
  assert.equal(val.code, 2);
  assert.equal(val.stdout, '');

  for (const m of ['1', '1.5', '-0.1']) {
    assertLine(alexnet(['train', ...TINY, '--momentum', m, '--out', join(dir, 'm')]), 2, `alexnet: --momentum: expected a number from 0 up to (not including) 1, found "${m}"`);
  }

  const two = join(dir, 'two-devices');
  assert.equal(alexnet(['train', ...TINY, '--epochs', '1', '--devices', '2', '--out', two]).code, 0);
  const resumed = alexnet(['train', '--resume', two, '--epochs', '2', '--no-report', '--backend', 'cpu']);
  assertLine(resumed, 0, 'resuming on 1 device a run that 2 devices trained (--parallel data): it goes on from its checkpoint, ' +
    "but its bits may differ from the 2-device run's; give --devices 2 to continue as it ran");
});

test('locks: PID 1 of a restarted container, another host under a scheduler, and a directory each say how to take the run over', () => {
  const locked = (name: string, lock: object | null) => {
    const copy = join(dir, name);
    cpSync(run, copy, { recursive: true });
    if (lock) writeFileSync(join(copy, 'run.lock'), JSON.stringify(lock));
    else mkdirSync(join(copy, 'run.lock'));
    return copy;
  };
  const resume = (copy: string, env?: NodeJS.ProcessEnv) => alexnet(['train', '--resume', copy, '--epochs', '2', '--no-report', '--backend', 'cpu'], env);
  const since = new Date().toISOString();
  // PID 1 runs here (this machine's init) and started before this lock: it may be the owner, or a reused pid.
  const alive = locked('pid1-now', { pid: 1, host: hostname(), started: since });
  assertLine(resume(alive), 1, `alexnet: ${alive} is in use by training process 1 (since ${since}): wait for it, or stop it first; ` +
    `if process 1 is no alexnet process (process ids are reused), delete ${join(alive, 'run.lock')} to take the run over`);
  // A lock older than the PID 1 that runs now (a restarted container): not its owner, taken over. Before: "stop it first", forever.
  const restarted = locked('pid1-restarted', { pid: 1, host: hostname(), started: '2000-01-01T00:00:00.000Z' });
  assertLine(resume(restarted), 0, `${restarted}: took over the lock of process 1, which no longer runs (process 1 now is another program, started after the lock was taken)`);
  const other = locked('other-host', { pid: 4242, host: 'node-b', started: since });
  assertLine(resume(other, { ...process.env, SLURM_JOB_ID: '9' }), 1, `alexnet: ${other} is in use by process 4242 on host node-b (since ${since}); if that process is gone ` +
    `(under a scheduler: its job has ended, see squeue or kubectl get pods), delete ${join(other, 'run.lock')} to take the run over`);
  // Before: "internal error" (rm of a directory).
  const folder = locked('lock-folder', null);
  assertLine(resume(folder), 1, `alexnet: ${join(folder, 'run.lock')}: is a directory, expected the lock file of the run in ${folder}; remove it if no run uses ${folder}`);
});

test('sweep: an unknown data spec and a seed over 2^32 - 1 are refused at sweep, naming the field', () => {
  const write = (name: string, spec: object) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(spec));
    return path;
  };
  // Before: accepted, and every task failed.
  const unknown = write('unknown.json', { train: { arch: 'mini', data: 'imagenett:/data' }, seeds: [1] });
  assertLine(alexnet(['sweep', unknown, '--out', join(dir, 'u')]), 1,
    `alexnet: ${unknown}: train.data: unknown data spec "imagenett:/data": expected fashion-mnist[:DIR], cifar10:DIR, folder:DIR, imagenet:DIR or cache:DIR`);
  const grid = write('grid-unknown.json', { train: { arch: 'mini' }, grid: { data: [DATA, 'cache'] } });
  assertLine(alexnet(['sweep', grid, '--out', join(dir, 'g')]), 1, `alexnet: ${grid}: grid.data[1]: data spec "cache" names no directory: expected cache:DIR`);
  // Before: 4294967297 wrapped to 1, the same run as seed 1.
  const seeds = write('seeds.json', { train: { arch: 'mini', data: DATA }, seeds: [1, 4294967297] });
  assertLine(alexnet(['sweep', seeds, '--out', join(dir, 's')]), 1, `alexnet: ${seeds}: seeds[1]: expected an integer from 0 to 4294967295, found 4294967297`);
  assertLine(alexnet(['train', ...TINY, '--seed', '4294967296', '--out', join(dir, 'seed')]), 2, 'alexnet: --seed: expected an integer from 0 to 4294967295, found "4294967296"');
  const path = join(dir, 'line\nbreak');
  assertLine(alexnet(['sweep', write('ok.json', { train: { arch: 'mini', data: DATA }, seeds: [1] }), '--out', path]), 1,
    `alexnet: --out ${JSON.stringify(path)}: a backslash, line break or control character in the sweep directory's path cannot be written in the #SBATCH lines ` +
      "(sbatch would not find the directory or name each run's log); choose a path without one");
});

test('predict --weights of a 1000-class net without --data says the class names come from --data', async () => {
  const weights = join(dir, 'thousand.safetensors');
  const net = new Net(new CpuBackend(), architecture('mini', undefined, 1000), 1);
  net.initialize({ scheme: 'he', seed: 1 });
  writeFileSync(weights, encodeSafetensors(await net.exportTensors()));
  const image = join(dir, 'x.png');
  await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(image);
  // Before: "tensor "fc8.weight": expected shape [10, ...], found [1000, ...]", blaming the weights.
  assertLine(alexnet(['predict', '--arch', 'mini', '--weights', weights, '--backend', 'cpu', image]), 2,
    `alexnet: --weights ${weights}: its mini net has 1000 classes, but the class names come from --data, and fashion-mnist has 10; give --data with the data set these weights were trained on`);
});
