#!/usr/bin/env bash
# Installs what is missing, builds, then runs the main job: Fashion-MNIST MLP training on 2 ranks
# with the energy controller on (examples/configs/fashion_mlp_energy.pbtxt: batch and precision
# adapted, clocks adapted in DRY_RUN on GPU ranks, a marginal-gain stop within a 20-epoch budget),
# through scripts/mpirun.sh (mpirun -np 2, so Ctrl-C stops cleanly with status 3; JOULE_NP overrides
# the rank count). Extra arguments go to joule-train, e.g. scripts/run.sh --set train.epochs=2
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
np="${JOULE_NP:-2}"
flags=(--oversubscribe)  # allows more ranks than cores on small machines
if [ "$(id -u)" -eq 0 ]; then flags+=(--allow-run-as-root); fi
exec bash scripts/mpirun.sh "${flags[@]}" -np "$np" build/bin/joule-train --config examples/configs/fashion_mlp_energy.pbtxt "$@"
