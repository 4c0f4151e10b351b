#!/usr/bin/env bash
# The GPU checks that issues 2, 3 and 5 ask for, as one command for a device machine (DESIGN.md
# section 6), inside one call's 10 minutes. Here, first:
#   npm ci && npm run build && bash scripts/pack_device.sh
# (it leaves device-data/, 26 MB of Fashion-MNIST as xz, untracked so that it travels with the
# working tree; delete it afterwards rather than commit it)
# Then one `run` with carry [".device", "dist"] and the command
#   source .device/setup.sh && bash scripts/device_checks.sh
# In order, each part only while time is left of BUDGET_S seconds (default 570):
#   1. adapter info; the GEMM, pooling and LRN parity tests on this GPU;
#   2. paper-net throughput at batch 256 with each GEMM tile setting in TILE_SETTINGS (the first
#      with per-op GPU times);
#   3. the paper net trained on Fashion-MNIST (grey scaled to 256 and replicated, 227 crops) for
#      EPOCHS epochs (default 10) with the fastest setting, TRAIN_FLAGS added, until 100 s before
#      the end; then `alexnet eval` of its newest checkpoint; then PyTorch's throughput on this card;
#   4. bench/mini_sweep.js in SWEEP_SHARDS processes (default 4) until SWEEP_RESERVE_S seconds
#      (default 10) before the end.
# PARTS (default "tests bench train torch sweep") picks which of them run; info always does.
# Results land in $OUT, seven files at most: info.json, tests.tap, bench.jsonl,
# torch_bench.txt, paper_fashion.jsonl, mini_sweep.jsonl and errors.log (every stderr).
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
epochs=${EPOCHS:-10}
deadline=$(($(date +%s) + ${BUDGET_S:-570}))
settings=${TILE_SETTINGS:-auto large}
cli=(node dist/src/cli/main.js)
log=$out/errors.log
step() { echo "== $1 ($(date -u +%T), $((deadline - $(date +%s)))s left)" | tee -a "$log" >&2; }
left() { echo $((deadline - $(date +%s))); }
parts=" ${PARTS:-tests bench train torch sweep} "
want() { [[ $parts == *" $1 "* ]]; }

step info
"${cli[@]}" info --json > "$out/info.json" 2>> "$log"
if want tests; then
  step 'parity tests: GEMM tiles, paper-sized conv, linear, pooling and LRN'
  timeout 120 node --test --test-concurrency=1 --test-name-pattern='tile|GEMMs|paper|LRN|max-pool' dist/test/webgpu_gemm_ops.test.js dist/test/webgpu_ops.test.js > "$out/tests.tap" 2>&1
  grep -E '^# (pass|fail)|^not ok' "$out/tests.tap" >&2
fi

profile=--profile
want bench || settings=
for tiles in $settings; do
  step "paper throughput, ours, tiles $tiles"
  ALEXNET_GEMM_TILES=$tiles timeout 60 node dist/bench/webgpu.js --arch paper --batch 256 --mode both --steps 10 --warmup 3 $profile \
    | sed "s|^{|{\"tiles\":\"$tiles\",|" >> "$out/bench.jsonl" 2>> "$log"
  profile=
done
[ -z "$settings" ] || grep -o '"tiles":"[^"]*","arch":"paper","batch":256,"mode":"[a-z]*"\|"img_per_s":[0-9.]*' "$out/bench.jsonl" | paste - - >&2

data=/tmp/fashion-mnist
if [ -d device-data ]; then
  mkdir -p "$data"
  for f in device-data/*.xz; do xz -dc "$f" > "$data/$(basename "$f" .xz)"; done
  best=auto
  [ -s "$out/bench.jsonl" ] && best=$(node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.mode === "train");
    rows.sort((a, b) => b.img_per_s - a.img_per_s);
    console.log(rows.length ? rows[0].tiles : "auto");' "$out/bench.jsonl")
  if want train; then
    step "paper net on Fashion-MNIST, $epochs epochs, tiles $best"
    # shellcheck disable=SC2086
    ALEXNET_GEMM_TILES=$best timeout "$(($(left) - 100))" "${cli[@]}" train --arch paper --data "fashion-mnist:$data" --epochs "$epochs" \
      --backend webgpu --json --no-report --out /tmp/paper-fashion ${TRAIN_FLAGS:-} > "$out/paper_fashion.jsonl" 2>> "$log"
    echo "train rc $?" | tee -a "$log" >&2
    grep -v '"step"' "$out/paper_fashion.jsonl" | tail -13 >&2
    step 'alexnet eval of the checkpoint'
    ALEXNET_GEMM_TILES=$best timeout 60 "${cli[@]}" eval --arch paper --checkpoint /tmp/paper-fashion --data "fashion-mnist:$data" \
      --backend webgpu --batch 128 --json | sed 's|^{|{"event":"eval",|' | tee -a "$out/paper_fashion.jsonl" >&2
  fi

  if want torch; then
    step 'paper throughput, PyTorch'
    TB_MODELS=paper TB_MODES=fp32 TB_BATCHES=256 timeout "$(($(left) > 95 ? 90 : $(left) - 5))" python3 .device/torch_bench.py 60 > "$out/torch_bench.txt" 2>&1
    grep '"model"' "$out/torch_bench.txt" >&2
  fi

  if want sweep && [ "$(left)" -gt 40 ]; then
    until=$((deadline - ${SWEEP_RESERVE_S:-10}))
    shards=${SWEEP_SHARDS:-4}
    step "mini sweep, $shards shards"
    for ((i = 0; i < shards; i++)); do
      timeout "$((until - $(date +%s)))" node dist/bench/mini_sweep.js --data "fashion-mnist:$data" --shard "$i/$shards" --until "$until" \
        >> "$out/mini_sweep.jsonl" 2>> "$log" &
    done
    wait
    grep -c '"test_top1"' "$out/mini_sweep.jsonl" >&2
  fi
fi
step done
