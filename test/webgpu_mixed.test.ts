// The mixed-precision GEMMs (--precision mixed: float16 operands, float32 products and sums)
// against the CPU's float32 ops, on any adapter with shader-f16 (llvmpipe has it).
//
// The bound is the rounding's own: each operand moves by less than 2^-10 of itself (float16
// keeps 10 fraction bits; below its normal range by less than 2^-24), so an output moves by
// less than about 2^-9 of sum |a| |b| over its terms, and that sum is the same op run on the CPU
// with every input's absolute value. Float32 summation in another order adds K 2^-24 of it.
// The tests also ask that the rounding shows (an fp32 kernel would pass the bound unseen), and
// that a value float16 cannot hold turns the outputs it fed into NaN instead of a finite lie.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, Tensor } from '../src/backend/backend.js';
import { convGeometry, type ConvGeometry } from '../src/core/geometry.js';
import type { LinearShape } from '../src/backend/cpu/linear.js';
import { cpu, f32, open } from './webgpu_harness.js';
import { NO_WEBGPU, skipUnless } from './helpers.js';

const mixed = await open({ precision: 'mixed' });
const hasF16 = mixed?.precision === 'mixed';
const skip = skipUnless(hasF16, 'WebGPU with shader-f16', NO_WEBGPU);

type Data = Record<string, Float32Array>;
type Op = (b: Backend, t: Record<string, Tensor>) => void;

async function run(b: Backend, data: Data, outputs: readonly string[], op: Op): Promise<Record<string, Float32Array>> {
  const t: Record<string, Tensor> = {};
  for (const [name, d] of Object.entries(data)) {
    t[name] = b.allocate(name, d.length);
    b.write(t[name], d);
  }
  op(b, t);
  const out: Record<string, Float32Array> = {};
  for (const name of outputs) out[name] = await b.read(t[name]);
  return out;
}

const abs = (d: Data): Data => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.map(Math.abs)]));
const zeroed = (d: Data, names: readonly string[]): Data => ({ ...d, ...Object.fromEntries(names.map((n) => [n, new Float32Array(d[n].length)])) });

/**
 * Runs `op` mixed on the GPU and in float32 on the CPU, and asserts the bound of the header for
 * each output; returns the largest |error| / bound seen (how much of the bound is used).
 */
async function withinRounding(what: string, K: number, data: Data, outputs: readonly string[], op: Op): Promise<number> {
  const got = await run(mixed!, data, outputs, op);
  const want = await run(cpu, data, outputs, op);
  // sum |a| |b| per output: the op on absolute values, outputs (accumulated into) zeroed, no bias.
  const magnitude = await run(cpu, zeroed(abs(data), [...outputs, 'b']), outputs, op);
  const factor = 2 ** -9 + K * 2 ** -24;
  let used = 0;
  for (const name of outputs) {
    const [g, w, m] = [got[name], want[name], magnitude[name]];
    for (let i = 0; i < w.length; i++) {
      const bound = factor * m[i] + 2 ** -23 * Math.abs(w[i]) + 1e-30; // and the final float32 add
      const err = Math.abs(g[i] - w[i]);
      assert.ok(err <= bound, `${what} ${name}[${i}]: mixed ${g[i]}, fp32 ${w[i]}, |error| ${err.toExponential(3)} over the bound ${bound.toExponential(3)}`);
      used = Math.max(used, err / bound);
    }
  }
  return used;
}

function convData(g: ConvGeometry): Data {
  const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
  const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const ws = (g.outChannels * g.inChannels * g.kernelH * g.kernelW) / g.groups;
  return { x: f32(xs, 1), w: f32(ws, 2, 0.1), b: f32(g.outChannels, 3), y: f32(ys, 4), dy: f32(ys, 5, 1e-3), dx: f32(xs, 6), dw: f32(ws, 7) };
}

const CONVS: [string, ConvGeometry][] = [
  ['odd 3x7x9 -> 5, k3 s1 p1', convGeometry(2, 3, 7, 9, 5, 3, 1, 1, 1, 'odd')],
  ['groups 2, stride 2', convGeometry(2, 4, 11, 10, 6, 3, 2, 1, 2, 'groups')],
  ['split-K (K = 1024)', convGeometry(4, 3, 16, 16, 4, 3, 1, 1, 1, 'splitk')],
  ['paper conv2, batch 1', convGeometry(1, 96, 27, 27, 256, 5, 1, 2, 2, 'conv2')],
];

