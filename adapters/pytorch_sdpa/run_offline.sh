#!/bin/sh
# The one command to run on the GPU machine (a checkout of this repository, python3 with PyTorch
# >= 2.3 built with CUDA, and numpy; no build of gradspec):
#
#     adapters/pytorch_sdpa/run_offline.sh
#
# For each backend (flash efficient cudnn math) and dtype (float16 bfloat16 float32) it answers
# reports/cuda/requests-<dtype>.jsonl with gradspec_sdpa_adapter.py under
# GRADSPEC_SDPA_BACKEND=<backend>, writing reports/cuda/responses-<backend>-<dtype>.jsonl (the
# adapter's stdout as is) and log-<backend>-<dtype>.txt (its stderr), plus environment.txt.
# Copy those files back into reports/cuda/ of the checkout that has gradspec and run
# reports/cuda/check_here.sh there.
#
# Environment: PYTHON (default python3), BACKENDS and DTYPES (space-separated subsets),
# OUT (where the responses go; default reports/cuda), GRADSPEC_SDPA_GQA (see the adapter).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
requests=$root/reports/cuda
out=${OUT:-$requests}
python=${PYTHON:-python3}
backends=${BACKENDS:-flash efficient cudnn math}
dtypes=${DTYPES:-float16 bfloat16 float32}
mkdir -p "$out"

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    uname -a
    "$python" -c 'import sys, torch, numpy
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None, "numpy", numpy.__version__)
print("gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")' 2>&1
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    else
        echo "nvidia-smi: not found"
    fi
} > "$out/environment.txt"
cat "$out/environment.txt"

status=0
written=""
for b in $backends; do
    for d in $dtypes; do
        req=$requests/requests-$d.jsonl
        res=$out/responses-$b-$d.jsonl
        log=$out/log-$b-$d.txt
        if [ ! -f "$req" ]; then
            echo "missing $req (make it with reports/cuda/make_requests.sh where gradspec is built)" >&2
            status=1
            continue
        fi
        start=$(date +%s)
        if GRADSPEC_SDPA_BACKEND=$b "$python" "$here/gradspec_sdpa_adapter.py" < "$req" > "$res" 2> "$log"; then
            n=$(grep -c '"id"' "$res")
            u=$(grep -c '"error":"unsupported' "$res")
            e=$(grep '"error":"' "$res" | grep -vc '"error":"unsupported')
            echo "$b $d: $n answers ($u unsupported, $e errors) in $(( $(date +%s) - start )) s -> $res"
            written="$written $res $log"
        else
            echo "$b $d: the adapter failed, see $log:" >&2
            tail -n 5 "$log" >&2
            rm -f "$res"
            status=1
        fi
    done
done

echo
if [ -n "$written" ]; then
    echo "Copy these files back into reports/cuda/ of the checkout that has gradspec, then run reports/cuda/check_here.sh there:"
    echo "  $out/environment.txt"
    for f in $written; do echo "  $f"; done
    echo "e.g.: tar czf sdpa-responses.tar.gz -C $out environment.txt \$(cd $out && ls responses-*.jsonl log-*.txt)"
fi
exit $status
