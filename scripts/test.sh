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

ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
