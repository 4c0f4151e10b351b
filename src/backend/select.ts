// Backend selection for the command line and the library.
import { UsageError } from '../core/errors.js';
import { applyPrecision, type Backend, type Precision } from './backend.js';
import { CpuBackend, type CpuOptions } from './cpu/index.js';
import { type AdapterProbe } from './webgpu/index.js';
import type { TileChoice } from './webgpu/gemm.js';
import { createWebGpuBackend, probeAdapter } from './webgpu/dawn.js';

export type BackendChoice = 'cpu' | 'webgpu' | 'auto';

export interface SelectOptions {
  /** The CPU backend's options: its threads and the host that starts them (the command line passes host_node.ts's). */
  cpu?: CpuOptions;
  /** Finds the WebGPU adapter (tests pass their own). */
  probe?: () => Promise<AdapterProbe | null>;
  /** What the GEMMs compute in (default fp32); a device that cannot do mixed says so and runs fp32. */
  precision?: Precision;
  /** WebGPU GEMM tiles: a shape forced for every GEMM (--tiles), or auto (default: ALEXNET_GEMM_TILES, else auto). */
  tiles?: TileChoice;
}

/**
 * `cpu` and `webgpu` are taken as asked (`webgpu` fails clearly where no adapter exists).
 * `auto` takes WebGPU when a hardware adapter exists, else the CPU, and says which once on
 * `notice`. A software adapter (Mesa's llvmpipe, SwiftShader) is passed over by `auto`: it runs
 * the same shaders on the CPU at ~2 GFLOP/s, several times slower than the CPU backend's
 * WebAssembly kernels; `--backend webgpu` still uses it.
 */
export async function selectBackend(choice: string, notice: (line: string) => void, o: SelectOptions = {}): Promise<Backend> {
  const backend = await pickBackend(choice, notice, o);
  applyPrecision(backend, o.precision ?? 'fp32', notice);
  return backend;
}

async function pickBackend(choice: string, notice: (line: string) => void, o: SelectOptions): Promise<Backend> {
  const probe = o.probe ?? probeAdapter;
  switch (choice) {
    case 'cpu':
      return new CpuBackend(o.cpu);
    case 'webgpu': {
      const backend = await createWebGpuBackend({ tiles: o.tiles });
      if (!backend) {
        throw new UsageError(
          '--backend webgpu: no WebGPU adapter found (a GPU with a Vulkan, Metal or D3D12 driver, or Mesa llvmpipe); use --backend cpu',
        );
      }
      return backend;
    }
    case 'auto': {
      let reason: string;
      try {
        const found = await probe();
        if (!found) reason = 'no WebGPU adapter found';
        else if (found.info.fallback) reason = `the only WebGPU adapter, ${found.info.description || found.info.device}, is a software one and slower than the CPU backend; --backend webgpu uses it anyway`;
        else {
          const backend = await createWebGpuBackend({ tiles: o.tiles });
          if (backend) {
            notice(`backend: WebGPU on ${backend.device}`);
            return backend;
          }
          reason = 'no WebGPU adapter found';
        }
      } catch (e) {
        reason = `WebGPU is unavailable: ${(e as Error).message}`;
      }
      notice(`backend: CPU (${reason})`);
      return new CpuBackend(o.cpu);
    }
    default:
      throw new UsageError(`--backend: expected cpu, webgpu or auto, found "${choice}"`);
  }
}

/**
 * `devices` backends of the kind `choice` gives, for data parallelism: the first as
 * selectBackend picks it, the others of the same kind. WebGPU devices are all requested in this
 * process from the adapter Dawn offers (docs/devices.md: one process or one per device).
 */
export async function selectBackends(choice: string, devices: number, notice: (line: string) => void, o: SelectOptions = {}): Promise<Backend[]> {
  const first = await selectBackend(choice, notice, o);
  const backends = [first];
  try {
    while (backends.length < devices) {
      if (first.name === 'cpu') {
        backends.push(new CpuBackend(o.cpu));
        continue;
      }
      const next = await createWebGpuBackend({ tiles: o.tiles }).catch((e: Error) => {
        throw new UsageError(`--devices ${devices}: WebGPU device ${backends.length + 1} could not be opened (${e.message}); lower --devices`);
      });
      if (!next) throw new UsageError(`--devices ${devices}: only ${backends.length} WebGPU device(s) could be opened; lower --devices`);
      next.usePrecision(first.precision);
      backends.push(next);
    }
  } catch (e) {
    for (const b of backends) b.dispose();
    throw e;
  }
  return backends;
}
