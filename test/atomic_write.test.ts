// writeFileAtomic (src/io/files.ts), the one write of every file a user keeps: checkpoints,
// weights, exports, reports, caches. It must replace the file under its name in one step (a
// temporary file renamed over it), so that a reader, or a crash, sees the old file or the whole
// new one. Both are observed here: the old file keeps its bytes under a second name (a write
// into it would change them), and a write that fails part way (a full disk, imitated with
// `ulimit -f`) leaves the old file as it was and no temporary file behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../src/io/files.js';

const FILES = new URL('../src/io/files.js', import.meta.url).href;

test('writeFileAtomic replaces the file (a new inode): the old one is never written into, and no temporary file is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-atomic-'));
  const path = join(dir, 'state.json');
  writeFileSync(path, 'the old contents\n');
  linkSync(path, join(dir, 'reader.json')); // what a reader holding the old file sees
  const oldInode = statSync(path).ino;
  await writeFileAtomic(path, 'the new contents, longer than the old\n');
  assert.equal(readFileSync(path, 'utf8'), 'the new contents, longer than the old\n');
  assert.equal(readFileSync(join(dir, 'reader.json'), 'utf8'), 'the old contents\n', 'the old file was written into');
  assert.notEqual(statSync(path).ino, oldInode, 'the file under the name is the old one, rewritten in place');
  assert.deepEqual(readdirSync(dir).sort(), ['reader.json', 'state.json'], 'a temporary file is left');
  // A new file is written whole, in bytes as given.
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 251);
  await writeFileAtomic(join(dir, 'new.bin'), bytes);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'new.bin'))), bytes);
});

test('a write that fails part way (a full disk) leaves the old file whole and no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-atomic-full-'));
  const path = join(dir, 'weights.safetensors');
  const old = Buffer.alloc(100_000, 1);
  writeFileSync(path, old);
  // Files may not grow past 256 KiB and the signal that would kill the process is ignored, so
  // the write of 1 MiB fails with EFBIG, as it would with ENOSPC.
  const program = `import { writeFileAtomic } from ${JSON.stringify(FILES)}; await writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(2 ** 20).fill(2));`;
  const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 256; exec "${process.execPath}" --input-type=module -e '${program}'`], { encoding: 'utf8' });
  assert.notEqual(r.status, 0, 'the write should have failed');
  assert.match(r.stderr, /EFBIG|too large/);
  assert.deepEqual(readFileSync(path), old, 'the old file changed');
  assert.deepEqual(readdirSync(dir), ['weights.safetensors'], 'a temporary file is left');
});
