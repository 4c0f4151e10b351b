#!/usr/bin/env bash
# Packs what scripts/device_checks.sh needs on a GPU machine, within the 64 MiB a call carries:
# ../shared/device/pack.sh (node, node_modules, Vulkan loader, torch_bench.py into .device/),
# then node_modules again without the packages only the build and tests use (onnxruntime-node
# alone is 97 MB compressed), and Fashion-MNIST as xz into device-data/ (untracked, not
# ignored, so it travels; delete it afterwards). Run from the repository root after
# `npm ci && npm run build`.
set -euo pipefail
bash ../shared/device/pack.sh > /dev/null
tar -cf - --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/darwin-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/@img' --exclude='node_modules/sharp' \
  --exclude='node_modules/onnxruntime-*' --exclude='node_modules/typescript' --exclude='node_modules/wabt' \
  --exclude='node_modules/@types' --exclude='node_modules/.cache' node_modules | xz -T0 -6 > .device/modules.tar.xz
mkdir -p device-data
for f in /usr/share/datasets/fashion-mnist/*.gz; do
  out="device-data/$(basename "$f" .gz).xz"
  [ -f "$out" ] || zcat "$f" | xz -T0 -9e > "$out"
done
du -sh .device device-data dist
