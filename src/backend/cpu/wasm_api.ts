// The little of the WebAssembly JS API the CPU backend uses, typed here because the project
// compiles without the DOM library; the same globals exist in Node, browsers and their workers.

export interface WasmMemory {
  /** An ArrayBuffer, or a SharedArrayBuffer for a shared memory (never detached then). */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module: cheap to instantiate again, and can be posted to workers. */
export type WasmModule = object;

export interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly, or undefined where there is none. */
export const webAssembly = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Bytes in a WebAssembly page. */
export const PAGE = 65536;
