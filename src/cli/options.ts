// The command line's shared options. The value parsers are core/values.ts's, which the page uses
// too, so that a bad value gets the same message in both.
import { Option } from 'commander';
import { nodePoolHost } from '../backend/cpu/host_node.js';
import type { CpuOptions } from '../backend/cpu/index.js';
import { UsageError } from '../core/errors.js';
import { oneOf, positiveInt } from '../core/values.js';
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

export { finiteNumber, fraction, nonNegativeInt, oneOf, positiveInt, positiveNumber, seedValue } from '../core/values.js';
