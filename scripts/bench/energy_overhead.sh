#!/usr/bin/env bash
# Energy measurement and accounting overhead as a share of training step time (target ≤ 1%).
# Measures a real step time (the Fashion-MNIST MLP, batch 256, 1 rank, from summary.json), then
# joule-bench energy times a meter read, a phase mark and a closed window on this machine and
# prints the overhead per step: 6 phase marks per step (data, forward, backward, comm_wait,
# optimizer, the step boundary) + one window (energy.window_s = 2 s) spread over its steps.
#   scripts/bench/energy_overhead.sh [--batch N]
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=256
while (($#)); do
  case "$1" in
    --batch) batch="$2"; shift 2 ;;
    *) echo "usage: $0 [--batch N]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build/bin/joule-train --config examples/configs/fashion_mlp.pbtxt --output "$out" --set run.name=overhead \
  --set train.batch_size="$batch" --set train.max_steps=200 --set train.epochs=100 >/dev/null 2>&1
step_ms=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['steps']==200, s; \
print(1000 * $batch / s['samples_per_s'])" "$out/overhead/summary.json")
echo "# $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p'); MLP batch $batch, measured step ${step_ms} ms"
build/bin/joule-bench energy --step-ms "$step_ms" --window-s 2 --marks-per-step 6
