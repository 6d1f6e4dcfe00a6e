#!/usr/bin/env bash
# Installs what is missing, builds, then runs the main job: Fashion-MNIST MLP training.
# Extra arguments go to joule-train (e.g. --set train.epochs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/bin/joule-train --config examples/configs/fashion_mlp.pbtxt "$@"
