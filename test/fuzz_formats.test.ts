// Mutation fuzzing of the weight-file readers. Valid .pth (zip and legacy), .caffemodel (both
// layouts) and .safetensors bytes are truncated, overwritten with random bytes, given huge
// sizes and counts, and spliced, a few hundred times each with a seeded RNG. Every case must
// parse or throw FormatError (never another error, never a hang), and what a parse returns
// must stay within twice the file's size: the readers check claimed sizes against the bytes
// present before allocating (docs/interop.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../src/core/errors.js';
import { caffeWeights, parseCaffeModel } from '../src/io/caffe.js';
import { ProtoWriter } from '../src/io/protobuf.js';
import { parsePth } from '../src/io/pth.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { CAFFE_LRN } from '../src/nn/architectures.js';
import type { Architecture } from '../src/nn/layers.js';
import { Rng } from '../src/rng/hash.js';

const FIXTURES = new URL('../../test/fixtures/pth/', import.meta.url).pathname;
const CASES = 300;
/** Generous: the files are a few KB and a parse takes well under a millisecond. */
const MAX_PARSE_MS = 1000;

/** A net with one of each layer a Caffe model is checked for, on 1x4x4 inputs. */
const TINY: Architecture = {
  name: 'tiny', input: [1, 4, 4], classes: 3, defaultInit: 'he', inputScale: 1, defaults: { batch: 1, lr: 0.01, schedule: 'constant' },
  layers: [
    { kind: 'conv', name: 'conv1', outChannels: 2, kernel: 3, stride: 1, pad: 1, groups: 1, biasInit: 0 },
    { kind: 'relu' }, { kind: 'lrn', params: CAFFE_LRN }, { kind: 'maxpool', size: 3, stride: 2, rounding: 'ceil' },
    { kind: 'flatten' }, { kind: 'linear', name: 'fc2', outFeatures: 3, biasInit: 0 },
  ],
};

/** TINY as a Caffe model, laid out as caffe.proto says. */
function caffeModel(legacy: boolean): Uint8Array {
  const rng = new Rng(7);
  const blob = (shape: number[]) => {
    const b = new ProtoWriter(); // BlobProto: num 1, channels 2, height 3, width 4, data 5, shape 7
    if (legacy) [1, 1, 1, 1, ...shape].slice(-4).forEach((d, i) => b.varint(i + 1, d));
    else b.message(7, new ProtoWriter().packedVarints(1, shape));
    return b.packedFloats(5, Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal()));
  };
  // name, type, V1 type code, blob shapes, parameter field (LayerParameter, V1), parameter
  const layers: [string, string, number, number[][], [number, number]?, ProtoWriter?][] = [
    ['conv1', 'Convolution', 4, [[2, 1, 3, 3], [2]], [106, 10], new ProtoWriter().varint(1, 2).varint(4, 3).varint(3, 1).varint(5, 1)],
    ['relu1', 'ReLU', 18, []],
    ['norm1', 'LRN', 15, [], [118, 18], new ProtoWriter().varint(1, 5).float(2, 1e-4).float(3, 0.75)],
    ['pool1', 'Pooling', 17, [], [121, 19], new ProtoWriter().varint(2, 3).varint(3, 2)],
    ['fc2', 'InnerProduct', 14, [[3, 8], [3]], [117, 17], new ProtoWriter().varint(1, 3)],
  ];
  const net = new ProtoWriter();
  for (const [name, type, code, shapes, field, param] of layers) {
    const w = legacy ? new ProtoWriter().string(4, name).varint(5, code) : new ProtoWriter().string(1, name).string(2, type);
    for (const shape of shapes) w.message(legacy ? 6 : 7, blob(shape));
    if (field && param) w.message(field[legacy ? 1 : 0], param);
    net.message(legacy ? 2 : 100, w);
  }
  return net.finish();
}

