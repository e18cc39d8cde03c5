#!/bin/sh
# Writes reports/cuda/requests-<dtype>.jsonl (float16, bfloat16, float32): the adapter requests of
# the attention and grouped_query_attention cases of cases/standard and cases/edge, for
# adapters/pytorch_sdpa/run_offline.sh on a GPU machine. Run from anywhere; GRADSPEC=/path/to/gradspec
# overrides build/cli/gradspec.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/cases.sh"
gradspec=$(find_gradspec "$root")
case $gradspec in /*) ;; *) gradspec=$(pwd)/$gradspec ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gather_cases "$root" "$tmp/cases"
for d in $CUDA_DTYPES; do
    (cd "$tmp" && "$gradspec" run --suite cases --dtype "$d" --emit-requests "$here/requests-$d.jsonl")
done
ls -l "$here"/requests-*.jsonl
