import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError, FormatError } from '../src/core/errors.js';
import { FASHION_MNIST_CLASSES } from '../src/data/fashion_mnist.js';
import { FASHION_MNIST_DIR, loadFashionMnist, readIdx } from '../src/data/source.js';
import { parseIdx } from '../src/data/idx.js';

const FILE = 'evil-idx3-ubyte';

/** An unsigned-byte IDX file with the given dims and body. */
function idx(dims: number[], body: Uint8Array | number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + body.length);
  const view = new DataView(out.buffer);
  out.set([0, 0, 0x08, dims.length]);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(body, 4 + 4 * dims.length);
  return out;
}

function assertFault(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseIdx(bytes, FILE),
    (err: unknown) => {
      assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
      assert.equal(err.file, FILE);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idx-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseIdx', () => {
  test('valid file', () => {
    const { dims, data } = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 255]), FILE);
    assert.deepEqual(dims, [2, 3]);
    assert.deepEqual([...data], [1, 2, 3, 4, 5, 255]);
  });

  test('bad magic', () => assertFault(new Uint8Array([0x1f, 0x8b, 8, 1, 0, 0, 0, 0]), /bad magic 0x1f 0x8b/));
  test('too short', () => assertFault(new Uint8Array([0, 0]), /2 bytes, too short/));

  test('wrong type byte', () => {
    const bytes = idx([1], [0]);
    bytes[2] = 0x0d;
    assertFault(bytes, /data type 0x0d is not supported: expected 0x08/);
  });

  test('dimension count out of range', () => {
    assertFault(new Uint8Array([0, 0, 8, 0]), /0 dimensions: expected 1 to 4/);
    assertFault(idx([1, 1, 1, 1, 1], [0]), /5 dimensions: expected 1 to 4/);
    const shortHeader = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 1]);
    assertFault(shortHeader, /truncated header: 2 dimensions need 12 header bytes, file has 8/);
  });

  test('truncated', () => {
    assertFault(idx([2, 3], [1, 2, 3, 4]), /truncated: header promises 6 bytes of data \(dims \[2, 3\]\), file has 4/);
    assertFault(idx([0xffffffff, 0xffffffff], [1]), /truncated: header promises \S+ bytes of data/);
  });

  test('extra bytes', () => assertFault(idx([2], [1, 2, 3]), /1 extra bytes after the 2 bytes of data/));
});

describe('readIdx', () => {
  const body = idx([3, 2], [9, 8, 7, 6, 5, 4]);

  test('plain, gzipped, and gzipped without a .gz name', async () => {
    const plain = join(dir, 'plain-idx2-ubyte');
    const gz = join(dir, 'packed-idx2-ubyte.gz');
    const sneaky = join(dir, 'sneaky-idx2-ubyte');
    await writeFile(plain, body);
    await writeFile(gz, gzipSync(body));
    await writeFile(sneaky, gzipSync(body));
    for (const path of [plain, gz, sneaky]) {
      const { dims, data } = await readIdx(path);
      assert.deepEqual(dims, [3, 2]);
      assert.deepEqual([...data], [9, 8, 7, 6, 5, 4]);
    }
  });

  test('corrupt gzip names the file', async () => {
    const packed = gzipSync(body);
    const truncated = join(dir, 'truncated.gz');
    const garbage = join(dir, 'garbage.gz');
    await writeFile(truncated, packed.subarray(0, packed.length - 6));
    await writeFile(garbage, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]));
    for (const path of [truncated, garbage]) {
      await assert.rejects(readIdx(path), (err: unknown) => {
        assert.ok(err instanceof FormatError, String(err));
        assert.equal(err.file, path);
        assert.match(err.message, /corrupt gzip stream/);
        return true;
      });
    }
  });

  test('a gzip bomb (1 MB that inflates past 1 GiB) is refused, naming the file', async () => {
    // 17 gzip members of 64 MiB of zeros each: 1,088 MiB once inflated.
    const member = gzipSync(Buffer.alloc(64 * 2 ** 20));
    const bomb = join(dir, 'bomb-idx3-ubyte.gz');
    await writeFile(bomb, Buffer.concat(new Array(17).fill(member)));
    await assert.rejects(readIdx(bomb), (err: unknown) => err instanceof FormatError && err.file === bomb && /decompresses to more than 1073741824 bytes/.test(err.message));
  });

  test('missing file', async () => {
    const missing = join(dir, 'missing-idx1-ubyte.gz');
    await assert.rejects(readIdx(missing), new FormatError(missing, 'file not found'));
  });
});

describe('loadFashionMnist', () => {
  test('a missing directory gives a DataError saying where it looked and how to install', async () => {
    const missing = join(dir, 'no-such-dataset');
    await assert.rejects(loadFashionMnist(missing), (err: unknown) => {
      assert.ok(err instanceof DataError, String(err));
      assert.ok(err.message.includes(missing));
      assert.ok(err.message.includes('apt-get install dataset-fashion-mnist'));
      return true;
    });
  });

  test('small uncompressed fixture, and bad labels name the labels file', async () => {
    const sub = await mkdtemp(join(dir, 'fixture-'));
    const images = (n: number) => idx([n, 28, 28], new Uint8Array(n * 28 * 28).fill(7));
    for (const prefix of ['train', 't10k']) {
      await writeFile(join(sub, `${prefix}-images-idx3-ubyte`), images(3));
      await writeFile(join(sub, `${prefix}-labels-idx1-ubyte`), idx([3], [0, 9, 4]));
    }
    const { train, test: testSet } = await loadFashionMnist(sub);
    for (const set of [train, testSet]) {
      assert.equal(set.count, 3);
      assert.deepEqual([set.channels, set.height, set.width], [1, 28, 28]);
      assert.equal(set.images.length, 3 * 28 * 28);
      assert.deepEqual([...set.labels], [0, 9, 4]);
      assert.deepEqual(set.classes, FASHION_MNIST_CLASSES);
    }

    const labels = join(sub, 't10k-labels-idx1-ubyte');
    await writeFile(labels, idx([3], [0, 10, 4]));
    await assert.rejects(loadFashionMnist(sub), new FormatError(labels, 'label 10 at index 1 is out of range 0..9'));
    await writeFile(labels, idx([2], [0, 1]));
    await assert.rejects(loadFashionMnist(sub), (err: unknown) => {
      assert.ok(err instanceof FormatError && err.file === labels, String(err));
      assert.match(err.message, /2 labels, but .* has 3 images/);
      return true;
    });
  });

  // The real data set, when installed. Under CI it must be installed, so the test never skips.
  const installed = existsSync(FASHION_MNIST_DIR);
  const skip =
    installed || process.env.CI ? false : `${FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)`;
  test('the installed data set has 60000 + 10000 balanced 28x28 images', { skip }, async () => {
    const { train, test: testSet } = await loadFashionMnist();
    for (const [set, count] of [
      [train, 60000],
      [testSet, 10000],
    ] as const) {
      assert.equal(set.count, count);
      assert.deepEqual([set.channels, set.height, set.width], [1, 28, 28]);
      assert.equal(set.images.length, count * 28 * 28);
      assert.equal(set.labels.length, count);
      const perClass = new Array<number>(10).fill(0);
      for (const label of set.labels) perClass[label]++; // an out-of-range label would lengthen the array
      assert.deepEqual(perClass, new Array<number>(10).fill(count / 10));
    }
  });
});
