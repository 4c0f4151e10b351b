// CPU throughput of inference and training for several architectures, one JSON line each:
//   node dist/bench/cpu.js [--arch mini,paper] [--mode infer,train] [--batch N] [--steps 3] [--threads N]
// (`alexnet bench` measures one configuration on any backend; bench/side_by_side.js puts PyTorch
// beside these figures.) Default batches: 128 for mini inference, 32 otherwise.
import { parseArgs } from 'node:util';
import { nodePoolHost } from '../src/backend/cpu/host_node.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { benchmark } from '../src/cli/bench.js';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'mini,paper' },
    mode: { type: 'string', default: 'infer,train' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(nodePoolHost.cores) },
  },
});

for (const arch of values.arch!.split(',')) {
  for (const mode of values.mode!.split(',') as ('infer' | 'train')[]) {
    const batch = Number(values.batch ?? (arch === 'mini' && mode === 'infer' ? 128 : 32));
    const backend = new CpuBackend({ host: nodePoolHost, threads: Number(values.threads) });
    const result = await benchmark({ arch, batch, mode, backend, steps: Number(values.steps), warmup: 1 });
    backend.dispose();
    console.log(JSON.stringify({ ...result, threads: backend.threads, node: process.version }));
  }
}
