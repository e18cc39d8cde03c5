#!/usr/bin/env bash
# The main job end to end: install what is missing, build, generate golden cases (the examples
# suite and a spec covering the whole catalogue), check a real implementation (PyTorch 1.13 through
# its adapter, in float64, float32 and bfloat16, over the committed standard and edge suites) and
# write an accuracy report (out/report/index.html). Everything goes to out/. The published reports of
# three libraries are made by scripts/publish.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
g=build/cli/gradspec
mkdir -p out
$g ops > out/ops.txt
$g gen --suite examples --out out/examples --quiet
$g gen --from cases/specs/catalogue.json --out out/catalogue.json --quiet
$g verify out/examples --quiet
adapter='/usr/bin/python3 adapters/pytorch/gradspec_torch_adapter.py'
summaries=()
for dtype in float64 float32 bfloat16; do
  for suite in standard edge; do
    # A failing case is a finding, not an error of this script: the verdicts go into the report.
    $g run --suite cases/$suite --adapter "$adapter" --dtype $dtype --quiet \
       --json out/pytorch-$dtype-$suite.json --results out/pytorch-$dtype-$suite.results.json || true
    summaries+=(out/pytorch-$dtype-$suite.json)
  done
done
$g check --cases cases/examples --results cases/slides_results.json --atol 0.0005 --rtol 0 --forward-only \
   --json out/slides.json > out/slides.txt || true
$g report "${summaries[@]}" --out out/report
echo "quickstart: report in out/report/index.html (and report.md, with its plots); golden cases in out/; slides errata in out/slides.txt"
