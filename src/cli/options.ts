// Parsers for command-line option values: each failure names the option and what was expected.
import { Option } from 'commander';
import { nodePoolHost } from '../backend/cpu/host_node.js';
import type { CpuOptions } from '../backend/cpu/index.js';
import { UsageError } from '../core/errors.js';
import { parseTileChoice } from '../backend/webgpu/gemm.js';

/** Said once on stderr (e.g. which backend auto chose): stdout stays for results. */
export const notice = (line: string) => process.stderr.write(`${line}\n`);
export const backendOption = () => new Option('--backend <name>', 'cpu, webgpu or auto').default('auto');
/** One GEMM tile shape for every conv and linear layer on WebGPU, instead of the tuned ones (docs/webgpu.md). */
export const tilesOption = () =>
  new Option('--tiles <shape>', 'WebGPU GEMM tiles for every layer: auto (tuned per layer on first use), skinny, narrow, square, wide, large or BMxBNxBK/TMxTN')
    .argParser((value: string) => {
      try {
        return parseTileChoice(value, '--tiles');
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    });
/** What the GEMMs compute in (docs/precision.md). */
export const precisionOption = () =>
  new Option('--precision <p>', 'fp32, or mixed: float16 GEMM operands with float32 sums (WebGPU with shader-f16; fp32 elsewhere)')
    .argParser(oneOf('--precision', ['fp32', 'mixed'] as const))
    .default('fp32');
/**
 * The CPU backend's threads: all cores unless told (the data loader's thread mostly waits), and
 * never more (each thread holds memory and would only wait for a core: 1000 took 6 GB).
 */
export const threadsOption = () =>
  new Option('--threads <n>', `threads of the CPU backend (1 to ${nodePoolHost.cores})`)
    .argParser((value: string) => {
      const n = positiveInt('--threads')(value);
      if (n > nodePoolHost.cores) throw new UsageError(`--threads ${n}: more than the ${nodePoolHost.cores} cores of this machine; at most ${nodePoolHost.cores}`);
      return n;
    })
    .default(nodePoolHost.cores, `all ${nodePoolHost.cores} cores`);
/** The CPU backend's options from a command's --threads: worker_threads started by Node. */
export const cpuOptions = (o: { threads: number }): CpuOptions => ({ host: nodePoolHost, threads: o.threads, notice });

export function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: expected a positive integer, found "${value}"`);
    return n;
  };
}

export function nonNegativeInt(option: string, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`${option}: expected an integer ${max < Infinity ? `from 0 to ${max}` : '>= 0'}, found "${value}"`);
    return n;
  };
}

export function finiteNumber(option: string, min = -Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min) {
      throw new UsageError(`${option}: expected a number${min > -Infinity ? ` >= ${min}` : ''}, found "${value}"`);
    }
    return n;
  };
}

/** A number in [0, 1), such as a momentum (1 or more never forgets a gradient; the steps grow without bound). */
export function fraction(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(n >= 0 && n < 1)) throw new UsageError(`${option}: expected a number from 0 up to (not including) 1, found "${value}"`);
    return n;
  };
}

/** A finite number > 0 (a factor that 0 would silently erase, such as --input-scale). */
export function positiveNumber(option: string) {
  const finite = finiteNumber(option);
  return (value: string): number => {
    const n = finite(value);
    if (n <= 0) throw new UsageError(`${option}: expected a number > 0, found "${value}"`);
    return n;
  };
}

export function oneOf<T extends string>(option: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!choices.includes(value as T)) throw new UsageError(`${option}: expected one of ${choices.join(', ')}, found "${value}"`);
    return value as T;
  };
}
