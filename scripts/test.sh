#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest). CI calls this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir="${JOULE_BUILD_DIR:-build}"

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

ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
