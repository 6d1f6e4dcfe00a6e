#!/usr/bin/env bash
# Training throughput on the CPU: joule vs PyTorch CPU (pip's torch) vs the GEMM-bound ceiling,
# all measured in this run on this machine. Prints one table.
#   scripts/bench/cpu_throughput.sh [--threads N] [--no-torch]
# The ceiling: measured Eigen f32 GEMM rate (joule-bench gemm 1024³) divided by the MLP's FLOPs per
# training sample (3 × forward: 3·2·(784·1024 + 1024·1024 + 1024·10) = 11.17 MFLOP).
# PyTorch comes from a virtualenv at $JOULE_TORCH_VENV (default ~/.cache/joule/torch-venv), made
# with `pip install torch numpy` on first use; with --no-torch or where that fails its column is "-".
# Each joule run is verified (steps done, accuracy above chance); each torch run checks its loss fell.
set -euo pipefail
cd "$(dirname "$0")/../.."

threads=2
use_torch=1
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --no-torch) use_torch=0; shift ;;
    *) echo "usage: $0 [--threads N] [--no-torch]" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python=""
if ((use_torch)); then
  venv="${JOULE_TORCH_VENV:-$HOME/.cache/joule/torch-venv}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "bench: installing PyTorch into $venv (once; several GB)" >&2
    (python3 -m venv "$venv" && "$venv/bin/pip" install -q torch numpy) >&2 || true
  fi
  if "$venv/bin/python" -c "import torch" 2>/dev/null; then python="$venv/bin/python"; fi
fi

gemm_gflops=$(build/bin/joule-bench gemm --size 1024 --threads "$threads" | awk 'NR==2 {print $5}')
mlp_flops_per_sample=$((3 * 2 * (784 * 1024 + 1024 * 1024 + 1024 * 10)))

# joule_rate MODEL BATCH STEPS -> samples/s (training loop only; verified)
joule_rate() {
  local model=$1 batch=$2 steps=$3 name="bench-$1-$2"
  build/bin/joule-train --config "examples/configs/fashion_$model.pbtxt" --output "$out" \
    --set run.name="$name" --set run.threads="$threads" --set train.batch_size="$batch" \
    --set train.max_steps="$steps" --set train.epochs=100 --set train.eval_every_steps=0 \
    --set train.schedule.kind=constant --set train.optimizer.sgd.lr=0.05 >/dev/null 2>&1 || {
    echo "bench: joule-train failed for $model batch $batch" >&2; return 1; }
  python3 - "$out/$name/summary.json" "$steps" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["steps"] == int(sys.argv[2]), f"expected {sys.argv[2]} steps, got {s['steps']}"
assert s["final_accuracy"] > 0.5, f"accuracy {s['final_accuracy']} after training: results are wrong"
print(round(s["samples_per_s"], 1))
PY
}

torch_rate() {
  [ -n "$python" ] || { echo "-"; return; }
  "$python" scripts/bench/torch_cpu_throughput.py --model "$1" --batch "$2" --steps "$3" --threads "$threads" |
    python3 -c "import json,sys; d=json.loads(sys.stdin.read()); assert d['verified'], d; print(d['samples_per_s'])"
}

ceiling=$(python3 -c "print(round($gemm_gflops * 1e9 / $mlp_flops_per_sample, 1))")
printf "# %s, %s, %s threads; Eigen GEMM 1024^3: %s GFLOP/s; MLP ceiling %s samples/s\n" \
  "$(date -u +%Y-%m-%d)" "$(lscpu | sed -n 's/^Model name: *//p')" "$threads" "$gemm_gflops" "$ceiling"
printf "%-5s %6s %14s %14s %12s %14s %12s\n" model batch joule_samp/s torch_samp/s vs_torch ceiling_samp/s of_ceiling
for spec in "mlp 128 400" "mlp 1024 60" "cnn 128 100"; do
  read -r model batch steps <<<"$spec"
  j=$(joule_rate "$model" "$batch" "$steps")
  t=$(torch_rate "$model" "$batch" "$steps")
  ratio=$(python3 -c "print('-' if '$t' == '-' else f'{$j / $t:.2f}x')")
  if [ "$model" = mlp ]; then
    c=$ceiling
    share=$(python3 -c "print(f'{100 * $j / $ceiling:.0f}%')")
  else
    c="-"; share="-"
  fi
  printf "%-5s %6s %14s %14s %12s %14s %12s\n" "$model" "$batch" "$j" "$t" "$ratio" "$c" "$share"
done
