# Sourced by make_requests.sh and check_here.sh: the golden case files the CUDA SDPA requests are
# made from and checked against (attention and grouped_query_attention of cases/standard and
# cases/edge), and a function that gathers them into one folder for `gradspec run --suite` and
# `gradspec check --cases` (each takes one file or one folder; subfolders keep the two attention.json
# apart).
CUDA_CASE_FILES="standard/attention.json standard/grouped_query_attention.json edge/attention.json edge/grouped_query_attention.json"
CUDA_DTYPES="float16 bfloat16 float32"

# gather_cases REPO_ROOT DIR: copy the case files into DIR/standard, DIR/edge.
gather_cases() {
    for f in $CUDA_CASE_FILES; do
        mkdir -p "$2/$(dirname "$f")" && cp "$1/cases/$f" "$2/$f" || return 1
    done
}

# The gradspec binary: $GRADSPEC, else build/cli/gradspec of the checkout.
find_gradspec() {
    g=${GRADSPEC:-$1/build/cli/gradspec}
    if [ ! -x "$g" ]; then
        echo "$0: no gradspec at $g (build it, or set GRADSPEC=/path/to/gradspec)" >&2
        return 1
    fi
    echo "$g"
}
