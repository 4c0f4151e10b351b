// `alexnet import` and `alexnet export`: weights in and out of other frameworks' formats.
// Wiring only; the formats live in src/io/. Both check the weights against the architecture
// (names, shapes and, for Caffe, its layer settings) before writing anything.
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { FormatError } from '../core/errors.js';
import { encodeOnnx } from '../io/onnx.js';
import { type NamedTensor } from '../io/safetensors.js';
import { readWeightBytes, readWeights, writeFileAtomic, writeSafetensors } from '../io/files.js';
import { checkOutputFile } from '../io/outputs.js';
import { architectureForWeights, decodeWeights, detectWeightFormat, selectWeights } from '../io/weights.js';
import { ARCHITECTURE_NAMES } from '../nn/architectures.js';
import { oneOf } from './options.js';

/** What each --from source is: its file format and the architecture its weights fit. */
const SOURCES = {
  torchvision: { format: 'pth', arch: 'torchvision' },
  caffe: { format: 'caffemodel', arch: 'caffe' },
} as const;

/** Writes `arch`'s parameters from `tensors` to `out`; returns a one-line summary. */
async function write(archName: string, tensors: Map<string, NamedTensor>, file: string, out: string, format: 'onnx' | 'safetensors'): Promise<string> {
  const arch = architectureForWeights(archName, tensors);
  const weights = selectWeights(arch, tensors, file);
  if (format === 'onnx') await writeFileAtomic(out, encodeOnnx(arch, weights));
  else await writeSafetensors(out, weights, { arch: arch.name, source: basename(file) });
  const parameters = weights.reduce((s, t) => s + t.data.length, 0);
  return `wrote ${arch.name} (${weights.length} tensors, ${parameters.toLocaleString('en-US')} parameters) to ${out}`;
}

export function registerInteropCommands(program: Command): void {
  program
    .command('import')
    .description('convert torchvision (.pth) or Caffe (.caffemodel) weights to .safetensors')
    .argument('<file>', 'the weights to convert')
    .addOption(new Option('--from <source>', 'torchvision or caffe').argParser(oneOf('--from', ['torchvision', 'caffe'] as const)).makeOptionMandatory())
    .option('--arch <name>', `the architecture the weights must fit (${ARCHITECTURE_NAMES.join(', ')}); default: torchvision, or caffe for --from caffe`)
    .requiredOption('--out <file>', '.safetensors to write')
    .action(async (file: string, o: { from: keyof typeof SOURCES; arch?: string; out: string }) => {
      const source = SOURCES[o.from];
      await checkOutputFile('--out', o.out, { inputs: [file] });
      const archName = o.arch ?? source.arch;
      const bytes = await readWeightBytes(file);
      const format = detectWeightFormat(bytes, file);
      if (format !== source.format) throw new FormatError(file, `--from ${o.from} expects a .${source.format} file, found ${format}`);
      console.log(await write(archName, decodeWeights(bytes, file, format, archName), file, o.out, 'safetensors'));
    });

  program
    .command('export')
    .description('write weights (any supported format) as ONNX or safetensors')
    .addOption(new Option('--arch <name>', ARCHITECTURE_NAMES.join(', ')).makeOptionMandatory())
    .requiredOption('--weights <file>', 'weights: .safetensors, .pth/.pt or .caffemodel')
    .addOption(new Option('--format <format>', 'onnx or safetensors').argParser(oneOf('--format', ['onnx', 'safetensors'] as const)).makeOptionMandatory())
    .requiredOption('--out <file>', 'file to write')
    .action(async (o: { arch: string; weights: string; format: 'onnx' | 'safetensors'; out: string }) => {
      await checkOutputFile('--out', o.out, { inputs: [o.weights] });
      console.log(await write(o.arch, await readWeights(o.weights, o.arch), o.weights, o.out, o.format));
    });
}
