#!/usr/bin/env bash
# Gradient all-reduce bandwidth, nccl-tests style: the GradientReducer (buckets of a ParameterArena,
# non-blocking all-reduces launched in order, then finish) against a raw MPI_Allreduce of the same
# bytes, on 2 and 4 ranks of this machine. Prints both tables (joule-bench allreduce, described at
# the top of examples/joule_bench.cpp) and a one-line verdict: the reducer's busbw must be ≥ 0.9×
# the raw busbw at every size from 1 MB up.
#   scripts/bench/allreduce.sh [joule-bench allreduce arguments, e.g. --max-bytes 64M --iters 50]
# Environment: JOULE_BUILD_DIR (default build), JOULE_MPIRUN_ARGS (extra mpirun arguments). Open MPI
# 4.1's libnbc runs every in-place non-blocking all-reduce (ours) as binomial reduce + broadcast,
# about half the raw busbw on 2 ranks; JOULE_MPIRUN_ARGS="--mca coll_libnbc_iallreduce_algorithm 3"
# (reduce-scatter + all-gather; 1 = ring) brings it level with MPI_Allreduce.
# mpirun runs with --allow-run-as-root (Open MPI refuses root without it; our machines run as root)
# and --oversubscribe (allows more ranks than cores: with 2 cores, -np 4 shares them, so its
# numbers are noisy and mostly show scheduling, not the transport).
# Then: training samples/s of the Fashion-MNIST MLP on 1 and 2 ranks, overlap on and off.
# Exit status: 0 when every result was right (whatever the verdict), 1 on #wrong > 0 or a failed run.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/setup.sh >/dev/null
build_dir="${JOULE_BUILD_DIR:-build}"
bench="$build_dir/bin/joule-bench"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

status=0
for np in 2 4; do
  # shellcheck disable=SC2086
  if ! mpirun --allow-run-as-root --oversubscribe -np "$np" ${JOULE_MPIRUN_ARGS:-} "$bench" allreduce "$@" \
    >"$out/np$np.txt"; then
    echo "bench: joule-bench allreduce failed on $np ranks" >&2
    status=1
  fi
  cat "$out/np$np.txt"
  echo
done

# Columns: 1 size(B), 10 ratio (reducer busbw / raw busbw), 11 #wrong.
python3 - "$out" <<'PY' || status=1
import pathlib, sys
out = pathlib.Path(sys.argv[1])
parts, ok, wrong = [], True, 0
for np in (2, 4):
    rows = [line.split() for line in (out / f"np{np}.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    wrong += sum(int(r[10]) for r in rows)
    big = [(int(r[0]), float(r[9])) for r in rows if int(r[0]) >= 1 << 20]
    if not big:
        parts.append(f"np={np}: no sizes >= 1 MB")
        ok = False
        continue
    size, worst = min(big, key=lambda r: r[1])
    passed = worst >= 0.9
    ok = ok and passed
    parts.append(f"np={np}: min ratio {worst:.2f} at {size} B over {len(big)} sizes {'ok' if passed else 'BELOW 0.9'}")
print(f"verdict: {'PASS' if ok and wrong == 0 else 'FAIL'} (reducer busbw >= 0.9x raw from 1 MB up) -- "
      + "; ".join(parts) + f"; #wrong {wrong}")
sys.exit(1 if wrong else 0)
PY

# Training throughput of the Fashion-MNIST MLP (global batch 256) on 1 and 2 ranks, gradient
# all-reduce overlapped with backward or not; best of 2 runs each (verified: steps done).
# --bind-to none: each rank's threads may use every core (run.threads 0 shares them among ranks).
train_rate() {  # NP OVERLAP RUN
  local name="bench-np$1-$2-$3"
  # shellcheck disable=SC2086
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$1" ${JOULE_MPIRUN_ARGS:-} "$build_dir/bin/joule-train" \
    --config examples/configs/fashion_mlp.pbtxt --output "$out" --set run.name="$name" \
    --set train.max_steps=120 --set train.epochs=100 --set distributed.overlap="$2" >/dev/null 2>&1 || return 1
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['steps']==120, s; print(s['samples_per_s'])" \
    "$out/$name/summary.json"
}
echo
printf "%-6s %-8s %14s\n" ranks overlap train_samp/s
for np in 1 2; do
  for overlap in true false; do
    best="0"
    for r in 1 2; do
      rate=$(train_rate "$np" "$overlap" "$r") || { echo "bench: training failed (np $np, overlap $overlap)" >&2; status=1; continue; }
      best=$(python3 -c "print(max($best, $rate))")
    done
    printf "%-6s %-8s %14.0f\n" "$np" "$overlap" "$best"
  done
done
exit "$status"
