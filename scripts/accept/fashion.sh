#!/usr/bin/env bash
# Acceptance on Fashion-MNIST (not a test: minutes of training). Trains both example configs to their
# targets (MLP >= 88.0%, CNN >= 91.0% test accuracy), trains the MLP a second time with the same
# seed and compares the loss sequences in metrics.jsonl, and prints one table. Exit 1 if any fails.
#   scripts/accept/fashion.sh [--output DIR] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/../.."
output="runs/accept-$(date -u +%Y%m%d-%H%M%S)"
threads=0
while (($#)); do
  case "$1" in
    --output) output="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "usage: $0 [--output DIR] [--threads N]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh >/dev/null

train() {  # CONFIG NAME
  echo "accept: training $1 as $2" >&2
  build/bin/joule-train --config "examples/configs/$1.pbtxt" --output "$output" --set run.name="$2" \
    --set run.threads="$threads" 2>&1 | grep -v '^\[' >&2
}
train fashion_mlp mlp-a
train fashion_mlp mlp-b
train fashion_cnn cnn

python3 - "$output" <<'PY'
import json, sys
out = sys.argv[1]
def losses(run):
    return [json.loads(l)["loss"] for l in open(f"{out}/{run}/metrics.jsonl") if '"kind":"train"' in l]
def summary(run):
    return json.load(open(f"{out}/{run}/summary.json"))
same = losses("mlp-a") == losses("mlp-b") and len(losses("mlp-a")) > 0
rows, ok = [], same
print(f"{'config':<12} {'target':>7} {'final':>7} {'best':>7} {'pass':>5} {'steps':>6} {'seconds':>8} {'samples/s':>10} {'energy_J':>9} {'source':>9}")
for run, config, target in [("mlp-a", "fashion_mlp", 0.88), ("cnn", "fashion_cnn", 0.91)]:
    s = summary(run)
    passed = s["final_accuracy"] >= target
    ok = ok and passed
    print(f"{config:<12} {target:>7.3f} {s['final_accuracy']:>7.4f} {s['best_accuracy']:>7.4f} {'yes' if passed else 'NO':>5} "
          f"{s['steps']:>6} {s['seconds']:>8.1f} {s['samples_per_s']:>10.0f} {s['energy_j']:>9.0f} {s['sources'][0]:>9}")
print(f"same seed, identical loss sequences (fashion_mlp, {len(losses('mlp-a'))} train lines): {'yes' if same else 'NO'}")
sys.exit(0 if ok else 1)
PY
