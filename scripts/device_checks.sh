#!/usr/bin/env bash
# The GPU checks that issues 3 and 5 ask for, as one command for a device machine (DESIGN.md
# section 6), inside one call's 10 minutes. Here, first:
#   npm ci && npm run build && bash scripts/pack_device.sh
# (it leaves device-data/, 26 MB of Fashion-MNIST as xz, untracked so that it travels with the
# working tree; delete it afterwards rather than commit it)
# Then one `run` with carry [".device", "dist"] and the command
#   source .device/setup.sh && bash scripts/device_checks.sh
# Results land in $OUT (at most 8 files come back): adapter info; the GEMM parity tests on this
# GPU; paper-net throughput at batch 256 for each GEMM tile shape (ours, per-op GPU times for
# auto) and PyTorch's on the same card; then the paper net trained on Fashion-MNIST (grey scaled
# to 256 and replicated, 227 crops) for EPOCHS epochs (default 10) with the fastest tile shape,
# for whatever time is left of BUDGET_S seconds (default 570). TRAIN_FLAGS adds training flags.
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
epochs=${EPOCHS:-10}
deadline=$(($(date +%s) + ${BUDGET_S:-570}))
cli=(node dist/src/cli/main.js)
step() { echo "== $1 ($(date -u +%T))" >&2; }

step info
"${cli[@]}" info --json > "$out/info.json" 2>&1
step 'GEMM parity tests'
timeout 60 node --test --test-concurrency=1 --test-name-pattern='tile|GEMMs|conv paper|linear paper' dist/test/webgpu_ops.test.js > "$out/tests.tap" 2>&1
grep -E '^# (pass|fail)|^not ok' "$out/tests.tap" >&2
for tiles in auto square wide large; do
  step "paper throughput, ours, $tiles tiles"
  profile=$([ "$tiles" = auto ] && echo --profile)
  ALEXNET_GEMM_TILES=$tiles timeout 60 node dist/bench/webgpu.js --arch paper --batch 256 --mode both --steps 10 --warmup 3 $profile \
    | sed "s/^{/{\"tiles\":\"$tiles\",/" >> "$out/bench.jsonl" 2>> "$out/bench.err"
done
grep -o '"tiles":"[a-z]*","arch":"paper","batch":256,"mode":"[a-z]*"\|"img_per_s":[0-9.]*' "$out/bench.jsonl" | paste - - >&2
step 'paper throughput, PyTorch'
TB_MODELS=paper TB_MODES=fp32 TB_BATCHES=256 timeout 90 python3 .device/torch_bench.py 60 > "$out/torch_bench.txt" 2>&1
grep '"model"' "$out/torch_bench.txt" >&2
if [ -d device-data ]; then
  best=$(node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.mode === "train");
    rows.sort((a, b) => b.img_per_s - a.img_per_s);
    console.log(rows.length ? rows[0].tiles : "auto");' "$out/bench.jsonl")
  mkdir -p /tmp/fashion-mnist
  for f in device-data/*.xz; do xz -dc "$f" > "/tmp/fashion-mnist/$(basename "$f" .xz)"; done
  left=$((deadline - $(date +%s)))
  step "paper net on Fashion-MNIST, $epochs epochs, $best tiles, ${left}s left"
  # shellcheck disable=SC2086
  ALEXNET_GEMM_TILES=$best timeout "$left" "${cli[@]}" train --arch paper --data fashion-mnist:/tmp/fashion-mnist --epochs "$epochs" \
    --backend webgpu --json --no-report --out /tmp/paper-fashion ${TRAIN_FLAGS:-} > "$out/paper_fashion.jsonl" 2> "$out/paper_fashion.err"
  echo "train rc $?" >&2
  grep -v '"step"' "$out/paper_fashion.jsonl" | tail -12 >&2
fi
step done
