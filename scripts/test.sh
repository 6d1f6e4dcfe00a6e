#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest). CI calls this through .ci/run.
#   scripts/test.sh [--sanitize=address|thread] [ctest arguments...]
# --sanitize=address: the whole suite built with ASan + UBSan (build-address/; any report fails its
# test); --sanitize=thread: the threaded parts (prefetching loader, stall watchdog and interrupts,
# joule-clockd and the clock actuator, checkpoints under signals) built with TSan (build-thread/).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""
ctest_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize=address|--sanitize=thread) sanitize=${arg#--sanitize=} ;;
    --sanitize=*) echo "test: $arg: expected --sanitize=address or --sanitize=thread" >&2; exit 2 ;;
    *) ctest_args+=("$arg") ;;
  esac
done
bash scripts/setup.sh
build_dir="${JOULE_BUILD_DIR:-build}"

if [ -n "$sanitize" ]; then
  dir="${build_dir}-$sanitize"
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOULE_SANITIZE="$sanitize" -DJOULE_WITH_CUDA=OFF >/dev/null
  fi
  cmake --build "$dir" -j "$(nproc)"
  supp="$PWD/tests/sanitizers"
  # Open MPI and its helpers (hwloc, PMIx, libevent) keep allocations until exit: not ours to report
  # Leak checking is off: Open MPI 4.1 unloads its components before exit, and what they keep has
  # no module name left that a suppression could match (tests/sanitizers/lsan.supp lists the rest).
  # allocator_may_return_null: a model too large for memory must still end as bad_alloc (exit 2).
  export ASAN_OPTIONS="detect_leaks=${JOULE_DETECT_LEAKS:-0}:allocator_may_return_null=1:halt_on_error=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
  filter=()
  if [ "$sanitize" = thread ]; then
    # instrumented ranks run ~10x slower: mpirun's 1-s grace between its SIGTERM and SIGKILL is
    # sized for real ones (an interrupted rank finishes its step and checkpoint in it)
    export OMPI_MCA_odls_base_sigkill_timeout=20
    filter=(-R 'BatchLoader|DataFeed|LocalCommunicator|JouleClockd|ClockActuator|Interrupts|MpiFailures|Resume\.Sigterm|Resume\.ASecond|FullDisk')
  fi
  # not here: the Slurm cluster test and 4 ranks on 2 cores (the plain suite runs them), and the two
  # accuracy runs that train full Fashion-MNIST models (an hour under ASan; the same code runs in
  # the smaller tests)
  ctest --test-dir "$dir" --output-on-failure --timeout 1800 -j "$(nproc)" \
    -E '^(slurm|mpi_np4|Bf16\.MlpTrainsToF32Accuracy|Bf16\.CnnTrainsThroughTheBf16Convolution)$' "${filter[@]}" "${ctest_args[@]}"
  exit
fi

# TensorBoard's own reader checks our event files (tests/test_tensorboard_writer.cpp). Best effort:
# into the current Python where pip may install, else into $build_dir/python (Debian's system Python
# refuses pip installs into itself, PEP 668; the test puts that folder on PYTHONPATH).
tensorboard_importable() { PYTHONPATH="$build_dir/python${PYTHONPATH:+:$PYTHONPATH}" python3 -c 'import tensorboard' >/dev/null 2>&1; }
if ! tensorboard_importable; then
  python3 -m pip install -q tensorboard >/dev/null 2>&1 ||
    python3 -m pip install -q --target "$build_dir/python" tensorboard >/dev/null 2>&1 || true
  tensorboard_importable || echo "tensorboard not installable: its read-back test will skip"
fi

# A build without the optional GEMM backends (oneDNN, OpenBLAS) must build and pass too: Eigen is
# always there. Its unit tests run first (JOULE_SKIP_MINIMAL_BUILD=1 skips this), the full suite last.
if [ "${JOULE_SKIP_MINIMAL_BUILD:-0}" != 1 ]; then
  minimal_dir="${build_dir}-eigen-only"
  if [ ! -f "$minimal_dir/build.ninja" ]; then
    cmake -S . -B "$minimal_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJOULE_WITH_ONEDNN=OFF -DJOULE_WITH_BLAS=OFF >/dev/null
  fi
  cmake --build "$minimal_dir" -j "$(nproc)" --target joule_tests
  echo "test: the Eigen-only build (no oneDNN, no OpenBLAS):"
  "$minimal_dir/bin/joule_tests" --gtest_brief=1 --gtest_filter='Gemm*:CpuMath*:Linear*:Models*:JouleTrainCli*:Bf16*:PrecisionKnob*:TrainerAccounting*:DataFeed*'
fi

ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j "$(nproc)" "${ctest_args[@]}"
