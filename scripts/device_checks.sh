#!/usr/bin/env bash
# The GPU checks that issues 3 and 5 ask for, as one command for a device machine (DESIGN.md
# section 6). Here, first:
#   npm ci && npm run build && bash ../shared/device/pack.sh
#   mkdir -p device-data && cp /usr/share/datasets/fashion-mnist/*.gz device-data/
# (30 MB, left untracked and not ignored so that it travels with the working tree; delete it
# afterwards rather than commit it)
# Then one `run` with carry [".device", "dist"] and the command
#   source .device/setup.sh && bash scripts/device_checks.sh
# Results land in $OUT: adapter info, the WebGPU test suites, paper-net throughput (ours with
# per-op GPU times, and PyTorch's on the same card), and the paper net trained on Fashion-MNIST
# (grey scaled to 256 and replicated, 227 crops) for EPOCHS epochs (default 10).
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
epochs=${EPOCHS:-10}
cli=(node dist/src/cli/main.js)
step() { echo "== $1 ($(date -u +%T))" >&2; }

step info
"${cli[@]}" info --json > "$out/info.json" 2> "$out/info.err"
step 'webgpu tests'
node --test --test-concurrency=1 dist/test/webgpu_ops.test.js dist/test/webgpu_net.test.js > "$out/webgpu_tests.tap" 2>&1
grep -E '^# (pass|fail)' "$out/webgpu_tests.tap" >&2
step 'paper throughput, ours'
node dist/bench/webgpu.js --arch paper --batch 256 --mode both --profile > "$out/webgpu_bench.jsonl" 2> "$out/webgpu_bench.err"
step 'paper throughput, PyTorch'
TB_MODELS=paper TB_MODES=fp32 python3 .device/torch_bench.py 120 > "$out/torch_bench.json" 2> "$out/torch_bench.err"
if [ -d device-data ]; then
  step "paper net on Fashion-MNIST, $epochs epochs"
  "${cli[@]}" train --arch paper --data fashion-mnist:device-data --epochs "$epochs" --backend webgpu --json \
    --no-report --out /tmp/paper-fashion > "$out/paper_fashion.jsonl" 2> "$out/paper_fashion.err"
  tail -1 "$out/paper_fashion.jsonl" >&2
fi
step done
