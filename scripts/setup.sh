#!/usr/bin/env bash
# Installs the Debian packages gradspec needs (only those missing), then configures and builds.
# Usage: scripts/setup.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}

packages=(
  g++ cmake make ccache
  libmpfr-dev libgmp-dev libboost-dev libboost-test-dev
  libboost-iostreams-dev libboost-system-dev libboost-filesystem-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libarmadillo-dev libgnuplot-iostream-dev gnuplot-nox
  python3 python3-torch python3-mpmath python3-jsonschema python3-pytest
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