/** One random change: truncate, overwrite bytes, write a huge size or count, or splice. */
function mutate(bytes: Uint8Array, rng: Rng): [string, Uint8Array] {
  const out = new Uint8Array(bytes);
  const at = (width: number) => rng.below(Math.max(1, out.length - width));
  switch (rng.below(4)) {
    case 0: {
      const length = rng.below(bytes.length);
      return [`truncate to ${length}`, bytes.subarray(0, length)];
    }
    case 1: {
      const n = 1 + rng.below(4);
      for (let i = 0; i < n; i++) out[rng.below(out.length)] = rng.below(256);
      return [`overwrite ${n} bytes`, out];
    }
    case 2: {
      // Sizes and counts as the formats spell them: 16/32/64-bit little-endian, varints.
      const huge: number[][] = [[0xff, 0xff], [0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff], [0, 0, 0, 0, 0, 0, 0, 0x40],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x08], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]];
      const value = huge[rng.below(huge.length)];
      const p = at(value.length);
      out.set(value.slice(0, out.length - p), p);
      return [`write ${value.length}-byte huge value at ${p}`, out];
    }
    default: {
      const start = rng.below(bytes.length);
      const end = Math.min(bytes.length, start + 1 + rng.below(64));
      const p = rng.below(bytes.length);
      return [`copy [${start}, ${end}) to ${p}`, Uint8Array.from([...bytes.subarray(0, p), ...bytes.subarray(start, end), ...bytes.subarray(p)])];
    }
  }
}

/** The bytes of the distinct float arrays a parse returned. */
const returnedBytes = (arrays: Float32Array[]) => [...new Set(arrays)].reduce((s, a) => s + a.byteLength, 0);

const FORMATS: [string, Uint8Array, (bytes: Uint8Array) => number][] = [
  ['small_zip.pth', readFileSync(join(FIXTURES, 'small_zip.pth')), (b) => returnedBytes([...parsePth(b, 'f').values()].map((t) => t.data))],
  ['small_legacy.pth', readFileSync(join(FIXTURES, 'small_legacy.pth')), (b) => returnedBytes([...parsePth(b, 'f').values()].map((t) => t.data))],
  ['small.safetensors', readFileSync(join(FIXTURES, 'small.safetensors')), (b) => returnedBytes([...parseSafetensors(b, 'f').tensors.values()].map((t) => t.data))],
  ...[false, true].map((legacy): [string, Uint8Array, (b: Uint8Array) => number] => [
    `${legacy ? 'legacy ' : ''}.caffemodel`,
    caffeModel(legacy),
    (b) => {
      const layers = parseCaffeModel(b, 'f');
      caffeWeights(layers, TINY, 'f'); // the settings check sees the mutated values too
      return returnedBytes(layers.flatMap((l) => l.blobs.map((blob) => blob.data)));
    },
  ]),
];

for (const [name, valid, parse] of FORMATS) {
  test(`${name}: ${CASES} mutations each parse or throw FormatError, within bounded memory and time`, { timeout: 60_000 }, () => {
    assert.doesNotThrow(() => parse(valid), 'the unmutated file parses');
    const rng = new Rng(name.length * 7919);
    const outcomes = { parsed: 0, refused: 0 };
    for (let i = 0; i < CASES; i++) {
      const [what, bytes] = mutate(valid, rng);
      const started = performance.now();
      try {
        const size = parse(bytes);
        outcomes.parsed++;
        assert.ok(size <= 2 * bytes.length, `case ${i} (${what}): returned ${size} bytes from a ${bytes.length}-byte file`);
      } catch (err) {
        if (!(err instanceof FormatError)) assert.fail(`case ${i} (${what}): ${(err as Error).stack}`);
        outcomes.refused++;
      }
      const ms = performance.now() - started;
      assert.ok(ms < MAX_PARSE_MS, `case ${i} (${what}) took ${ms.toFixed(0)} ms`);
    }
    console.log(JSON.stringify({ file: name, ...outcomes }));
  });
}
