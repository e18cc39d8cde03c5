#!/usr/bin/env bash
# Installs the Debian packages gradspec needs (only those missing), then configures and builds; the
# npm adapters (adapters/onnxruntime, adapters/tfjs: ONNX Runtime and TensorFlow.js, pinned by their
# committed package-lock.json) are installed with `npm ci` while the C++ builds.
# Usage: scripts/setup.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}

packages=(
  g++ cmake make ccache
  libmpfr-dev libgmp-dev libboost-dev libboost-test-dev
  libboost-iostreams-dev libboost-system-dev libboost-filesystem-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libfast-float-dev libssl-dev
  libarmadillo-dev libopenblas-openmp-dev libgnuplot-iostream-dev gnuplot-nox
  python3 python3-torch python3-mpmath python3-jsonschema python3-pytest
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm for the npm adapters: Debian's nodejs and npm where no node/npm is on the PATH (a
# Node from elsewhere, e.g. NodeSource's with its own npm, is used as it is).
command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci (network bound) runs beside the build (CPU bound); a folder whose node_modules was installed
# from the same lockfile is left as it is. ONNX Runtime's install script would fetch CUDA parts from
# outside: skipped, its CPU library ships inside the package.
npm_install() {
  local dir=$1 stamp=$1/node_modules/.gradspec-lock.sha1
  local want
  want=$(sha1sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
  echo "$want" > "$stamp"
}
npm_log=$(mktemp)
( for dir in adapters/onnxruntime adapters/tfjs; do npm_install "$dir" || { echo "setup: npm ci failed in $dir"; exit 1; }; done ) >"$npm_log" 2>&1 &
npm_pid=$!
trap 'kill "$npm_pid" 2>/dev/null || true' EXIT # a failed build leaves no npm behind

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
npm_status=0
wait "$npm_pid" || npm_status=$?
trap - EXIT
cat "$npm_log" >&2
rm -f "$npm_log"
if ((npm_status)); then
  echo "setup: installing the npm adapters failed (adapters/onnxruntime, adapters/tfjs: npm ci)" >&2
  exit 1
fi
