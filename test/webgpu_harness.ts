// What the WebGPU parity tests share: an adapter (and a second device under a 4 KiB binding
// limit, so that every split and chunk path runs on small shapes), the CPU backend they are
// compared with, and the closeness rule.
//
// Closeness: |gpu - cpu| / max(|cpu|, floor) <= 1e-4 for every element, with floor = 1e-2 times
// the largest |cpu| of the tensor: both sides are float32 sums of up to 9216 products in
// different orders, so an element that cancels to near zero is judged against the tensor's
// scale, not its own (the project's PyTorch check divides by the largest |value| throughout).
// The tests run on any adapter, Mesa's llvmpipe included; skipped (with the reason printed) only
// where no adapter exists and CI is unset.
import assert from 'node:assert/strict';
import type { Backend, Tensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { type WebGpuBackend, type WebGpuOptions } from '../src/backend/webgpu/index.js';
import { createWebGpuBackend } from '../src/backend/webgpu/dawn.js';
import { NO_WEBGPU, randomArray, skipUnless, worstRelative } from './helpers.js';

const TOL = 1e-4;

export async function open(options: WebGpuOptions = {}): Promise<WebGpuBackend | null> {
  return createWebGpuBackend(options);
}

export const gpu = await open();
// In CI the suite must run (on llvmpipe at least): a missing adapter is a failure there.
export const skip = skipUnless(gpu !== null, 'WebGPU', NO_WEBGPU);
if (gpu) console.log(`webgpu tests: ${gpu.device}`);
/** The same ops under a 4 KiB binding limit: every split and chunk path on small shapes. */
export const split = gpu ? await open({ limits: { maxStorageBufferBindingSize: 4096 } }) : null;
export const cpu = new CpuBackend();

export function f32(size: number, seed: number, scale = 1): Float32Array {
  return Float32Array.from(randomArray(size, seed, scale));
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Asserts closeness; the message names the worst element. */
export function assertNear(what: string, got: Float32Array, want: Float32Array, tol = TOL): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} vs ${want.length}`);
  const { worst, at } = worstRelative(got, want, Math.max(1e-2 * maxAbs(want), 1e-30));
  assert.ok(worst <= tol, `${what}: worst relative error ${worst.toExponential(3)} at element ${at} (webgpu ${got[at]}, cpu ${want[at]}), tolerance ${tol}`);
  return worst;
}

export type Data = Record<string, Float32Array>;

/**
 * Runs `op` on the CPU and on `be` with the same tensors (inputs and the initial contents of
 * outputs, which are random: overwritten outputs must not depend on them, accumulated ones
 * must add to them) and compares `outputs`.
 */
export async function parity(
  be: Backend,
  what: string,
  data: Data,
  outputs: readonly string[],
  op: (b: Backend, t: Record<string, Tensor>) => void,
  tol = TOL,
): Promise<Record<string, number>> {
  const results: Record<string, Float32Array>[] = [];
  for (const b of [cpu, be]) {
    const t: Record<string, Tensor> = {};
    for (const [name, d] of Object.entries(data)) {
      t[name] = b.allocate(`${what}.${name}`, d.length);
      b.write(t[name], d);
    }
    op(b, t);
    const out: Record<string, Float32Array> = {};
    for (const name of outputs) out[name] = await b.read(t[name]);
    results.push(out);
  }
  const worst: Record<string, number> = {};
  for (const name of outputs) worst[name] = assertNear(`${what} ${name}`, results[1][name], results[0][name], tol);
  return worst;
}
