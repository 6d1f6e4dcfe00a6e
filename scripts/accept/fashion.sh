#!/usr/bin/env bash
# Acceptance on Fashion-MNIST (not a test: minutes of training). Trains both example configs to their
# targets (MLP >= 88.0%, CNN >= 91.0% test accuracy), trains the MLP twice more with the same seed
# and GEMM backend and compares the loss sequences in metrics.jsonl, and prints one table. Exit 1 if any fails.
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

train() {  # CONFIG NAME [--set ...]
  echo "accept: training $1 as $2" >&2
  local config=$1 name=$2
  shift 2
  build/bin/joule-train --config "examples/configs/$config.pbtxt" --output "$output" --set run.name="$name" \
    --set run.threads="$threads" "$@" 2>&1 | grep -v '^\[' >&2
}
train fashion_mlp mlp-a
# An exact repeat needs the same GEMM backend on both runs (run.cpu_math auto times the backends anew
# and may choose others): the repeat pair runs on the first backend mlp-a chose.
math=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['cpu_math'].split('+')[0])" "$output/mlp-a/summary.json")
train fashion_mlp mlp-b --set run.cpu_math="$math"
train fashion_mlp mlp-c --set run.cpu_math="$math"
train fashion_cnn cnn

python3 - "$output" <<'PY'
import json, sys
out = sys.argv[1]
def losses(run):
    return [json.loads(l)["loss"] for l in open(f"{out}/{run}/metrics.jsonl") if '"kind":"train"' in l]
def summary(run):
    return json.load(open(f"{out}/{run}/summary.json"))
same = losses("mlp-b") == losses("mlp-c") and len(losses("mlp-b")) > 0
rows, ok = [], same
print(f"{'config':<12} {'target':>7} {'final':>7} {'best':>7} {'pass':>5} {'steps':>6} {'seconds':>8} {'samples/s':>10} {'energy_J':>9} {'source':>9}")
for run, config, target in [("mlp-a", "fashion_mlp", 0.88), ("cnn", "fashion_cnn", 0.91)]:
    s = summary(run)
    passed = s["final_accuracy"] >= target
    ok = ok and passed
    print(f"{config:<12} {target:>7.3f} {s['final_accuracy']:>7.4f} {s['best_accuracy']:>7.4f} {'yes' if passed else 'NO':>5} "
          f"{s['steps']:>6} {s['seconds']:>8.1f} {s['samples_per_s']:>10.0f} {s['energy_j']:>9.0f} {s['sources'][0]:>9}")
print(f"same seed and cpu math ({summary('mlp-b')['cpu_math']}), identical loss sequences (fashion_mlp, "
      f"{len(losses('mlp-b'))} train lines): {'yes' if same else 'NO'}")
sys.exit(0 if ok else 1)
PY
