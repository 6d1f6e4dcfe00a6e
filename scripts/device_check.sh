#!/usr/bin/env bash
# The check for the lent H200 (../shared/device/README.md is the recipe): one call, ≤ 8 minutes.
#   scripts/device_check.sh            (on the device machine, in the repository root)
# Uses a carried CUDA build in build-cuda/ (configure here with
#   cmake -S . -B build-cuda -G Ninja -DJOULE_WITH_CUDA=ON -DJOULE_CUDA_ARCHITECTURES=90 -DJOULE_NATIVE=OFF
#   ninja -C build-cuda joule_tests joule-train
# and carry build-cuda), else configures and builds one there. Then:
#   1. the device, the driver and what the binaries link (ldd: nothing "not found");
#   2. every GPU test (joule_tests --gtest_filter='Cuda*:GpuDispatch*'), none skipped: the device is there;
#   3. [to come with the GPU training path] Fashion MLP 128/1024 and CNN 128 against the PyTorch peer.
# Full logs under $OUT (default ./device-out); the table is printed last. Exit 1 when a step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-device-out}"
mkdir -p "$out"
build=build-cuda
status=0
rows=()

if [ ! -x "$build/bin/joule_tests" ]; then
  echo "device_check: no carried $build: configuring and building (CUDA on)" >&2
  { cmake -S . -B "$build" -G Ninja -DJOULE_WITH_CUDA=ON -DJOULE_CUDA_ARCHITECTURES=90 -DJOULE_NATIVE=OFF &&
    ninja -C "$build" joule_tests joule-train; } >"$out/build.log" 2>&1 || {
    tail -30 "$out/build.log" >&2
    echo "device_check: the build failed (log: $out/build.log)" >&2
    exit 1
  }
fi

nvidia-smi --query-gpu=name,pci.bus_id,driver_version,clocks.sm,power.draw --format=csv >"$out/environment.log" 2>&1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
ldd "$build/bin/joule_tests" "$build/bin/joule-train" >"$out/ldd.log" 2>&1
if grep -q "not found" "$out/ldd.log"; then
  rows+=("environment | FAIL | a library is missing: $(grep 'not found' "$out/ldd.log" | head -1 | tr -s ' \t' ' ')")
  status=1
elif [ -z "$gpu" ]; then
  rows+=("environment | FAIL | nvidia-smi lists no GPU ($out/environment.log)")
  status=1
else
  rows+=("environment | ok | $gpu")
fi

"$build/bin/joule_tests" --gtest_filter='Cuda*:GpuDispatch*' --gtest_brief=0 >"$out/gpu_tests.log" 2>&1
tests_rc=$?
count() { grep -c "^\[ *$1 *\] [A-Za-z0-9_]*\.[A-Za-z0-9_]* ([0-9]* ms)" "$out/gpu_tests.log"; }
passed=$(count OK) skipped=$(count SKIPPED) failed=$(count FAILED)
if ((tests_rc != 0 || skipped > 0)); then status=1; fi
rows+=("gpu tests | $( ((tests_rc == 0 && skipped == 0)) && echo ok || echo FAIL) | $passed passed, $failed failed, $skipped skipped (a skip here means no device was seen)")
rows+=("training vs PyTorch | - | not yet: the GPU training path is not built")

echo
printf '%s\n' "step | result | detail" "---|---|---" "${rows[@]}"
exit $status
