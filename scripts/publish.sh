#!/usr/bin/env bash
# Regenerates the published accuracy reports, reports/published/: PyTorch 1.13 CPU (Debian's
# python3-torch; float64, float32, bfloat16), ONNX Runtime 1.30 CPU (onnxruntime-node; float64,
# float32 and float16 where its CPU kernels exist; forward only), TensorFlow.js 4.22 CPU (tfjs-core +
# tfjs-backend-cpu; float32) and
# gradspec's built-in baselines (the reference's own code in float64 and float32), each over the
# standard, edge and sweep suites.
#   reports/published/             all of them side by side
#   reports/published/LIBRARY/     one library with the baselines of its dtypes
# Findings are explained by reports/published/notes.json (docs/reports.md); the run fails if a fail
# or error verdict has no explanation there. The sweep suite (about 350 MB, 5 minutes) and the
# summaries go to out/publish/. About 15 minutes on 2 cores (10 with --keep-sweep).
# Usage: scripts/publish.sh [--keep-sweep | --report-only]
#   --keep-sweep    reuse out/publish/sweep
#   --report-only   only write the reports from the summaries in out/publish/summaries (after
#                   editing notes.json, say)
set -euo pipefail
cd "$(dirname "$0")/.."
keep_sweep=0 report_only=0
case "${1:-}" in
  --keep-sweep) keep_sweep=1 ;;
  --report-only) report_only=1 ;;
  "") ;;
  *) echo "usage: scripts/publish.sh [--keep-sweep | --report-only]" >&2; exit 2 ;;
esac
scripts/setup.sh build
g=build/cli/gradspec
work=out/publish
published=reports/published
notes=$published/notes.json
mkdir -p "$work/summaries" "$work/logs"

if ((!report_only)) && { ((!keep_sweep)) || [ ! -d "$work/sweep" ]; }; then
  rm -rf "$work/sweep"
  echo "publish: generating the sweep suite into $work/sweep"
  $g gen --suite sweep --out "$work/sweep" --jobs "$(nproc)" --quiet
fi

torch='/usr/bin/python3 adapters/pytorch/gradspec_torch_adapter.py'
ort='node adapters/onnxruntime/gradspec_onnxruntime_adapter.js'
tfjs='node adapters/tfjs/gradspec_tfjs_adapter.js'

# One summary: NAME DTYPE SUITE, then how to run the candidate. A failing case is a finding for the
# report, not an error of this script; an error of gradspec itself (exit 2) is.
judge() {
  local name=$1 dtype=$2 suite=$3
  shift 3
  local dir=cases/$suite
  [ "$suite" = sweep ] && dir=$work/sweep
  local status=0
  $g run --suite "$dir" "$@" --dtype "$dtype" --quiet --timeout 600 --json "$work/summaries/$name-$dtype-$suite.json" \
     > "$work/logs/$name-$dtype-$suite.txt" 2>&1 || status=$?
  if ((status > 1)); then
    cat "$work/logs/$name-$dtype-$suite.txt" >&2
    echo "publish: gradspec failed on $name $dtype $suite (exit $status)" >&2
    exit 1
  fi
  echo "publish: $name $dtype $suite: $(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]; print(", ".join(f"{v} {k}" for k, v in s.items()))' "$work/summaries/$name-$dtype-$suite.json")"
}

for suite in standard edge sweep; do
  ((report_only)) && break
  for dtype in float64 float32 bfloat16; do judge pytorch $dtype $suite --adapter "$torch"; done
  for dtype in float64 float32 float16; do judge onnxruntime $dtype $suite --adapter "$ort"; done
  judge tfjs float32 $suite --adapter "$tfjs"
  judge reference-f64 float64 $suite --builtin reference-f64
  judge reference-f32 float32 $suite --builtin reference-f32
done

s=$work/summaries
report() { # FOLDER TITLE SUMMARY...
  local out=$1 title=$2
  shift 2
  rm -f "$out"/index.html "$out"/report.md "$out"/*.svg "$out"/*.png
  $g report "$@" --notes "$notes" --title "$title" --out "$out"
  local open
  open=$(sed -n 's/.* \([0-9]*\) fail or error verdict(s) not explained yet.*/\1/p' "$out/report.md")
  if [ "$open" != 0 ]; then
    echo "publish: $out: $open fail or error verdict(s) have no explanation in $notes (see the report's Findings)" >&2
    exit 1
  fi
}
report $published "gradspec accuracy report: PyTorch 1.13, ONNX Runtime 1.30, TensorFlow.js 4.22 (CPU)" \
  $s/pytorch-*.json $s/onnxruntime-*.json $s/tfjs-*.json $s/reference-*.json
report $published/pytorch "gradspec accuracy report: PyTorch 1.13 CPU" $s/pytorch-*.json $s/reference-*.json
report $published/onnxruntime "gradspec accuracy report: ONNX Runtime 1.30 CPU (onnxruntime-node)" $s/onnxruntime-*.json $s/reference-*.json
report $published/tfjs "gradspec accuracy report: TensorFlow.js 4.22 CPU" $s/tfjs-*.json $s/reference-f32-*.json
echo "publish: reports in $published/ (index.html, report.md; pytorch/, onnxruntime/, tfjs/)"
