#!/bin/sh
# Checks the answers that adapters/pytorch_sdpa/run_offline.sh wrote on the GPU machine:
# for every responses-<backend>-<dtype>.jsonl in reports/cuda/ (or in the folder given as $1),
#   gradspec check --cases <the cases of make_requests.sh> --results that file --dtype <dtype>
#       --json summaries/<backend>-<dtype>.json
# then gradspec report summaries/*.json --out report. GRADSPEC=/path/to/gradspec overrides
# build/cli/gradspec. Exit status: 0 when every check passed (skips and acceptable findings
# included), 1 when some check failed, 2 on a usage problem (no gradspec, no responses).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/cases.sh"
dir=$(cd "${1:-$here}" && pwd) || exit 2
gradspec=$(find_gradspec "$root") || exit 2
case $gradspec in /*) ;; *) gradspec=$(pwd)/$gradspec ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gather_cases "$root" "$tmp/cases" || exit 2
status=0
found=0
for f in "$dir"/responses-*-*.jsonl; do
    [ -e "$f" ] || continue
    found=1
    mkdir -p "$dir/summaries"
    stem=$(basename "$f" .jsonl)
    stem=${stem#responses-}          # <backend>-<dtype>
    dtype=${stem##*-}
    echo "== $stem"
    # from inside $tmp, so that the summaries' provenance names cases/edge/attention.json and not a temp path
    if ! (cd "$tmp" && "$gradspec" check --cases cases --results "$f" --dtype "$dtype" --json "$dir/summaries/$stem.json"); then
        status=1
    fi
done
if [ "$found" = 0 ]; then
    echo "$0: no responses-<backend>-<dtype>.jsonl in $dir: run adapters/pytorch_sdpa/run_offline.sh on a GPU machine and copy them here" >&2
    exit 2
fi
"$gradspec" report "$dir"/summaries/*.json --out "$dir/report" --title "PyTorch SDPA backends on CUDA" || exit 2
echo "report: $dir/report/index.html, $dir/report/report.md"
exit $status
