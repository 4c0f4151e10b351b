// PyTorch .pth files: committed fixtures from scripts/make_pth_fixtures.py (zip and legacy
// formats; float32/64/16 and bfloat16; a transposed tensor, a slice at a storage offset, one
// tensor under two names; a DataParallel checkpoint), pickles that would run code refused
// before anything runs, and a full torchvision AlexNet saved by PyTorch at test time (where
// Debian's PyTorch is installed) run through `alexnet forward --weights X.pth`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../src/core/errors.js';
import { unpickle, type UnpickleOptions } from '../src/io/pickle.js';
import { parsePth } from '../src/io/pth.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/files.js';
import { PYTHON, torchSkip } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/pth');
const MAIN = join(ROOT, 'dist/src/cli/main.js');

const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const expected = (name: string) => parseSafetensors(fixture(name), name).tensors;

function alexnet(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const file of ['small_zip.pth', 'small_legacy.pth']) {
  test(`${file}: every dtype, strided and offset views, shared storage`, () => {
    const got = parsePth(fixture(file), file);
    const want = expected('small.safetensors');
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [name, w] of want) {
      const g = got.get(name)!;
      assert.deepEqual(g.shape, w.shape, name);
      assert.deepEqual(Array.from(g.data), Array.from(w.data), name);
    }
    assert.deepEqual(got.get('transposed')!.shape, [4, 3]);
    assert.equal(got.get('tied.a')!.data, got.get('tied.b')!.data, 'one tensor under two names is decoded once');
  });
}

test('a checkpoint dict: its "state_dict" entry, with DataParallel\'s "module." prefix removed', () => {
  const got = parsePth(fixture('checkpoint.pth'), 'checkpoint.pth');
  const want = expected('checkpoint.safetensors');
  assert.deepEqual([...got.keys()], ['conv.weight', 'conv.bias']);
  for (const [name, w] of want) assert.deepEqual(Array.from(got.get(name)!.data), Array.from(w.data));
});

test('a .pth whose pickle calls os.system is refused at that GLOBAL, naming it', () => {
  assert.throws(() => parsePth(fixture('evil_global.pth'), 'evil.pth'), (err: Error) => {
    assert.ok(err instanceof FormatError, String(err));
    assert.match(err.message, /^evil\.pth: pickle at byte \d+: global posix\.system is not on the allow-list/);
    return true;
  });
});

test('pickles with disallowed opcodes, globals or calls are refused', () => {
  const options: UnpickleOptions = {
    globals: new Map([['torch.FloatStorage', { name: 'torch.FloatStorage' }]]),
    persistentLoad: (_, fail) => fail('no storages here'),
  };
  const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
  const cases: [string, number[], RegExp][] = [
    ['INST (protocol 0 call)', [0x80, 2, ...ascii('ios\nsystem\n'), 0x2e], /opcode 0x69 \('i'\) is not supported/],
    ['STACK_GLOBAL of builtins.eval', [0x80, 4, 0x8c, 8, ...ascii('builtins'), 0x8c, 4, ...ascii('eval'), 0x93, 0x2e], /global builtins\.eval is not on the allow-list/],
    ['REDUCE on a storage type', [0x80, 2, ...ascii('ctorch\nFloatStorage\n'), 0x29, 0x52, 0x2e], /REDUCE on global torch\.FloatStorage, which is not callable/],
    ['BUILD on a list', [0x80, 2, 0x5d, 0x7d, 0x62, 0x2e], /BUILD on list of 0 is not supported/],
    ['APPEND to a tuple', [0x80, 2, 0x29, 0x4e, 0x61, 0x2e], /APPEND\(S\) on tuple of 0, expected a list/],
    ['BINGET of an unset memo slot', [0x80, 2, 0x68, 7, 0x2e], /memo entry 7 was never stored/],
    ['a string longer than the file', [0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e], /needs 2147483647 bytes, only 1 left/],
    ['no STOP', [0x80, 2, 0x4e], /needs 1 bytes, only 0 left/],
  ];
  for (const [what, bytes, fault] of cases) {
    assert.throws(() => unpickle(Uint8Array.from(bytes), 0, 'p.pkl', options), (err: Error) => {
      assert.ok(err instanceof FormatError, `${what}: ${err}`);
      assert.match(err.message, fault, what);
      return true;
    });
  }
});

const skip = torchSkip();

test('a torchvision AlexNet saved by torch.save runs in `alexnet forward` within 1e-4 of PyTorch, and imports', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-pth-'));
  const made = spawnSync(PYTHON, [join(ROOT, 'scripts/make_pth_fixtures.py'), 'torchvision', dir], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const pth = join(dir, 'alexnet.pth');
  const out = join(dir, 'y.safetensors');
  const r = alexnet('forward', '--arch', 'torchvision', '--weights', pth, '--input', join(dir, 'input.safetensors'), '--output', out, '--backend', 'cpu');
  assert.equal(r.code, 0, r.stderr);
  const ours = (await readSafetensors(out)).tensors.get('logits')!.data;
  const want = (await readSafetensors(join(dir, 'logits.safetensors'))).tensors.get('logits')!.data;
  let diff = 0;
  let scale = 0;
  want.forEach((w, i) => {
    diff = Math.max(diff, Math.abs(ours[i] - w));
    scale = Math.max(scale, Math.abs(w));
  });
  assert.ok(diff / scale <= 1e-4, `max |diff| / max |logit| = ${diff / scale}`);
  console.log(JSON.stringify({ torchvision_pth_max_rel_err: diff / scale }));

  const imported = join(dir, 'w.safetensors');
  const i = alexnet('import', '--from', 'torchvision', pth, '--out', imported);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /wrote torchvision \(16 tensors, 61,100,840 parameters\)/);
  const direct = parsePth(readFileSync(pth), pth);
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  for (const [name, t] of (await readSafetensors(imported)).tensors) {
    assert.ok(bytes(t.data).equals(bytes(direct.get(name)!.data)), name);
  }

  const wrong = alexnet('import', '--from', 'caffe', pth, '--out', imported);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr.trim(), /^alexnet: .*alexnet\.pth: --from caffe expects a \.caffemodel file, found pth$/);
});
