#!/usr/bin/env bash
# Training throughput on the CPU: joule vs PyTorch CPU (pip's torch) vs the GEMM-bound ceiling,
# all measured in this run on this machine. Prints one table.
#   scripts/bench/cpu_throughput.sh [--threads N] [--repeats R] [--no-torch] [--bf16-only]
# The ceiling: a measured f32 GEMM rate (joule-bench gemm 1024³) divided by the MLP's FLOPs per
# training sample (3 × forward: 3·2·(784·1024 + 1024·1024 + 1024·10) = 11.17 MFLOP), for the GEMM
# the fastest backend here (joule-bench gemm lists every backend with its kernel) and for Eigen's.
# joule runs with run.cpu_math auto; the last column names the backend it chose.
# PyTorch comes from a virtualenv at $JOULE_TORCH_VENV (default ~/.cache/joule/torch-venv), made
# with `pip install torch numpy` on first use; with --no-torch or where that fails its column is "-".
# Each joule run is verified (steps done, accuracy above chance); each torch run checks its loss fell.
# Shared machines are noisy: every cell is the best of --repeats runs (default 3), joule and torch
# interleaved so both see the same conditions.
# A second table puts bf16 compute beside f32 for MLP batch 1024 and CNN batch 128: joule with
# train.precision "bf16" (oneDNN bf16 matmuls, f32 master weights) against PyTorch under
# torch.autocast("cpu", dtype=torch.bfloat16) (torch_cpu_throughput.py --bf16); vs_torch is
# joule bf16 / torch bf16. Where bf16 is unavailable here (joule-bench gemm says why) the table is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

threads=2
repeats=3
use_torch=1
f32_table=1
while (($#)); do
  case "$1" in
    --bf16-only) f32_table=0; shift ;;
    --threads) threads="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --no-torch) use_torch=0; shift ;;
    *) echo "usage: $0 [--threads N] [--repeats R] [--no-torch] [--bf16-only]" >&2; exit 2 ;;
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

# every backend's f32 GEMM at 1024^3 (and bf16 through oneDNN), one table; the ceiling uses the best f32 rate
gemm_table=$(build/bin/joule-bench gemm --size 1024 --threads "$threads" --repeats 20)
gemm_gflops=$(awk '$1 == "gemm_f32" && $6 != "-" && $6 > best {best = $6; name = $2} END {print best}' <<<"$gemm_table")
backend=$(awk '$1 == "gemm_f32" && $6 != "-" && $6 > best {best = $6; name = $2} END {print name}' <<<"$gemm_table")
eigen_gflops=$(awk '$1 == "gemm_f32" && $2 == "eigen" {print $6}' <<<"$gemm_table")
mlp_flops_per_sample=$((3 * 2 * (784 * 1024 + 1024 * 1024 + 1024 * 10)))

# joule_rate MODEL BATCH STEPS REPEAT [PRECISION] -> samples/s (training loop only; verified, also
# that every train line of metrics.jsonl ran at PRECISION, default f32)
joule_rate() {
  local model=$1 batch=$2 steps=$3 precision=${5:-f32} name="bench-$1-$2-$4-${5:-plain}"
  build/bin/joule-train --config "examples/configs/fashion_$model.pbtxt" --output "$out" \
    --set run.name="$name" --set run.threads="$threads" --set train.batch_size="$batch" \
    --set train.max_steps="$steps" --set train.epochs=100 --set train.eval_every_steps=0 \
    --set train.schedule.kind=constant --set train.optimizer.sgd.lr=0.05 \
    --set train.precision="$precision" >/dev/null 2>&1 || {
    echo "bench: joule-train failed for $model batch $batch ($precision)" >&2; return 1; }
  python3 - "$out/$name" "$steps" "$precision" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
assert s["steps"] == int(sys.argv[2]), f"expected {sys.argv[2]} steps, got {s['steps']}"
assert s["final_accuracy"] > 0.5, f"accuracy {s['final_accuracy']} after training: results are wrong"
lines = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if '"kind":"train"' in l]
assert lines and all(l["precision"] == sys.argv[3] for l in lines), f"train lines not at {sys.argv[3]}"
print(round(s["samples_per_s"], 1), s["cpu_math"])
PY
}

# torch_rate MODEL BATCH STEPS [--bf16] -> samples/s (verified: its loss fell)
torch_rate() {
  [ -n "$python" ] || { echo "-"; return; }
  "$python" scripts/bench/torch_cpu_throughput.py --model "$1" --batch "$2" --steps "$3" --threads "$threads" ${4:-} |
    python3 -c "import json,sys; d=json.loads(sys.stdin.read()); assert d['verified'], d; print(d['samples_per_s'])"
}

best() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:] if x != '-']; print(max(v) if v else '-')" "$@"; }

ceiling=$(python3 -c "print(round($gemm_gflops * 1e9 / $mlp_flops_per_sample, 1))")
eigen_ceiling=$(python3 -c "print(round($eigen_gflops * 1e9 / $mlp_flops_per_sample, 1))")
printf "# %s, %s (family %s, model %s), %s threads, best of %s\n" "$(date -u +%Y-%m-%d)" \
  "$(lscpu | sed -n 's/^Model name: *//p')" "$(lscpu | sed -n 's/^CPU family: *//p')" \
  "$(lscpu | sed -n 's/^Model: *//p')" "$threads" "$repeats"
sed 's/^/# /' <<<"$gemm_table"
printf "# MLP GEMM-bound ceiling (11.17 MFLOP/sample): %s samples/s at the %s rate, %s at Eigen's\n" \
  "$ceiling" "$backend" "$eigen_ceiling"
((f32_table)) && printf "%-5s %6s %14s %14s %10s %12s %14s %9s\n" model batch joule_samp/s torch_samp/s vs_torch of_ceiling of_eigen_ceil cpu_math
f32_specs=("mlp 128 300" "mlp 1024 40" "cnn 128 80")
((f32_table)) || f32_specs=()  # --bf16-only: the second table alone
for spec in "${f32_specs[@]}"; do
  read -r model batch steps <<<"$spec"
  js=() ts=() chosen=()
  for ((r = 0; r < repeats; r++)); do
    read -r rate math < <(joule_rate "$model" "$batch" "$steps" "$r")
    [ -n "$rate" ] || exit 1
    js+=("$rate")
    chosen+=("$math")
    ts+=("$(torch_rate "$model" "$batch" "$steps")")
  done
  j=$(best "${js[@]}")
  # the backend auto chose, per repeat (they can differ when two are close)
  picked=$(printf '%s\n' "${chosen[@]}" | sort | uniq -c | awk '{printf "%s%s%s", sep, $2, ($1 > 1 ? "x" $1 : ""); sep="/"}')
  t=$(best "${ts[@]}")
  ratio=$(python3 -c "print('-' if '$t' == '-' else f'{$j / $t:.2f}x')")
  if [ "$model" = mlp ]; then
    share=$(python3 -c "print(f'{100 * $j / $ceiling:.0f}%')")
    eshare=$(python3 -c "print(f'{100 * $j / $eigen_ceiling:.0f}%')")
  else
    share="-"; eshare="-"
  fi
  printf "%-5s %6s %14s %14s %10s %12s %14s %9s\n" "$model" "$batch" "$j" "$t" "$ratio" "$share" "$eshare" "$picked"
done

# bf16 beside f32, one row per model: joule f32, joule bf16, torch f32, torch bf16 (autocast), interleaved
if awk '$1 == "gemm_bf16" && $6 != "-" {found = 1} END {exit !found}' <<<"$gemm_table"; then
  printf "%-5s %6s %11s %11s %11s %11s %12s %10s\n" model batch joule_f32 joule_bf16 torch_f32 torch_bf16 \
    bf16_vs_f32 vs_torch
  for spec in "mlp 1024 40" "cnn 128 80"; do
    read -r model batch steps <<<"$spec"
    jf=() jb=() tf=() tb=()
    for ((r = 0; r < repeats; r++)); do
      read -r rate _ < <(joule_rate "$model" "$batch" "$steps" "$r" f32)
      [ -n "$rate" ] || exit 1
      jf+=("$rate")
      read -r rate _ < <(joule_rate "$model" "$batch" "$steps" "$r" bf16)
      [ -n "$rate" ] || exit 1
      jb+=("$rate")
      tf+=("$(torch_rate "$model" "$batch" "$steps")")
      tb+=("$(torch_rate "$model" "$batch" "$steps" --bf16)")
    done
    j32=$(best "${jf[@]}") j16=$(best "${jb[@]}") t32=$(best "${tf[@]}") t16=$(best "${tb[@]}")
    gain=$(python3 -c "print(f'{$j16 / $j32:.2f}x')")
    ratio=$(python3 -c "print('-' if '$t16' == '-' else f'{$j16 / $t16:.2f}x')")
    printf "%-5s %6s %11s %11s %11s %11s %12s %10s\n" "$model" "$batch" "$j32" "$j16" "$t32" "$t16" "$gain" "$ratio"
  done
else
  echo "# bf16: unavailable here (see the gemm_bf16 row above); no bf16 rows"
fi
