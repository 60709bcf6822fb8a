#!/usr/bin/env bash
# After a GPU window: take its results in and keep its unfinished checkpoints for the next one.
#   bash tools/gpu/receive.sh FILES_AT     (the folder the device tool put $OUT's files in)
# The results are checked (schema, accelerator, commit, campaign spec fingerprint) by
# `python -m resnet_keras campaign --ingest` before they land in results/gpu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:?usage: receive.sh FILES_AT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ls "$src"/results.tar.xz.part* >/dev/null 2>&1; then
  cat "$src"/results.tar.xz.part* | xz -d | tar -x -C "$tmp"
  python3 -m resnet_keras campaign --ingest "$tmp/gpu"
fi
if ls "$src"/work.tar.xz.part* >/dev/null 2>&1; then
  rm -rf runs/campaign/paper && mkdir -p runs/campaign
  cat "$src"/work.tar.xz.part* | xz -d | tar -x -C runs/campaign
  echo "unfinished runs kept for the next window: $(ls runs/campaign/paper/*/ 2>/dev/null | wc -l)"
fi
