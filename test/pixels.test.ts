// The stored-image resize that Node and the page share (data/pixels.ts): PIL's antialiased
// bilinear, pinned to PIL itself (Debian's python3-pil, which CI installs with torchvision).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { storedImage, toChannels } from '../src/data/pixels.js';
import { PYTHON, skipUnless } from './helpers.js';

const pil = skipUnless(spawnSync(PYTHON, ['-c', 'import PIL'], { encoding: 'utf8' }).status === 0, 'PIL', 'PIL is not installed (apt-get install python3-pil)');

/** A 37 x 23 image whose bytes any language can compute. */
const W = 37;
const H = 23;
const value = (x: number, y: number, c: number) => ((x * 7 + y * 13 + c * 50 + ((x * y) % 17)) * 5) % 256;

test("storedImage equals PIL's BILINEAR resize of the shorter side and centre crop, within 1 (PIL's fixed point)", { skip: pil }, () => {
  const script = `
from PIL import Image
w, h, side = ${W}, ${H}, 16
im = Image.frombytes('RGB', (w, h), bytes(((x*7 + y*13 + c*50 + (x*y) % 17) * 5) % 256 for y in range(h) for x in range(w) for c in range(3)))
W = round(w * side / h)
left = (W - side) // 2
print(list(im.resize((W, side), Image.BILINEAR).crop((left, 0, left + side, side)).tobytes()))`;
  const run = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const want: number[] = JSON.parse(run.stdout);
  const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => value(Math.floor(i / 3) % W, Math.floor(i / 3 / W), i % 3));
  const got = storedImage(rgb, W, H, 16);
  let worst = 0;
  for (let p = 0; p < 256; p++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[c * 256 + p] - want[p * 3 + c]));
  assert.ok(worst <= 1, `worst difference from PIL: ${worst}`);
});

test('storedImage averages when it shrinks (a checkerboard turns grey) and keeps a flat image flat', () => {
  const board = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => ((Math.floor(i / 3) % 16) + Math.floor(i / 48)) % 2 ? 255 : 0);
  const small = storedImage(board, 16, 16, 4);
  assert.ok(small.every((v) => Math.abs(v - 127.5) <= 16), `checkerboard at 4 x 4: ${[...small.subarray(0, 16)]}`);
  const flat = storedImage(new Uint8Array(10 * 30 * 3).fill(77), 10, 30, 8);
  assert.ok(flat.every((v) => v === 77));
});

test('toChannels: RGB stays, grey is ITU-R 601 luma', () => {
  const chw = Uint8Array.of(255, 0, 0, 255, 0, 0, 0, 0, 255);
  assert.equal(toChannels(chw, 3, 3), chw);
  assert.deepEqual([...toChannels(chw, 3, 1)], [226, 0, 29]); // (255, 255, 0), black, (0, 0, 255)
});
