#!/usr/bin/env bash
# The main job end to end: install what is missing, build, generate golden cases for the whole
# catalogue. Results go to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
mkdir -p out
build/cli/gradspec ops > out/ops.txt
build/cli/gradspec gen --from cases/specs/catalogue.json --out out/catalogue.json
echo "quickstart: golden cases in out/catalogue.json, the op catalogue in out/ops.txt"
