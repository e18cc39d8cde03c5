#!/usr/bin/env bash
# The model-size figures (issue 12), each next to its target and the raw MPFR limit measured in the
# same run on this machine: the encoder-layer generation ratio, gen's memory per value, check of
# 10^7 values, and the GPT-2-small layer projected from the measured ratio. Timings, never asserted:
# read them next to the machine's size (printed first). Wall times are the best of --repeat runs.
#
#   bench/figures.sh [--build DIR] [--repeat N] [--quick] [--gpt2]
#
# The 10^7-value check needs a golden file and a result file of 10^7 values: generated once into
# out/bench/ (about 3 minutes, 3 GB of memory; gen's bytes per value for it are printed then) and
# reused, with ten files of 10^6 for the many-case check; --quick skips those figures. --gpt2 also
# generates the GPT-2-small layer (about 6 minutes, 8 GB, run once); without it that figure is
# projected from the encoder ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build repeat=3 quick=0 gpt2=0
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --gpt2) gpt2=1; shift ;;
    *) echo "usage: bench/figures.sh [--build DIR] [--repeat N] [--quick] [--gpt2]" >&2; exit 2 ;;
  esac
done
gradspec=$build/cli/gradspec bench=$build/bench/gradspec_bench out=out/bench
for f in "$gradspec" "$bench"; do [[ -x $f ]] || { echo "figures: $f missing: build first (scripts/setup.sh)" >&2; exit 2; }; done
mkdir -p "$out"

# best wall seconds and largest RSS (KB) of `repeat` runs of a command
measure() {
  local best="" rss=0
  for ((i = 0; i < repeat; i++)); do
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt" || { cat "$out/stderr.txt" >&2; exit 1; }
    read -r wall kb <"$out/time.txt"
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    if ((kb > rss)); then rss=$kb; fi
  done
  echo "$best $rss"
}
# values in a golden file: inputs, cotangents and expected
count_values() {
  python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))["cases"]
