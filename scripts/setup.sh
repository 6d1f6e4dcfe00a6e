#!/usr/bin/env bash
# Installs the Debian packages joule needs when any is missing (apt-get, as root or through sudo),
# then configures and builds into build/. Idempotent: seconds when everything is in place.
# Environment: JOULE_BUILD_DIR (default build), JOULE_CMAKE_ARGS (extra cmake arguments).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config python3
  libeigen3-dev libdnnl-dev libopenblas-openmp-dev protobuf-compiler libprotobuf-dev zlib1g-dev
  libcli11-dev
  openmpi-bin libopenmpi-dev
  slurm-wlm munge
  googletest libgtest-dev
  dataset-fashion-mnist
  librsvg2-bin
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir="${JOULE_BUILD_DIR:-build}"
if [ ! -f "$build_dir/build.ninja" ]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${JOULE_CMAKE_ARGS:-}
fi
cmake --build "$build_dir" -j "$(nproc)"
