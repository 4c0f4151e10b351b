import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FormatError } from '../src/core/errors.js';
import { encodeSafetensors, expectTensor, parseSafetensors, type NamedTensor } from '../src/io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../src/io/files.js';
import { Rng } from '../src/rng/hash.js';

const FILE = 'evil.safetensors';

/** A file with the given header (an object, or raw text) and data section. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Asserts that parsing throws a FormatError naming FILE whose message matches `pattern`. */
function assertFault(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes, FILE),
    (err: unknown) => {
      assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
      assert.equal(err.file, FILE);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

function sample(): NamedTensor[] {
  return [
    { name: 'conv1.weight', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -1e30]) },
    { name: 'conv1.bias', shape: [2], data: Float32Array.from([0.25, -0.75]) },
    { name: 'scalar', shape: [], data: Float32Array.from([42]) },
    { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
  ];
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('round trip', () => {
  test('shapes, values and metadata survive write and read', async () => {
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, sample(), { format: 'pt', note: 'ünïcode' });
    const { tensors, metadata } = await readSafetensors(path);
    assert.deepEqual(metadata, { format: 'pt', note: 'ünïcode' });
    assert.deepEqual([...tensors.keys()].sort(), sample().map((t) => t.name).sort());
    for (const t of sample()) {
      const got = tensors.get(t.name)!;
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual(got.data, t.data);
    }
  });

  test('header is padded to a multiple of 8 and tensors are laid out in order', () => {
    const bytes = encodeSafetensors(sample());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header['conv1.weight'].data_offsets, [0, 24]);
    assert.deepEqual(header['conv1.bias'].data_offsets, [24, 32]);
    assert.deepEqual(header.scalar.data_offsets, [32, 36]);
    assert.equal(header.__metadata__, undefined);
  });

  test('F16, BF16 and F64 are widened to float32', () => {
    // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), +Inf, NaN, -0.
    const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00, 0x8000];
    // BF16: 1, -3, 3.140625.
    const bf16 = [0x3f80, 0xc040, 0x4049];
    const f64 = [Math.PI, -1e300, 0.5];
    const data = new Uint8Array(f16.length * 2 + bf16.length * 2 + f64.length * 8);
    const view = new DataView(data.buffer);
    let at = 0;
    for (const h of [...f16, ...bf16]) {
      view.setUint16(at, h, true);
      at += 2;
    }
    for (const d of f64) {
      view.setFloat64(at, d, true);
      at += 8;
    }
    const bytes = rawFile(
      {
        half: { dtype: 'F16', shape: [7], data_offsets: [0, 14] },
        brain: { dtype: 'BF16', shape: [3], data_offsets: [14, 20] },
        double: { dtype: 'F64', shape: [3, 1], data_offsets: [20, 44] },
      },
      data,
    );
    const { tensors } = parseSafetensors(bytes, FILE);
    assert.deepEqual([...tensors.get('half')!.data], [1, -2, 65504, 2 ** -24, Infinity, NaN, -0]);
    assert.deepEqual([...tensors.get('brain')!.data], [1, -3, 3.140625]);
    assert.deepEqual([...tensors.get('double')!.data], [Math.fround(Math.PI), -Infinity, 0.5]);
    assert.deepEqual(tensors.get('double')!.shape, [3, 1]);
  });
});

