#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest). CI calls this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir="${JOULE_BUILD_DIR:-build}"
ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
