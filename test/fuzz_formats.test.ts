// Mutation fuzzing of the weight-file readers. Valid .pth (zip and legacy), .caffemodel (both
// layouts) and .safetensors bytes are truncated, overwritten with random bytes, given huge
// sizes and counts, and spliced, a few hundred times each with a seeded RNG. Every case must
// parse or throw a FormatError naming the file (never another error, never a hang), and every
// truncated file must be refused. Memory: the readers check claimed sizes against the bytes
// present before allocating (docs/interop.md). Measured from a collected heap to just after
// each parse, its result alive and nothing collected on purpose in between: the process's
// ArrayBuffer memory (every float array over 64 bytes, and the whole buffer behind a view) may
// grow by at most twice the file's size, and its JS heap (arrays, strings, objects; compiled
// code and garbage count too) by at most 16 MiB, far below what believing one huge claimed
// count would take. The peak resident memory over all cases of a format, which also sees
// temporaries collected mid-parse, may grow by at most 64 MiB.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
/** See the header: JS heap growth in one parse, and the peak's growth over a format's cases. */
const MAX_HEAP_GROWTH = 16 << 20;
const MAX_PEAK_GROWTH = 64 << 20;

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

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** What a parse returns: its float arrays, kept alive while memory is measured. */
type Parse = (bytes: Uint8Array, file: string) => Float32Array[];

const FORMATS: [string, Uint8Array, Parse][] = [
  ['small_zip.pth', readFileSync(join(FIXTURES, 'small_zip.pth')), (b, f) => [...parsePth(b, f).values()].map((t) => t.data)],
  ['small_legacy.pth', readFileSync(join(FIXTURES, 'small_legacy.pth')), (b, f) => [...parsePth(b, f).values()].map((t) => t.data)],
  ['small.safetensors', readFileSync(join(FIXTURES, 'small.safetensors')), (b, f) => [...parseSafetensors(b, f).tensors.values()].map((t) => t.data)],
  ...[false, true].map((legacy): [string, Uint8Array, Parse] => [
    `${legacy ? 'legacy ' : ''}.caffemodel`,
    caffeModel(legacy),
    (b, f) => {
      const layers = parseCaffeModel(b, f);
      caffeWeights(layers, TINY, f); // the settings check sees the mutated values too
      return layers.flatMap((l) => l.blobs.map((blob) => blob.data));
    },
  ]),
];

/** Peak resident memory of the process so far, in bytes. */
const peakRss = () => process.resourceUsage().maxRSS * 1024;

for (const [name, valid, parse] of FORMATS) {
  test(`${name}: ${CASES} mutations each parse or throw a FormatError naming the file, truncations are refused, memory and time bounded`, { timeout: 60_000 }, () => {
    const file = `fuzzed ${name}`;
    assert.doesNotThrow(() => parse(valid, file), 'the unmutated file parses');
    const rng = new Rng(name.length * 7919);
    const outcomes = { parsed: 0, refused: 0, truncations: 0, mostBufferGrowth: 0, mostHeapGrowth: 0 };
    const peakBefore = peakRss();
    for (let i = 0; i < CASES; i++) {
      const [what, bytes] = mutate(valid, rng);
      collect();
      const before = process.memoryUsage();
      const started = performance.now();
      let result: Float32Array[] = [];
      let error: unknown = null;
      try {
        result = parse(bytes, file);
      } catch (err) {
        error = err;
      }
      const after = process.memoryUsage();
      const ms = performance.now() - started;
      if (error === null) outcomes.parsed++;
      else if (error instanceof FormatError) outcomes.refused++;
      else assert.fail(`case ${i} (${what}): ${(error as Error).stack}`);
      if (error instanceof FormatError) assert.ok(error.file === file && error.message.startsWith(`${file}: `), `case ${i} (${what}): the error does not name the file: ${error.message}`);
      if (what.startsWith('truncate')) assert.ok(error !== null, `case ${i} (${what}): a truncated file was accepted`);
      const buffers = after.arrayBuffers - before.arrayBuffers;
      const heap = after.heapUsed - before.heapUsed;
      outcomes.mostBufferGrowth = Math.max(outcomes.mostBufferGrowth, buffers);
      outcomes.mostHeapGrowth = Math.max(outcomes.mostHeapGrowth, heap);
      if (what.startsWith('truncate')) outcomes.truncations++;
      assert.ok(buffers <= 2 * bytes.length, `case ${i} (${what}): ArrayBuffers grew by ${buffers} bytes parsing a ${bytes.length}-byte file (${result.length} arrays returned)`);
      assert.ok(heap <= MAX_HEAP_GROWTH, `case ${i} (${what}): the JS heap grew by ${heap} bytes parsing a ${bytes.length}-byte file`);
      assert.ok(ms < MAX_PARSE_MS, `case ${i} (${what}) took ${ms.toFixed(0)} ms`);
    }
    const peakGrowth = peakRss() - peakBefore;
    console.log(JSON.stringify({ file: name, ...outcomes, peakGrowth }));
    assert.ok(outcomes.truncations >= CASES / 8, `only ${outcomes.truncations} truncations were tried`);
    assert.ok(peakGrowth <= MAX_PEAK_GROWTH, `peak resident memory grew by ${peakGrowth} bytes over ${CASES} parses of ${valid.length}-byte files`);
  });
}