for (const [name, g] of CONVS) {
  test(`mixed conv ${name}: forward, backward-data and backward-filter within float16 rounding of fp32`, { skip }, async () => {
    const d = convData(g);
    const patch = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
    const used = [
      await withinRounding(`conv2dForward ${name}`, patch, d, ['y'], (b, t) => b.conv2dForward(g, t.x, t.w, t.b, t.y)),
      await withinRounding(`conv2dBackwardData ${name}`, (g.outChannels / g.groups) * g.kernelH * g.kernelW, d, ['dx'], (b, t) => b.conv2dBackwardData(g, t.dy, t.w, t.dx)),
      await withinRounding(`conv2dBackwardFilter ${name}`, g.batch * g.outHeight * g.outWidth, d, ['dw'], (b, t) => b.conv2dBackwardFilter(g, t.x, t.dy, t.dw, null)),
    ];
    // float32 kernels use about 1e-4 of this bound; float16 operands far more.
    for (const u of used) assert.ok(u > 0.01, `${name}: the errors use ${u.toExponential(2)} of the bound: are the operands really float16?`);
  });
}

test('mixed linear forward, backward-data and backward-params (fc-like, 300 x 70 from 500) within float16 rounding', { skip }, async () => {
  const s: LinearShape = { batch: 7, inFeatures: 500, outFeatures: 70 };
  const d: Data = { x: f32(7 * 500, 11), w: f32(70 * 500, 12, 0.05), b: f32(70, 13), y: f32(7 * 70, 14), dy: f32(7 * 70, 15, 1e-3), dx: f32(7 * 500, 16), dw: f32(70 * 500, 17) };
  const used = [
    await withinRounding('linearForward', 500, d, ['y'], (b, t) => b.linearForward(s, t.x, t.w, t.b, t.y)),
    await withinRounding('linearBackwardData', 70, d, ['dx'], (b, t) => b.linearBackwardData(s, t.dy, t.w, t.dx)),
    await withinRounding('linearBackwardParams', 7, d, ['dw'], (b, t) => b.linearBackwardParams(s, t.x, t.dy, t.dw, null)),
  ];
  for (const u of used) assert.ok(u > 0.01, `the errors use ${u.toExponential(2)} of the bound: are the operands really float16?`);
});

test('mixed: an operand over float16 range makes the outputs it fed NaN, and the overflow check sees it', { skip }, async () => {
  const s: LinearShape = { batch: 4, inFeatures: 64, outFeatures: 8 };
  const base: Data = { x: f32(4 * 64, 21), w: f32(8 * 64, 22, 0.1), b: new Float32Array(8), y: new Float32Array(4 * 8), dy: f32(4 * 8, 23), dw: new Float32Array(8 * 64), flag: new Float32Array(1) };
  const forward: Op = (b, t) => b.linearForward(s, t.x, t.w, t.b, t.y);
  // 65,000 still fits float16 (max 65,504): finite outputs. 65,510 does not, though a
  // conversion would round it to 65,504 and give a finite lie; 70,000 and infinity convert to
  // infinity on some hardware: the range check must make each of them NaN.
  for (const [value, finite] of [[65_000, true], [65_510, false], [70_000, false], [Infinity, false]] as const) {
    const x = base.x.slice();
    x[3] = value; // image 0, feature 3: every output of image 0 uses it
    const { y } = await run(mixed!, { ...base, x }, ['y'], forward);
    for (let o = 0; o < 8; o++) {
      if (finite) assert.ok(Number.isFinite(y[o]), `x = ${value}: output ${o} of image 0 is ${y[o]}, expected a finite value`);
      else assert.ok(Number.isNaN(y[o]), `x = ${value}: output ${o} of image 0 is ${y[o]}, expected NaN (an operand over float16's range)`);
    }
  }
  // A gradient too large for float16 (a loss scale too high): the weight gradient is NaN, flagged.
  const dy = base.dy.slice();
  dy[0] = 1e6;
  const { dw, flag } = await run(mixed!, { ...base, dy }, ['dw', 'flag'], (b, t) => {
    b.linearBackwardParams(s, t.x, t.dy, t.dw, t.b);
    b.flagNonFinite(8 * 64, t.dw, t.flag);
  });
  assert.ok(Number.isNaN(dw[0]), `dw[0] (output 0's gradient, fed dy = 1e6) is ${dw[0]}, expected NaN`);
  assert.equal(flag[0], 1);
});

test('usePrecision: mixed where shader-f16 is, fp32 back on request; the CPU stays fp32', { skip }, async () => {
  assert.equal(mixed!.usePrecision('fp32'), 'fp32');
  assert.equal(mixed!.precision, 'fp32');
  assert.equal(mixed!.usePrecision('mixed'), 'mixed');
  assert.equal(cpu.usePrecision('mixed'), 'fp32');
  assert.equal(cpu.precision, 'fp32');
});
