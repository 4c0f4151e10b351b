// The WebAssembly kernels of the fast CPU backend (wasm/*.wat, built by scripts/build-wasm.mjs):
// compiled once per process and variant, instantiated on the backend's memory by every thread of
// its pool. Addresses are byte addresses into that memory; sizes count floats.
import { KERNEL_WASM } from './wasm/kernels.generated.js';
import { decodeBase64, webAssembly, type WasmMemory, type WasmModule } from './wasm_api.js';

type I = number;
export interface Kernels {
  gemm: {
    kernel(mc: I, nc: I, kc: I, a: I, b: I, c: I, ldc: I, add: I): void;
    pack_rows(src: I, ld: I, depth: I, wide: I, W: I, dst: I, pstride: I): void;
    pack_cols(src: I, ld: I, depth: I, wide: I, W: I, dst: I, pstride: I): void;
    tile_out(src: I, lds: I, dst: I, ldd: I, rows: I, cols: I, add: I): void;
  };
  im2col: {
    pad_image(x: I, C: I, H: I, W: I, pad: I, dst: I): void;
    im2col_panels(xp: I, Hp: I, Wp: I, KH: I, KW: I, stride: I, OW: I, k0: I, kc: I, p0: I, pc: I, dst: I, pstride: I, alongPixels: I, rows: I): void;
    col2im(col: I, ldc: I, x: I, C: I, H: I, W: I, KH: I, KW: I, stride: I, pad: I, OH: I, OW: I, zero: I): void;
  };
  eltwise: {
    relu(x: I, y: I, n: I): void;
    relu_backward(y: I, dy: I, dx: I, n: I): void;
    bias_act(c: I, ld: I, rows: I, cols: I, bias: I, perRow: I, relu: I): void;
    bias_grad(dy: I, N: I, O: I, pixels: I, o0: I, o1: I, db: I): void;
    add_parts(src: I, stride: I, parts: I, dst: I, n: I): void;
    dropout(src: I, dst: I, first: I, n: I, seed: I, stream: I, threshold: I, scale: number): void;
    sgd(w: I, g: I, v: I, n: I, lr: number, m: number, wd: number, pytorch: I, gradScale: number): void;
  };
  lrn: {
    lrn_forward(x: I, y: I, C: I, plane: I, n: I, k: number, a: number, before: I, after: I, scratch: I): void;
    lrn_backward(x: I, y: I, dy: I, dx: I, C: I, plane: I, n: I, k: number, a: number, twoABeta: number, before: I, after: I, scratch: I): void;
  };
  maxpool: {
    maxpool_forward(x: I, y: I, planes: I, H: I, W: I, OH: I, OW: I, size: I, stride: I, pad: I): void;
    maxpool_backward(x: I, dy: I, dx: I, planes: I, H: I, W: I, OH: I, OW: I, size: I, stride: I, pad: I): void;
  };
}

export type KernelName = keyof Kernels;
export type KernelModules = Record<KernelName, WasmModule>;

const NAMES = Object.keys(KERNEL_WASM) as KernelName[];
const compiled = new Map<string, KernelModules>();

function bytes(name: KernelName, shared: boolean, relaxed: boolean): Uint8Array {
  const variants: { baseline: string; relaxed?: string } = KERNEL_WASM[name][shared ? 'shared' : 'unshared'];
  return decodeBase64(relaxed && variants.relaxed ? variants.relaxed : variants.baseline);
}

/** Whether this runtime runs WebAssembly SIMD128 (every current browser, Node >= 16). */
export function simdSupported(): boolean {
  return webAssembly !== undefined && webAssembly.validate(bytes('gemm', false, false));
}

/**
 * Whether this runtime validates relaxed SIMD (f32x4.relaxed_madd): Chrome >= 114, Node >= 22;
 * Node 20 with --experimental-wasm-relaxed-simd (host_node.ts sets it).
 */
export function relaxedSimdSupported(): boolean {
  return webAssembly !== undefined && webAssembly.validate(bytes('gemm', false, true));
}

/** The compiled modules of a variant (cached per process). */
export function compileKernels(shared: boolean, relaxed: boolean): KernelModules {
  const key = `${shared}/${relaxed}`;
  let modules = compiled.get(key);
  if (!modules) {
    modules = {} as KernelModules;
    for (const name of NAMES) modules[name] = new webAssembly!.Module(bytes(name, shared, relaxed));
    compiled.set(key, modules);
  }
  return modules;
}

/** This thread's instances of the modules, on `memory`. */
export function instantiateKernels(modules: KernelModules, memory: WasmMemory): Kernels {
  const kernels = {} as Record<KernelName, unknown>;
  for (const name of NAMES) kernels[name] = new webAssembly!.Instance(modules[name], { env: { memory } }).exports;
  return kernels as Kernels;
}
