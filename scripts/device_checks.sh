#!/usr/bin/env bash
# The GPU checks of issue 16 (GPU speed, mixed precision), as one command for a device machine
# (DESIGN.md section 6), inside one call's 10 minutes. Here, first:
#   npm ci && npm run build && bash scripts/pack_device.sh
# (it leaves device-data/, 26 MB of Fashion-MNIST as xz, untracked so that it travels with the
# working tree; delete it afterwards rather than commit it)
# Then one `run` with carry [".device", "dist"] and the command
#   source .device/setup.sh && bash scripts/device_checks.sh
# In order, each part only while time is left of BUDGET_S seconds (default 570):
#   1. adapter info (what each --precision computes in, each layer's GEMM tiles);
#   2. tests: the GEMM, pooling and LRN parity tests and every mixed-precision test on this GPU;
#   3. bench: paper-net throughput at batch 256, train and infer, for each precision in
#      PRECISIONS (default "fp32 mixed") and GEMM tile setting in TILE_SETTINGS (default auto),
#      the first with per-op GPU times;
#   4. torch: PyTorch's throughput on this card, TB_MODES (default fp32,bf16);
#   5. train: the paper net on Fashion-MNIST (grey scaled to 256 and replicated, 227 crops), one
#      run per PRECISION:EPOCHS in TRAINS (default "mixed:10"), each with the same seed and
#      TRAIN_FLAGS added, until 30 s before the end, then `alexnet eval` of its checkpoint.
# PARTS (default "tests bench torch train") picks which of them run; info always does.
# Results land in $OUT: info.json, tests.tap, bench.jsonl, torch_bench.txt,
# train-PRECISION-EPOCHS.jsonl per run, and errors.log (every stderr).
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
deadline=$(($(date +%s) + ${BUDGET_S:-570}))
cli=(node dist/src/cli/main.js)
log=$out/errors.log
step() { echo "== $1 ($(date -u +%T), $((deadline - $(date +%s)))s left)" | tee -a "$log" >&2; }
left() { echo $((deadline - $(date +%s))); }
parts=" ${PARTS:-tests bench torch train} "
want() { [[ $parts == *" $1 "* ]]; }

step info
"${cli[@]}" info --json > "$out/info.json" 2>> "$log"
if want tests; then
  step 'parity tests: GEMM tiles, paper-sized layers, pooling, LRN, mixed precision'
  timeout 150 node --test --test-concurrency=1 --test-name-pattern='tile|GEMMs|paper|LRN|max-pool|mixed|usePrecision|overflow' \
    dist/test/webgpu_gemm_ops.test.js dist/test/webgpu_ops.test.js dist/test/webgpu_mixed.test.js > "$out/tests.tap" 2>&1
  grep -E '^# (pass|fail)|^not ok' "$out/tests.tap" >&2
fi

if want bench; then
  profile=--profile
  for precision in ${PRECISIONS:-fp32 mixed}; do
    for tiles in ${TILE_SETTINGS:-auto}; do
      step "paper throughput, ours, $precision, tiles $tiles"
      timeout 90 node dist/bench/webgpu.js --arch paper --batch 256 --mode both --steps 10 --warmup 3 --precision "$precision" --tiles "$tiles" $profile \
        | sed "s|^{|{\"tiles\":\"$tiles\",|" >> "$out/bench.jsonl" 2>> "$log"
      profile=
    done
  done
  grep -o '"tiles":"[^"]*"\|"mode":"[a-z]*"\|"precision":"[a-z0-9]*"\|"img_per_s":[0-9.]*' "$out/bench.jsonl" | paste - - - - >&2
fi

if want torch; then
  step 'paper throughput, PyTorch'
  TB_MODELS=paper TB_MODES=${TB_MODES:-fp32,bf16} TB_BATCHES=256 timeout "$(($(left) > 125 ? 120 : $(left) - 5))" python3 .device/torch_bench.py 60 > "$out/torch_bench.txt" 2>&1
  grep '"model"' "$out/torch_bench.txt" >&2
fi

data=/tmp/fashion-mnist
if want train && [ -d device-data ]; then
  mkdir -p "$data"
  for f in device-data/*.xz; do xz -dc "$f" > "$data/$(basename "$f" .xz)"; done
  for run in ${TRAINS:-mixed:10}; do
    precision=${run%%:*}
    epochs=${run##*:}
    name=train-$precision-$epochs
    step "paper net on Fashion-MNIST, $precision, $epochs epochs"
    # shellcheck disable=SC2086
    timeout "$(($(left) - 30))" "${cli[@]}" train --arch paper --data "fashion-mnist:$data" --epochs "$epochs" --seed 1 \
      --precision "$precision" --backend webgpu --json --no-report --out "/tmp/$name" ${TRAIN_FLAGS:-} > "$out/$name.jsonl" 2>> "$log"
    echo "train rc $?" | tee -a "$log" >&2
    grep -v '"step"' "$out/$name.jsonl" | tail -12 >&2
    step "alexnet eval of $name"
    timeout 25 "${cli[@]}" eval --checkpoint "/tmp/$name" --data "fashion-mnist:$data" --precision "$precision" \
      --backend webgpu --batch 128 --json | sed 's|^{|{"event":"eval",|' | tee -a "$out/$name.jsonl" >&2
  done
fi
step done
