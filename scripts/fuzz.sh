#!/usr/bin/env bash
# Fuzzes the readers of untrusted input with libFuzzer (clang, -fsanitize=fuzzer,address,undefined):
# the config parser (fuzz_config), the IDX reader (fuzz_idx), the checkpoint reader
# (fuzz_checkpoint) and joule-report's JSON-lines readers (fuzz_report), each for a bounded time,
# starting from the seed corpora in tests/fuzz/corpus/<target>/ (what they find grows in
# build-fuzz/corpus/, never in the repository). A crash, a sanitizer report, a leak, an input
# slower than 10 s or above 4 GB stops that target and leaves the input as build-fuzz/crash-*;
# the script then exits 1. Prints one table row per target.
#   scripts/fuzz.sh [--seconds 300] [--target NAME]... [--parallel N]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
parallel=$(nproc)
targets=()
while (($#)); do
  case "$1" in
    --seconds) [[ "${2-}" =~ ^[0-9]+$ && "$2" -gt 0 ]] || { echo "fuzz: --seconds: expected a whole number > 0, got '${2-}'" >&2; exit 2; }
      seconds=$2; shift 2 ;;
    --target) [[ "${2-}" =~ ^(config|idx|checkpoint|report)$ ]] || { echo "fuzz: --target: expected config, idx, checkpoint or report, got '${2-}'" >&2; exit 2; }
      targets+=("$2"); shift 2 ;;
    --parallel) [[ "${2-}" =~ ^[0-9]+$ && "$2" -gt 0 ]] || { echo "fuzz: --parallel: expected a whole number > 0, got '${2-}'" >&2; exit 2; }
      parallel=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--target config|idx|checkpoint|report]... [--parallel N]" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(config idx checkpoint report)

bash scripts/setup.sh >/dev/null
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOULE_FUZZ=ON \
    -DJOULE_BUILD_TESTS=OFF -DJOULE_WITH_CUDA=OFF -DJOULE_NATIVE=OFF >/dev/null
fi
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

run_target() {
  local t=$1 corpus="$dir/corpus/$1"
  mkdir -p "$corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  "$dir/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$dir/crash-$t-" "$corpus" >"$dir/fuzz_$t.log" 2>&1
}

declare -A status
pids=()
for t in "${targets[@]}"; do
  run_target "$t" &
  pids+=("$!:$t")
  while (($(jobs -rp | wc -l) >= parallel)); do sleep 1; done
done
for entry in "${pids[@]}"; do
  pid=${entry%%:*}; t=${entry#*:}
  if wait "$pid"; then status[$t]=ok; else status[$t]=FAILED; fi
done

echo "# $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -1), ${seconds} s per target"
printf '%-12s %8s %12s %10s %8s  %s\n' target seconds runs exec/s corpus result
failed=0
for t in "${targets[@]}"; do
  log="$dir/fuzz_$t.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$dir/corpus/$t" -type f | wc -l)
  printf '%-12s %8s %12s %10s %8s  %s\n' "$t" "$seconds" "${runs:-?}" "${speed:-?}" "$corpus" "${status[$t]}"
  if [ "${status[$t]}" != ok ]; then failed=1; grep -m5 -E "ERROR|SUMMARY|deadly|crash-" "$log" >&2 || tail -5 "$log" >&2; fi
done
exit $failed
