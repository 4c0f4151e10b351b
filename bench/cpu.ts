// CPU throughput of inference and training for several architectures, one JSON line each:
//   node dist/bench/cpu.js [--arch mini,paper] [--mode infer,train] [--batch N] [--steps 3]
// (`alexnet bench` measures one configuration on any backend.)
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { benchmark } from '../src/cli/bench.js';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'mini,paper' },
    mode: { type: 'string', default: 'infer,train' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '3' },
  },
});

for (const arch of values.arch!.split(',')) {
  for (const mode of values.mode!.split(',') as ('infer' | 'train')[]) {
    const batch = Number(values.batch ?? (arch === 'mini' ? 128 : 32));
    const result = await benchmark({ arch, batch, mode, backend: new CpuBackend(), steps: Number(values.steps), warmup: 1 });
    console.log(JSON.stringify({ ...result, threads: availableParallelism(), node: process.version }));
  }
}