print(sum(len(t["values"]) for k in c for g in ("inputs","cotangents") for t in k.get(g,{}).values())
      + sum(len(t["values"]) for k in c for g in k["expected"].values() for t in g.values()))' "$1"
}
row() { printf '%-44s %16s %16s %22s\n' "$@"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
# the raw rates: the best of three measurements (a busy neighbour only ever slows them down)
raw1=0 rawn=0 threads=1
for _ in 1 2 3; do
  while read -r name rate n; do
    if [[ $name == raw_fma_1 ]] && awk "BEGIN{exit !($rate > $raw1)}"; then raw1=$rate; fi
    if [[ $name == raw_fma_all ]] && awk "BEGIN{exit !($rate > $rawn)}"; then rawn=$rate threads=$n; fi
  done < <("$bench" --raw --bits 128)
done
echo "raw mpfr_fma at 128 bits: $raw1 /s on 1 thread, $rawn /s on $threads"
echo
row "figure" "measured" "target" "raw MPFR limit"

# Encoder layer (T=64, C=256, F=1024, 4 heads) at 128 bits, forward and backward, certified: gen's
# wall time against one evaluation's multiply-adds at the raw mpfr_fma rate on all threads.
madds() { awk -v T="$1" -v C="$2" -v F="$3" 'BEGIN{printf "%.0f", 3 * (4*T*C*C + 2*T*T*C + 2*T*C*F)}'; }
enc_madds=$(madds 64 256 1024)
read -r enc_wall enc_kb < <(measure "$gradspec" gen --op encoder_layer --shape batch=1,seq=64,d_model=256,d_ff=1024 --param heads=4 \
                              --bits 128 --out "$out/encoder.json" --quiet)
enc_raw=$(awk -v m="$enc_madds" -v r="$rawn" 'BEGIN{printf "%.2f", m / r}')
enc_ratio=$(awk -v w="$enc_wall" -v r="$enc_raw" 'BEGIN{printf "%.2f", w / r}')
row "encoder layer gen / raw fma (ratio)" "$enc_ratio ($enc_wall s)" "<= 1.5" "$enc_raw s"

# gen's memory per value: peak RSS over the values the file holds.
read -r ln_wall ln_kb < <(measure "$gradspec" gen --op layer_norm --shape seq=512,d_model=1024 --out "$out/layer_norm.json" --quiet)
ln_values=$(count_values "$out/layer_norm.json")
row "gen layer_norm 512x1024: bytes per value" "$(awk -v k="$ln_kb" -v n="$ln_values" 'BEGIN{printf "%.0f", k*1024/n}') ($ln_wall s)" "<= 150" "-"
enc_values=$(count_values "$out/encoder.json")
row "gen encoder layer: bytes per value" "$(awk -v k="$enc_kb" -v n="$enc_values" 'BEGIN{printf "%.0f", k*1024/n}')" "<= 150" "-"

# check of 10^7 values (softmax 10000x500: 5·10^6 outputs and as many gradients) against the
# float64 reference's results; the limit is reading the two files once (from the page cache).
if ((quick == 0)); then
  golden=$out/softmax_10M.json results=$out/softmax_10M.results.json
  if [[ ! -s $results ]]; then
    echo "figures: generating the 10^7-value golden file and results once (a few minutes)" >&2
    saved_repeat=$repeat repeat=1
    read -r sm_wall sm_kb < <(measure "$gradspec" gen --op softmax --shape seq=10000,n=500 --out "$golden" --quiet)
    repeat=$saved_repeat
    # x, its cotangent, y and dx: 4 x 5·10^6 values
    row "gen softmax 10000x500: bytes per value" "$(awk -v k="$sm_kb" 'BEGIN{printf "%.0f", k*1024/2e7}') ($sm_wall s)" "<= 150" "-"
    "$gradspec" run --suite "$golden" --builtin reference-f64 --results "$results" --quiet
  else
    row "gen softmax 10000x500: bytes per value" "(cached: rm $results)" "<= 150" "-"
  fi
  read -r check_wall check_kb < <(measure "$gradspec" check --cases "$golden" --results "$results" --quiet)
  read -r cat_wall _ < <(measure cat "$golden" "$results")
  row "check of 10^7 values" "$check_wall s, $((check_kb / 1024)) MB" "<= 5 s" "read: $cat_wall s"

  # The same 10^7 values as ten cases of 10^6 (ten files in a folder): memory is one case's, not
  # the folder's (each case's inputs and expected values are read when it is judged).
  many=$out/softmax_10x1M many_results=$out/softmax_10x1M.results.json
  if [[ ! -s $many_results ]]; then
    echo "figures: generating ten 10^6-value golden files and their results once (about a minute)" >&2
    mkdir -p "$many"
    for i in 0 1 2 3 4 5 6 7 8 9; do "$gradspec" gen --op softmax --shape seq=$((1000 + i)),n=500 --out "$many/softmax_$i.json" --quiet; done
    "$gradspec" run --suite "$many" --builtin reference-f64 --results "$many_results" --quiet
  fi
  read -r many_wall many_kb < <(measure "$gradspec" check --cases "$many" --results "$many_results" --quiet)
  row "check of 10 cases of 10^6 values" "$many_wall s, $((many_kb / 1024)) MB" "one case's" "10^7 in one: $((check_kb / 1024)) MB"
fi

# GPT-2 small (T=1024, C=768, 12 heads, F=3072, pre-LN, GELU), forward and backward, 128 bits,
# certified: one evaluation's multiply-adds at the raw rate, and gen's time, run once with --gpt2
# (intermediates left out), projected with the encoder ratio measured above otherwise.
gpt_madds=$(madds 1024 768 3072)
gpt_raw=$(awk -v m="$gpt_madds" -v r="$rawn" 'BEGIN{printf "%.0f", m / r}')
gpt_raw_min=$(awk -v s="$gpt_raw" 'BEGIN{printf "%.1f min", s / 60}')
if ((gpt2)); then
  saved_repeat=$repeat repeat=1
  read -r gpt_wall gpt_kb < <(measure "$gradspec" gen --op encoder_layer --shape batch=1,seq=1024,d_model=768,d_ff=3072 \
                                --param heads=12,norm_first=true,activation=gelu --bits 128 --no-intermediates \
                                --out "$out/gpt2_layer.json" --quiet)
  repeat=$saved_repeat
  gpt_digits=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cases"][0]["certified_digits"])' "$out/gpt2_layer.json")
  rm -f "$out/gpt2_layer.json"
  row "GPT-2 small layer gen" "$(awk -v s="$gpt_wall" 'BEGIN{printf "%.1f min", s/60}'), $(awk -v k="$gpt_kb" 'BEGIN{printf "%.2f GiB", k/1048576}'), $gpt_digits digits" \
      "<= 10 min, 8 GB" "$gpt_raw_min"
else
  row "GPT-2 small layer gen (projected; --gpt2 runs it)" "$(awk -v s="$gpt_raw" -v q="$enc_ratio" 'BEGIN{printf "%.1f min", s*q/60}')" "<= 10 min" "$gpt_raw_min"
fi
