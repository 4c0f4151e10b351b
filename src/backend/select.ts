// Backend selection for the command line and the library.
import { UsageError } from '../core/errors.js';
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/index.js';

export type BackendChoice = 'cpu' | 'webgpu' | 'auto';

/**
 * `auto` takes WebGPU when an adapter exists, else the CPU, and says which on `notice`.
 * The WebGPU backend is not part of this build yet, so `webgpu` is refused with a clear error.
 */
export async function selectBackend(choice: string, notice: (line: string) => void): Promise<Backend> {
  switch (choice) {
    case 'cpu':
      return new CpuBackend();
    case 'auto':
      notice('backend: no WebGPU backend in this build yet; using the CPU');
      return new CpuBackend();
    case 'webgpu':
      throw new UsageError('--backend webgpu: the WebGPU backend is not part of this build yet; use --backend cpu');
    default:
      throw new UsageError(`--backend: expected cpu, webgpu or auto, found "${choice}"`);
  }
}