describe('hostile files give a FormatError naming the file', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  /** A file with one 8-byte tensor "w" whose header entry has `fields` changed. */
  const w = (fields: object) => rawFile({ w: { ...ok.w, ...fields } }, eight);

  test('shorter than 8 bytes', () => assertFault(new Uint8Array(5), /5 bytes, shorter than the 8-byte/));

  test('header length larger than the file', () => {
    const bytes = rawFile(ok, eight);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 62n, true);
    assertFault(bytes, /header length 4611686018427387904 exceeds/);
  });

  test('invalid JSON', () => assertFault(rawFile('{"w": {', eight), /not valid UTF-8 JSON/));
  test('invalid UTF-8', () => {
    const bytes = rawFile('{"\u00e9": 1}');
    bytes[10] = 0xff;
    assertFault(bytes, /not valid UTF-8 JSON/);
  });
  test('non-object JSON', () => {
    assertFault(rawFile([1, 2]), /must be a JSON object, found \[1,2\]/);
    assertFault(rawFile('null'), /must be a JSON object, found null/);
  });

  test('bad entry types', () => {
    assertFault(rawFile({ w: 3 }), /tensor "w": expected an object with dtype, shape and data_offsets, found 3/);
    const noDtype = rawFile({ w: { shape: [], data_offsets: [0, 0] } });
    assertFault(noDtype, /tensor "w": dtype must be a string, found nothing \(field missing\)/);
    assertFault(w({ dtype: 4 }), /tensor "w": dtype must be a string/);
    assertFault(w({ shape: 'x' }), /tensor "w": shape must be an array/);
    assertFault(w({ data_offsets: [0] }), /tensor "w": data_offsets must be two integers/);
    assertFault(rawFile({ __metadata__: { a: 1 } }), /"__metadata__" entry "a" must be a string/);
  });

  test('unknown dtype', () => {
    assertFault(w({ dtype: 'I64' }), /tensor "w": dtype "I64" is not supported \(expected F32, F64, F16 or BF1/);
    assertFault(w({ dtype: 'toString' }), /dtype "toString" is not supported/);
  });

  test('negative or fractional shape', () => {
    assertFault(w({ shape: [-2] }), /tensor "w": shape\[0\] must be a non-negative integer, found -2/);
    assertFault(w({ shape: [1, 1.5] }), /shape\[1\] must be a non-negative integer, found 1.5/);
    assertFault(w({ shape: [1e300] }), /shape\[0\] must be a non-negative integer/);
  });

  test('offsets out of range', () => {
    assertFault(w({ data_offsets: [-8, 0] }), /must satisfy 0 <= begin <= end/);
    assertFault(w({ data_offsets: [8, 0] }), /must satisfy 0 <= begin <= end/);
    assertFault(
      w({ data_offsets: [0, 100] }),
      /tensor "w": data_offsets \[0, 100\] end beyond the 8-byte data section \(file truncated\?\)/,
    );
  });

  test('size mismatch, including shapes too large to multiply safely', () => {
    const short = rawFile({ w: { ...ok.w, shape: [3] } }, new Uint8Array(16));
    assertFault(short, /span 8 bytes, but shape \[3\] of F32 needs 12/);
    const huge = { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 2 ** 40], data_offsets: [0, 8] };
    assertFault(rawFile({ w: huge }, eight), /needs more than the 8-byte data section/);
  });

  test('overlap', () => {
    const header = { a: ok.w, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    assertFault(rawFile(header, new Uint8Array(12)), /tensor "b": data_offsets \[4, 12\] overlap tensor "a"/);
  });

  test('truncated body', () => {
    const bytes = encodeSafetensors(sample());
    assertFault(bytes.subarray(0, bytes.length - 3), /end beyond the \d+-byte data section \(file truncated\?\)/);
  });

  test('missing file and directory', async () => {
    const missing = join(dir, 'nope.safetensors');
    await assert.rejects(readSafetensors(missing), new FormatError(missing, 'file not found'));
    await assert.rejects(readSafetensors(dir), (err: unknown) => {
      assert.ok(err instanceof FormatError);
      assert.match(err.message, /is a directory/);
      return true;
    });
  });

  test('300 seeded mutations either parse or give a FormatError', () => {
    const valid = encodeSafetensors(sample(), { format: 'pt' });
    const rng = new Rng(20120101);
    let parsed = 0;
    for (let i = 0; i < 300; i++) {
      let bytes = valid.slice();
      const kind = i % 3;
      if (kind === 0) {
        bytes = bytes.slice(0, rng.below(bytes.length + 1));
      } else if (kind === 1) {
        for (let k = 1 + rng.below(8); k > 0; k--) bytes[rng.below(bytes.length)] ^= 1 << rng.below(8);
      } else {
        const length = [2n ** 64n - 1n, 2n ** 63n, BigInt(rng.nextU32()) << 32n, BigInt(rng.nextU32())][rng.below(4)];
        new DataView(bytes.buffer).setBigUint64(0, length, true);
      }
      try {
        parseSafetensors(bytes, FILE);
        parsed++;
      } catch (err) {
        assert.ok(err instanceof FormatError, `mutation ${i}: ${String(err)}`);
        assert.equal(err.file, FILE);
      }
    }
    // Some flips land in tensor values and leave a valid file; most do not.
    assert.ok(parsed > 0 && parsed < 300, `parsed ${parsed} of 300`);
  });
});

describe('writeSafetensors', () => {
  test('replaces the file atomically and leaves no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'w.safetensors');
    await writeFile(path, 'old contents');
    await writeSafetensors(path, sample());
    assert.deepEqual(await readdir(sub), ['w.safetensors']);
    assert.deepEqual(new Uint8Array(await readFile(path)), encodeSafetensors(sample()));
  });

  test('removes the temp file when the rename fails', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const target = join(sub, 'target.safetensors');
    await mkdir(target); // rename cannot replace a directory with a file
    await assert.rejects(writeSafetensors(target, sample()));
    assert.deepEqual(await readdir(sub), ['target.safetensors']);
  });
});

describe('expectTensor', () => {
  const tensors = new Map(sample().map((t) => [t.name, t]));

  test('returns the tensor when the shape matches', () => {
    assert.equal(expectTensor(tensors, 'conv1.bias', [2], FILE), tensors.get('conv1.bias'));
  });

  test('missing tensor', () => {
    assert.throws(
      () => expectTensor(tensors, 'fc6.weight', [4096, 9216], FILE),
      new FormatError(FILE, 'missing tensor "fc6.weight"'),
    );
  });

  test('wrong shape', () => {
    assert.throws(
      () => expectTensor(tensors, 'conv1.weight', [2, 4], FILE),
      new FormatError(FILE, 'tensor "conv1.weight": expected shape [2, 4], found [2, 3]'),
    );
  });
});
